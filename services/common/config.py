"""Settings from the environment, with defaults that run the whole stack on one machine.

In production (``PRM_ENV=production``) the signing keys and the key that seals stored
secrets must be given, and a placeholder (a value of the repository's example files, or
one anybody could guess) is refused; locally they are generated once into ``var/keys/``
(readable by their owner only) so that every process of the stack shares them.

The notify service's own settings (SMTP, webhook targets, its delivery loop) are
``NotifySettings``, read by ``load_notify_settings``.
"""

from __future__ import annotations

import os
import re
import secrets
import ssl
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit


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


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number of 0 or more, got {raw!r}")
    return int(raw)


#: What the example files and old defaults put where a key goes: such a value is public.
_PLACEHOLDER = re.compile(
    r"change-?me|dev-only|insecure|example|placeholder|secret-key|openssl|<|>|\s", re.I
)
#: A random key of 32 characters or more has many more distinct characters than this;
#: "kkkk...", "abab..." have fewer.
_MIN_DISTINCT = 5


def is_placeholder(value: str) -> bool:
    """Whether ``value`` reads like a placeholder rather than a random key."""
    return bool(_PLACEHOLDER.search(value)) or len(set(value)) < _MIN_DISTINCT


def local_secret(name: str) -> str:
    """A random secret kept in ``var/keys/<name>``, made on first use; the directory is
    readable by its owner only (0700), the file too (0600)."""
    keys = var_dir() / "keys"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys.chmod(0o700)  # also when an older run made it with the umask's mode
    path = keys / name
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(48))
        # Another process may have won the race; keep whichever landed first.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    path.chmod(0o600)
    return path.read_text().strip()


def _key(name: str, production: bool) -> str:
    value = os.environ.get(name)
    if value:
        if len(value) < 32:
            raise ConfigError(f"{name} must be at least 32 characters")
        ring = [key.strip() for key in value.split(",") if key.strip()]
        if production and any(is_placeholder(key) for key in ring):
            raise ConfigError(
                f"{name} is a placeholder; give a random key (e.g. openssl rand -hex 32)"
            )
        return value
    if production:
        raise ConfigError(f"{name} is required when PRM_ENV=production")
    return local_secret(name.lower())


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
    caller_cache_ttl: float
    event_max_attempts: int
    event_retry_limit: float
    outbox_interval: float
    timer_interval: float
    idempotency_keep: float
    login_failures_per_user: int
    login_backoff: float
    login_backoff_max: float
    login_failures_per_account: int
    login_failures_per_address: int
    login_known_address_keep: float
    trusted_proxies: int
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
            # TLS options of every connection Nameko opens (consumers, publishers, proxies)
            "AMQP_SSL": amqp_ssl(self.amqp_uri),
        }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ.get("PRM_ENV", "development")
    production = env == "production"
    return Settings(
        env=env,
        amqp_uri=broker_settings().uri,
        rpc_timeout=_float("RPC_TIMEOUT", 10.0),
        jwt_secret=_key("PRM_JWT_SECRET", production),
        internal_key=_key("PRM_INTERNAL_KEY", production),
        access_token_ttl=_int("PRM_ACCESS_TOKEN_TTL", 900),
        refresh_token_ttl=_int("PRM_REFRESH_TOKEN_TTL", 14 * 24 * 3600),
        caller_token_ttl=_int("PRM_CALLER_TOKEN_TTL", 300),
        # How long (seconds) a gateway worker keeps a resolved caller while partners'
        # events say nothing changed (gateway/callers.py); 0: resolve every request.
        caller_cache_ttl=_float("PRM_CALLER_CACHE_TTL", 60.0),
        event_max_attempts=_int("PRM_EVENT_MAX_ATTEMPTS", 5),
        event_retry_limit=_float("PRM_EVENT_RETRY_LIMIT", 86400.0),
        outbox_interval=_float("PRM_OUTBOX_INTERVAL", 1.0),
        timer_interval=_float("PRM_TIMER_INTERVAL", 60.0),
        idempotency_keep=_float("PRM_IDEMPOTENCY_KEEP", 86400.0),
        # Sign-in: failures of one account from one address before it waits, the first
        # wait (seconds; doubled by each further failure) and the longest; then the guards
        # on one account from every address and on one address against every account, per
        # 15 minutes. See services/partners/signin.py and rules.backoff.
        login_failures_per_user=_int("PRM_LOGIN_FAILURES_PER_USER", 5),
        login_backoff=_float("PRM_LOGIN_BACKOFF", 30.0),
        login_backoff_max=_float("PRM_LOGIN_BACKOFF_MAX", 900.0),
        login_failures_per_account=_int("PRM_LOGIN_FAILURES_PER_ACCOUNT", 100),
        login_failures_per_address=_int("PRM_LOGIN_FAILURES_PER_ADDRESS", 100),
        # How long (seconds) an address an account signed in from stays known to it: the
        # guards spare a sign-in from there.
        login_known_address_keep=_float("PRM_LOGIN_KNOWN_ADDRESS_KEEP", 90 * 86400.0),
        # How many proxies in front of the gateway append to X-Forwarded-For (an ingress,
        # nginx): the client's address is read that many hops from the right. 0: none, the
        # peer's address is the client's and X-Forwarded-For is ignored.
        trusted_proxies=_count("PRM_TRUSTED_PROXIES", 0),
        log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
    )


@lru_cache(maxsize=1)
def get_secrets_keys() -> tuple[str, ...]:
    """``PRM_SECRETS_KEY``, the ring that seals stored secrets (services/common/sealing.py).

    Read apart from :func:`get_settings`, by the processes that store secrets or personal
    data only (notify, filing, partners and the migrations), so that no other process needs
    the key."""
    return _key_ring("PRM_SECRETS_KEY", get_settings().production)


# -- the broker: each process's own login ---------------------------------------------------
# AMQP_URI names the broker and the login of the operator's commands (manage.py migrate,
# parked, broker apply); a process that has a login of its own (PRM_BROKER_USER and
# PRM_BROKER_PASSWORD, or PRM_BROKER_PASSWORD_FILE, set by the launcher) connects to the
# same broker with it. With
# PRM_BROKER_USER_PREFIX set, the events of service S are expected from the user
# <prefix>S (services/common/broker.py); unset, every process shares AMQP_URI's login and
# every event is expected from that login's user.

DEFAULT_AMQP_URI = "amqp://guest:guest@localhost:5672/"


def broker_uris(uri: str) -> list[str]:
    """The nodes an AMQP URI names: one, or several separated by ``;`` (the nodes of one
    cluster, the same login and virtual host on each: a connection fails over to the next
    when its node is lost, as kombu does)."""
    return [part.strip() for part in uri.split(";") if part.strip()] or [uri]


def uri_user(uri: str) -> str:
    """The user name an AMQP URI logs in with (kombu's default, guest, when it names none)."""
    return unquote(urlsplit(broker_uris(uri)[0]).username or "") or "guest"


def with_login(uri: str, user: str, password: str) -> str:
    """``uri`` logging in as ``user`` with ``password`` (both URL-encoded into it), on
    each of its nodes."""
    login = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return ";".join(
        urlunsplit(parts._replace(netloc=f"{login}@{parts.netloc.rpartition('@')[2]}"))
        for parts in map(urlsplit, broker_uris(uri))
    )


@dataclass(frozen=True)
class BrokerSettings:
    #: What this process connects with.
    uri: str
    #: Its user name on the broker (the ``user_id`` of what it publishes).
    user: str
    #: ``PRM_BROKER_USER_PREFIX``: one user per process, named <prefix><process>; None
    #: when every process shares one login.
    user_prefix: str | None
    #: The login of the operator's commands (``PRM_BROKER_OPERATOR_USER``, else AMQP_URI's
    #: user when the process has a login of its own): ``manage.py parked replay`` sends
    #: events back as this user, vouching for the sender recorded when they were parked.
    operator_user: str | None


def broker_settings() -> BrokerSettings:
    base = os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI
    user = os.environ.get("PRM_BROKER_USER") or ""
    password = os.environ.get("PRM_BROKER_PASSWORD") or ""
    password_file = os.environ.get("PRM_BROKER_PASSWORD_FILE")
    if password_file and not password:
        try:
            password = Path(password_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"PRM_BROKER_PASSWORD_FILE cannot be read: {exc}") from exc
    if bool(user) != bool(password):
        raise ConfigError("PRM_BROKER_USER and PRM_BROKER_PASSWORD go together")
    uri = with_login(base, user, password) if user else base
    prefix = os.environ.get("PRM_BROKER_USER_PREFIX") or None
    operator = os.environ.get("PRM_BROKER_OPERATOR_USER") or (uri_user(base) if user else None)
    amqp_ssl(uri)  # a TLS setting that cannot work stops the process at start
    return BrokerSettings(uri, uri_user(uri), prefix, operator)


def amqp_ssl(uri: str) -> dict[str, Any] | None:
    """The TLS options of every connection to the broker of ``uri`` (kombu's ``ssl``,
    Nameko's ``AMQP_SSL``): None for ``amqp://`` (no TLS); for ``amqps://``, the broker's
    certificate must chain to a trusted CA and name the host the URI names.

    The CAs are ``PRM_AMQP_CA_FILE``, else ``SSL_CERT_FILE``, else the system's. Without
    these options kombu turns ``amqps://`` into ``ssl=True``, and py-amqp then checks the
    chain but not the name: any certificate the CA signed, for any host, would do."""
    parts = urlsplit(uri)
    if any(key.startswith("ssl") for key, _ in parse_qsl(parts.query)):
        raise ConfigError("AMQP_URI takes no TLS options in its query; see PRM_AMQP_CA_FILE")
    if parts.scheme != "amqps":
        return None
    if ";" in uri:
        raise ConfigError("AMQP_URI names one broker with amqps://, not a list")
    ca_file = os.environ.get("PRM_AMQP_CA_FILE") or os.environ.get("SSL_CERT_FILE") or None
    if ca_file is not None and not os.access(ca_file, os.R_OK):
        raise ConfigError(f"the CA file of the broker's certificate cannot be read: {ca_file}")
    # kombu connects to 127.0.0.1 for "localhost" but the name checked stays this one.
    options: dict[str, Any] = {
        "server_hostname": parts.hostname or "localhost",
        "cert_reqs": ssl.CERT_REQUIRED,
    }
    if ca_file is not None:
        options["ca_certs"] = ca_file
    return options


# -- the notify service's settings ------------------------------------------------------------
# Not cached: a channel is checked against the settings in force when it is registered, and
# the delivery loop reads them when it starts.

SMTP_TLS_MODES = ("starttls", "ssl", "none")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _number(name: str, default: float, minimum: float = 0.0) -> float:
    """``name`` as a number of at least ``minimum``; ``default`` when unset or empty."""
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
    """``name`` as true or false; ``default`` when unset."""
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
    """How the notify service sends: SMTP, webhook targets, and its delivery loop."""

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
        """Whether e-mail can be sent (``PRM_SMTP_HOST`` is set)."""
        return bool(self.smtp_host)

    @property
    def send_limit(self) -> float:
        """The most one send may take, all in: socket timeouts do not bound a target that
        trickles bytes."""
        return 3 * self.delivery_timeout + 1


def load_notify_settings() -> NotifySettings:
    """The notify service's settings from the environment, read afresh at each call;
    ``ConfigError`` for a malformed value."""
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
