"""Logging: one line per record, JSON in production, readable locally."""

from __future__ import annotations

import logging
import sys

import structlog

from services.common.config import get_settings


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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for noisy in ("amqp", "kombu", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Nameko logs every expected (typed) error with a traceback at WARNING; they are answers,
    # not faults. Unexpected errors are still logged at ERROR.
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)
    structlog.contextvars.bind_contextvars(component=component)
