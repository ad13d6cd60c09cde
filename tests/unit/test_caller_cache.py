"""The gateway's kept callers (gateway/callers.py): what is kept, what a change or a lost
connection forgets, and that an answer resolved across a change is not kept."""

from __future__ import annotations

import threading
import time

import pytest

from gateway.callers import CallerCache, Callers
from services.partners import events

ALICE = (7, 0)
BOB = (8, 3)


def profile(user_id: int, permissions: tuple[str, ...] = ("customer.read",)) -> dict:
    return {"id": user_id, "permissions": list(permissions), "partner_id": 1}


@pytest.fixture
def cache() -> CallerCache:
    cache = CallerCache(ttl=60)
    cache.set_online(True)
    return cache


def keep(cache: CallerCache, key: tuple[int, int], value: dict) -> None:
    cache.put(key, value, cache.generation())


def test_a_resolved_caller_is_kept_while_online(cache: CallerCache) -> None:
    keep(cache, ALICE, profile(7))
    assert cache.get(ALICE) == profile(7)
    assert cache.get((7, 1)) is None  # another token version is another caller


def test_nothing_is_kept_nor_served_while_offline() -> None:
    cache = CallerCache(ttl=60)
    assert cache.generation() is None
    cache.put(ALICE, profile(7), None)
    assert cache.get(ALICE) is None

    cache.set_online(True)
    keep(cache, ALICE, profile(7))
    cache.set_online(False)
    assert cache.get(ALICE) is None
    cache.set_online(True)
    assert cache.get(ALICE) is None, "what was kept before a lost connection is forgotten"


def test_a_user_change_forgets_that_user_only(cache: CallerCache) -> None:
    keep(cache, ALICE, profile(7))
    keep(cache, BOB, profile(8))
    cache.changed(events.USER_CHANGED, {"id": 7})
    assert cache.get(ALICE) is None
    assert cache.get(BOB) == profile(8)


@pytest.mark.parametrize(
    "kind", [kind for kind in events.CALLER_CHANGES if kind != events.USER_CHANGED]
)
def test_a_partner_territory_or_role_change_forgets_everyone(cache: CallerCache, kind: str) -> None:
    keep(cache, ALICE, profile(7))
    keep(cache, BOB, profile(8))
    cache.changed(kind, {"id": 8})
    assert cache.get(ALICE) is None
    assert cache.get(BOB) is None


def test_an_unreadable_event_forgets_everyone(cache: CallerCache) -> None:
    keep(cache, ALICE, profile(7))
    cache.changed(events.USER_CHANGED, {"id": "7"})
    assert cache.get(ALICE) is None


def test_an_answer_resolved_across_a_change_is_not_kept(cache: CallerCache) -> None:
    generation = cache.generation()  # the request starts resolving ...
    cache.changed(events.PARTNER_SUSPENDED, {"id": 1})  # ... the partner is suspended ...
    cache.put(ALICE, profile(7), generation)  # ... and the stale answer arrives
    assert cache.get(ALICE) is None


def test_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = CallerCache(ttl=5)
    cache.set_online(True)
    now = time.monotonic()
    monkeypatch.setattr("gateway.callers.time.monotonic", lambda: now)
    keep(cache, ALICE, profile(7))
    monkeypatch.setattr("gateway.callers.time.monotonic", lambda: now + 4.9)
    assert cache.get(ALICE) == profile(7)
    monkeypatch.setattr("gateway.callers.time.monotonic", lambda: now + 5.0)
    assert cache.get(ALICE) is None


def test_the_oldest_go_first_beyond_the_bound() -> None:
    cache = CallerCache(ttl=60, max_entries=2)
    cache.set_online(True)
    for user_id in (1, 2, 3):
        keep(cache, (user_id, 0), profile(user_id))
    assert cache.get((1, 0)) is None
    assert cache.get((3, 0)) == profile(3)
    assert len(cache) == 2


def test_a_zero_ttl_turns_the_cache_off() -> None:
    callers = Callers("amqp://guest:guest@127.0.0.1:1//", ttl=0)
    calls = []
    for _ in range(3):
        callers.resolve(ALICE, lambda: calls.append(1) or profile(7))
    assert len(calls) == 3
    assert callers.listener is None


class _Offline:
    """A listener that never connects."""

    def start(self) -> None:
        pass


def test_every_request_resolves_while_the_listener_is_not_connected() -> None:
    callers = Callers("amqp://guest:guest@127.0.0.1:1//", ttl=60)
    callers.listener = _Offline()  # start() is all that resolve asks of it
    calls = []
    for _ in range(3):
        assert callers.resolve(ALICE, lambda: calls.append(1) or profile(7)) == profile(7)
    assert len(calls) == 3


def test_a_fenced_change_waits_for_its_event_and_forgets(cache: CallerCache) -> None:
    callers = Callers("amqp://guest:guest@127.0.0.1:1//", ttl=60)
    callers.cache = cache
    keep(cache, ALICE, profile(7))

    def deliver() -> None:
        time.sleep(0.05)
        cache.changed(events.PARTNER_SUSPENDED, {"id": 1})

    with callers.fence("partners", "suspend_partner"):
        threading.Thread(target=deliver).start()
    assert cache.get(ALICE) is None
    assert cache.events_seen == 1, "the answer left before the event arrived"


def test_a_fence_gives_up_after_its_wait(
    cache: CallerCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.callers.FENCE_WAIT", 0.01)
    callers = Callers("amqp://guest:guest@127.0.0.1:1//", ttl=60)
    callers.cache = cache
    with callers.fence("partners", "update_partner"):
        pass
    assert cache.events_seen == 0


def test_reads_and_other_services_are_not_fenced(cache: CallerCache) -> None:
    callers = Callers("amqp://guest:guest@127.0.0.1:1//", ttl=60)
    callers.cache = cache
    keep(cache, ALICE, profile(7))
    for service, method in (("partners", "get_partner"), ("filing", "suspend_partner")):
        with callers.fence(service, method):
            pass
    assert cache.get(ALICE) == profile(7)
