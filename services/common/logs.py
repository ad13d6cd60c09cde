"""Logging: one line per record, JSON in production, readable locally."""

from __future__ import annotations

import logging
import re
import sys

import structlog

from services.common.config import get_settings

#: The password of a URI's login: ``scheme://user:PASSWORD@host``.
_URI_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s;]*:)[^@\s;]+@", re.IGNORECASE)


def mask_uri_passwords(text: str) -> str:
    """``text`` with the password of every URI in it masked (``user:********@host``)."""
    return _URI_PASSWORD.sub(r"\g<head>********@", text)


class MaskPasswords(logging.Filter):
    """Masks the password of every URI in a record's message. Libraries
    mask what they know to: kombu's ``sanitize_url``, which Nameko logs a broker URI
    through, masks the first node of an ``AMQP_URI`` that names several (``;``) and shows
    the others' passwords in clear."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_uri_passwords(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(component: str) -> None:
    settings = get_settings()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.production
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    handler.addFilter(MaskPasswords())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for noisy in ("amqp", "kombu", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Nameko logs every expected (typed) error with a traceback at WARNING; they are answers,
    # not faults. Unexpected errors are still logged at ERROR.
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)
    structlog.contextvars.bind_contextvars(component=component)
