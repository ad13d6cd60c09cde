"""Settings of the notify service, read from the environment when they are needed.

They are not cached: a channel is checked against the settings in force when it is
registered, and the delivery loop reads them when it starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from services.common.config import ConfigError

SMTP_TLS_MODES = ("starttls", "ssl", "none")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _number(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _tls_mode(raw: str | None) -> str:
    """``PRM_SMTP_TLS``: ``starttls`` (or true), ``ssl`` (implicit TLS), ``none`` (or false)."""
    value = (raw or "starttls").strip().lower()
    if value in _TRUE:
        return "starttls"
    if value in _FALSE or value == "none":
        return "none"
    if value not in SMTP_TLS_MODES:
        raise ConfigError(f"PRM_SMTP_TLS must be one of starttls, ssl, none; got {raw!r}")
    return value


@dataclass(frozen=True)
class NotifySettings:
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "prm@localhost"
    #: Webhooks may target loopback, private, link-local and reserved addresses (tests,
    #: on-premise installations); off by default so the server is not turned on its own
    #: network.
    webhook_allow_private: bool = False
    #: Seconds between sweeps of the delivery loop (it is also woken after each event).
    delivery_interval: float = 1.0
    #: Seconds a webhook or SMTP exchange may take; one slow target never holds others.
    delivery_timeout: float = 5.0
    #: Back-off after the n-th failed attempt: retry_base * 2**(n-1), at most retry_max.
    retry_base: float = 30.0
    retry_max: float = 3600.0
    max_attempts: int = 8
    #: A channel failing this many attempts in a row is disabled and its owner told.
    channel_max_failures: int = 10
    #: Deliveries sent at once by one replica, and at once to one channel.
    concurrency: int = 10
    per_channel: int = 1
    #: A claimed delivery is not claimed again for this long (a replica that died while
    #: sending leaves it to be retried after the lease).
    lease: float = 120.0

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def send_limit(self) -> float:
        """The most one send may take, all in: socket timeouts do not bound a target that
        trickles bytes."""
        return 3 * self.delivery_timeout + 1


def load_settings() -> NotifySettings:
    timeout = _number("PRM_DELIVERY_TIMEOUT", 5.0, 0.1)
    default_port = {"ssl": 465, "none": 25}.get(_tls_mode(os.environ.get("PRM_SMTP_TLS")), 587)
    return NotifySettings(
        smtp_host=os.environ.get("PRM_SMTP_HOST") or None,
        smtp_port=int(_number("PRM_SMTP_PORT", default_port, 1)),
        smtp_tls=_tls_mode(os.environ.get("PRM_SMTP_TLS")),
        smtp_user=os.environ.get("PRM_SMTP_USER") or None,
        smtp_password=os.environ.get("PRM_SMTP_PASSWORD") or None,
        smtp_from=os.environ.get("PRM_SMTP_FROM") or "prm@localhost",
        webhook_allow_private=_flag("PRM_WEBHOOK_ALLOW_PRIVATE", False),
        delivery_interval=_number("PRM_DELIVERY_INTERVAL", 1.0, 0.01),
        delivery_timeout=timeout,
        retry_base=_number("PRM_DELIVERY_RETRY_BASE", 30.0, 0.0),
        retry_max=_number("PRM_DELIVERY_RETRY_MAX", 3600.0, 0.0),
        max_attempts=int(_number("PRM_DELIVERY_MAX_ATTEMPTS", 8, 1)),
        channel_max_failures=int(_number("PRM_CHANNEL_MAX_FAILURES", 10, 1)),
        concurrency=int(_number("PRM_DELIVERY_CONCURRENCY", 10, 1)),
        per_channel=int(_number("PRM_DELIVERY_PER_CHANNEL", 1, 1)),
        # A claim must outlast the longest send, or a second replica could send it too.
        lease=max(_number("PRM_DELIVERY_LEASE", 120.0, 1.0), 3 * timeout + 6),
    )
