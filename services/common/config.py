"""Settings from the environment, with defaults that run the whole stack on one machine.

In production (``PRM_ENV=production``) the signing keys and the key that seals stored
secrets must be given; locally they are generated once into ``var/keys/`` so that every
process of the stack shares them.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the process cannot start."""


def var_dir() -> Path:
    """Where local state lives (SQLite files, generated keys)."""
    path = Path(os.environ.get("PRM_VAR_DIR", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _int(name: str, default: int) -> int:
    return int(_float(name, default))


def _key(name: str, production: bool) -> str:
    value = os.environ.get(name)
    if value:
        if len(value) < 32:
            raise ConfigError(f"{name} must be at least 32 characters")
        return value
    if production:
        raise ConfigError(f"{name} is required when PRM_ENV=production")
    path = var_dir() / "keys" / name.lower()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        # Another process may have won the race; keep whichever landed first.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _key_ring(name: str, production: bool) -> tuple[str, ...]:
    """One key or several separated by commas (the newest first), each of 32 characters
    or more: what lets a key be replaced without losing what the old one sealed."""
    keys = tuple(key.strip() for key in _key(name, production).split(",") if key.strip())
    if not keys or any(len(key) < 32 for key in keys):
        raise ConfigError(f"{name}: every key must be at least 32 characters")
    return keys


@dataclass(frozen=True)
class Settings:
    env: str
    amqp_uri: str
    rpc_timeout: float
    jwt_secret: str
    internal_key: str
    access_token_ttl: int
    refresh_token_ttl: int
    caller_token_ttl: int
    event_max_attempts: int
    event_retry_limit: float
    outbox_interval: float
    timer_interval: float
    idempotency_keep: float
    login_failures_per_user: int
    login_failures_per_address: int
    log_level: str

    @property
    def production(self) -> bool:
        return self.env == "production"

    def database_url(self, service: str) -> str:
        """``<SERVICE>_DATABASE_URL``, or a SQLite file under var/ for local runs."""
        url = os.environ.get(f"{service.upper()}_DATABASE_URL")
        if url:
            return url
        if self.production:
            raise ConfigError(f"{service.upper()}_DATABASE_URL is required in production")
        return f"sqlite:///{var_dir() / f'{service}.db'}"

    def nameko_config(self) -> dict:
        return {
            "AMQP_URI": self.amqp_uri,
            "max_workers": _int("PRM_MAX_WORKERS", 10),
            "serializer": "json",
            "RPC_TIMEOUT": self.rpc_timeout,
            "EVENT_MAX_ATTEMPTS": self.event_max_attempts,
            "EVENT_RETRY_LIMIT": self.event_retry_limit,
            "OUTBOX_INTERVAL": self.outbox_interval,
        }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ.get("PRM_ENV", "development")
    production = env == "production"
    return Settings(
        env=env,
        amqp_uri=os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"),
        rpc_timeout=_float("RPC_TIMEOUT", 10.0),
        jwt_secret=_key("PRM_JWT_SECRET", production),
        internal_key=_key("PRM_INTERNAL_KEY", production),
        access_token_ttl=_int("PRM_ACCESS_TOKEN_TTL", 900),
        refresh_token_ttl=_int("PRM_REFRESH_TOKEN_TTL", 14 * 24 * 3600),
        caller_token_ttl=_int("PRM_CALLER_TOKEN_TTL", 300),
        event_max_attempts=_int("PRM_EVENT_MAX_ATTEMPTS", 5),
        event_retry_limit=_float("PRM_EVENT_RETRY_LIMIT", 86400.0),
        outbox_interval=_float("PRM_OUTBOX_INTERVAL", 1.0),
        timer_interval=_float("PRM_TIMER_INTERVAL", 60.0),
        idempotency_keep=_float("PRM_IDEMPOTENCY_KEEP", 86400.0),
        login_failures_per_user=_int("PRM_LOGIN_FAILURES_PER_USER", 5),
        login_failures_per_address=_int("PRM_LOGIN_FAILURES_PER_ADDRESS", 30),
        log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
    )


@lru_cache(maxsize=1)
def get_secrets_keys() -> tuple[str, ...]:
    """``PRM_SECRETS_KEY``, the ring that seals stored secrets (services/common/sealing.py).

    Read apart from :func:`get_settings`, by the processes that store secrets only (notify
    and the migrations), so that no other process needs the key."""
    return _key_ring("PRM_SECRETS_KEY", get_settings().production)
