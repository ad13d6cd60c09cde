"""Logging: one line per record, JSON in production, readable locally."""

from __future__ import annotations

import logging
import re
import sys

import structlog

from services.common.config import get_settings

#: The password of a broker's, database's or mail server's URI: ``scheme://user:PASSWORD@``
#: up to the last ``@`` before a space or ``;`` (kombu logs passwords URL-decoded, so they
#: may hold ``/`` or ``@``). Web addresses are left alone: a path may hold an ``@``.
_URI_PASSWORD = re.compile(
    r"(?P<head>\b(?:amqps?|postgres(?:ql)?(?:\+[a-z0-9]+)?|rediss?|smtps?|mysql(?:\+[a-z0-9]+)?)"
    r"://[^:/?#@\s;]*:)[^\s;]+@",
    re.IGNORECASE,
)


def mask_uri_passwords(text: str) -> str:
    """``text`` with the password of every URI in it masked (``user:********@host``)."""
    return _URI_PASSWORD.sub(r"\g<head>********@", text)


class MaskingHandler(logging.StreamHandler):
    """Writes each line with the password of every URI in it masked, tracebacks included.
    Libraries mask what they know to: kombu's ``sanitize_url``, through which Nameko logs a
    broker URI, masks the first node of an ``AMQP_URI`` that names several (``;``) and
    shows the others' passwords in clear."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_uri_passwords(super().format(record))


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
    handler = MaskingHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for noisy in ("amqp", "kombu", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Nameko logs every expected (typed) error with a traceback at WARNING; they are answers,
    # not faults. Unexpected errors are still logged at ERROR.
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)
    structlog.contextvars.bind_contextvars(component=component)
