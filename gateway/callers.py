"""Resolved callers, kept per gateway worker while partners' events say they still hold.

Resolving a caller (``partners.get_caller``: the user's roles, permissions, partner and
data scope) was one RPC in front of every request. Each worker now keeps what it resolved
(``CallerCache``) and learns of every change from partners' events on a queue of its own
(``ChangeListener``):

- ``user_changed`` forgets that user (roles, activity, password: a new token version);
  every other kind in ``CALLER_CHANGES`` (a partner suspended, activated, terminated,
  created or changed, a territory or parent, a role's permissions) forgets every caller,
  since it may change the scope or the rights of many users.
- While the listener is not connected and consuming, nothing is kept and nothing is
  served from the cache: every request resolves as before (never stale rights). When it
  connects again, everything kept before is forgotten (events may have been missed).
- An answer that was on its way while a change arrived is not kept (``generation``).
- Entries also expire (``PRM_CALLER_CACHE_TTL`` seconds; 0 turns the cache off).
- A change made through this worker (``fence``): its answer leaves once this worker's
  listener has seen an event after it (at most ``FENCE_WAIT`` seconds), so the client that
  waits for the answer finds no worker serving the old rights: every worker's queue gets
  the event at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kombu import Connection, Consumer, Exchange, Queue, binding

from gateway.metrics import CALLERS
from services.common import broker
from services.common.config import amqp_ssl
from services.partners import events as partner_events

log = logging.getLogger(__name__)

SOURCE = "partners"
#: partners' event kinds after which a resolved caller may be wrong.
CALLER_CHANGES = partner_events.CALLER_CHANGES
#: The partners calls that change who a caller is: the gateway fences them (above).
FENCED_CALLS = frozenset(
    {
        "create_partner",
        "update_partner",
        "set_territory",
        "suspend_partner",
        "activate_partner",
        "terminate_partner",
        "update_user",
        "update_role",
        "change_own_password",
    }
)
#: The longest a fenced change's answer waits for its event.
FENCE_WAIT = 1.0
#: Kept callers per worker: the oldest go first beyond it.
MAX_ENTRIES = 10_000

Key = tuple[int, int]


class CallerCache:
    """The profiles ``partners.get_caller`` answered, by (user id, token version)."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._lock = threading.Condition()
        self._entries: dict[Key, tuple[float, dict]] = {}
        self._online = False
        #: Moves on at every change, connection and disconnection: an answer resolved
        #: under an older generation is not kept.
        self._generation = 0
        #: Events seen since the process started (``fence`` waits for the next one).
        self.events_seen = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    @property
    def online(self) -> bool:
        return self._online

    def get(self, key: Key) -> dict | None:
        """The kept profile of ``key``, or None (offline, absent or expired)."""
        if not self._online:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            with self._lock:
                self._entries.pop(key, None)
            return None
        return entry[1]

    def generation(self) -> int | None:
        """What ``put`` needs to keep an answer resolved from now on; None when nothing
        may be kept (offline, or the cache is off)."""
        return self._generation if self._online and self.enabled else None

    def put(self, key: Key, profile: dict, generation: int | None) -> None:
        """Keep ``profile``, unless anything changed since ``generation`` was read."""
        if generation is None:
            return
        with self._lock:
            if not self._online or generation != self._generation:
                return
            self._entries.pop(key, None)
            while len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (time.monotonic() + self.ttl, profile)

    def forget_user(self, user_id: int) -> None:
        with self._lock:
            self._generation += 1
            for key in [key for key in self._entries if key[0] == user_id]:
                del self._entries[key]

    def forget_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def changed(self, kind: str, data: Any) -> None:
        """An event of ``kind`` arrived: forget whom it may concern."""
        user_id = data.get("id") if isinstance(data, dict) else None
        if kind == partner_events.USER_CHANGED and type(user_id) is int:
            self.forget_user(user_id)
        else:
            self.forget_all()
        with self._lock:
            self.events_seen += 1
            self._lock.notify_all()

    def set_online(self, online: bool) -> None:
        """The listener connected (consuming) or lost its connection: forget everything."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._online = online
            self._lock.notify_all()

    def wait_for_event(self, seen: int, timeout: float) -> bool:
        """Wait until an event after the ``seen``-th has arrived (or the listener went
        offline, which serves nothing from the cache); False after ``timeout`` seconds."""
        with self._lock:
            return self._lock.wait_for(
                lambda: self.events_seen > seen or not self._online, timeout=timeout
            )

    def __len__(self) -> int:
        return len(self._entries)


class ChangeListener:
    """A thread of the worker consuming partners' ``CALLER_CHANGES`` into ``cache``, on an
    exclusive queue of its own (``gateway.listen-<uuid>``, the broker user's grant in
    services/common/broker.py); it reconnects while the process lives."""

    def __init__(
        self,
        amqp_uri: str,
        cache: CallerCache,
        heartbeat: float = 10.0,
        retry_wait: float = 1.0,
        connect_timeout: float = 3.0,
    ) -> None:
        self.amqp_uri = amqp_uri
        self.cache = cache
        self.heartbeat = heartbeat
        self.retry_wait = retry_wait
        self.connect_timeout = connect_timeout
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._connection: Connection | None = None

    def start(self) -> None:
        """Start the thread once per process (a forked worker starts its own)."""
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopped.clear()
            self._thread = threading.Thread(
                target=self._run, name="prm-caller-changes", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.release()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _on_event(self, body: Any, message: Any) -> None:
        kind = body.get("type") if isinstance(body, dict) else None
        # Any kind is taken as a change (the binding admits only CALLER_CHANGES): at worst
        # a caller is resolved again.
        self.cache.changed(str(kind), body.get("data") if isinstance(body, dict) else None)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._consume()
            except Exception as exc:  # the broker went away: bypass, then connect again
                if not self._stopped.is_set():
                    log.warning("caller changes: not connected (%s); resolving every call", exc)
            finally:
                self.cache.set_online(False)
            self._stopped.wait(self.retry_wait)

    def _consume(self) -> None:
        connection = Connection(
            self.amqp_uri,
            heartbeat=self.heartbeat,
            connect_timeout=self.connect_timeout,
            ssl=amqp_ssl(self.amqp_uri),
        )
        self._connection = connection
        try:
            connection.ensure_connection(max_retries=1, timeout=self.connect_timeout)
            channel = connection.channel()
            exchange = broker.referred(
                Exchange(broker.events_exchange(SOURCE), type="topic", durable=True)
            )
            queue = Queue(
                f"{broker.LISTEN_QUEUE_PREFIX}{uuid.uuid4()}",
                bindings=[binding(exchange, routing_key=kind) for kind in CALLER_CHANGES],
                exclusive=True,
                auto_delete=True,
            )
            with Consumer(
                channel, queues=[queue], callbacks=[self._on_event], no_ack=True, accept=["json"]
            ):
                # Bound and consuming: from here on no change is missed.
                self.cache.set_online(True)
                log.info("caller changes: listening")
                while not self._stopped.is_set():
                    with contextlib.suppress(TimeoutError):
                        connection.drain_events(timeout=1.0)
                    connection.heartbeat_check()
        finally:
            self._connection = None
            with contextlib.suppress(Exception):
                connection.release()


class Callers:
    """The worker's cache and listener; the listener starts on first use."""

    def __init__(self, amqp_uri: str, ttl: float) -> None:
        self.cache = CallerCache(ttl)
        self.listener = ChangeListener(amqp_uri, self.cache) if ttl > 0 else None

    def resolve(self, key: Key, resolve: Callable[[], dict]) -> dict:
        """The profile of ``key``: kept, or resolved by ``resolve`` (and kept if nothing
        changed meanwhile)."""
        if self.listener is None:
            return resolve()
        self.listener.start()
        profile = self.cache.get(key)
        if profile is not None:
            CALLERS.labels("hit").inc()
            return profile
        generation = self.cache.generation()
        CALLERS.labels("bypass" if generation is None else "resolved").inc()
        profile = resolve()
        self.cache.put(key, profile, generation)
        return profile

    @contextlib.contextmanager
    def fence(self, service: str, method: str) -> Any:
        """Around a call that may change callers: forget, and let the answer go once this
        worker has seen the change's event (at most ``FENCE_WAIT`` seconds)."""
        if self.listener is None or service != SOURCE or method not in FENCED_CALLS:
            yield
            return
        seen = self.cache.events_seen
        try:
            yield
        finally:
            self.cache.forget_all()
        if self.cache.online:
            self.cache.wait_for_event(seen, FENCE_WAIT)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
