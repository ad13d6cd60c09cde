"""The outbox loses no event, consumers apply each event once, failing events are parked."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from unittest import mock

import pytest
from kombu import Connection
from nameko.standalone.events import get_event_exchange
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.rpc import RemoteError, RpcClient
from services.common.amqp import ConfirmingPublisher
from services.common.broker import parked_queue
from services.common.config import get_settings
from services.common.context import Caller, sign_caller
from services.common.db import make_engine
from services.common.entrypoints import ATTEMPTS_HEADER, event_queues
from services.common.errors import InvalidInput, InvalidState, ServiceTimeout, ServiceUnavailable
from services.common.models import CommonBase, OutboxEvent, ProcessedEvent
from services.common.outbox import make_envelope
from services.common.unit_of_work import UnitsOfWork
from tests.support import infra
from tests.support.client import unique
from tests.support.kit_services import (
    AWAY_FOR,
    AWAY_TRIES,
    LOSE_COMMIT,
    KitBase,
    KitListener,
    KitService,
    Received,
    Thing,
)
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def engine():
    engine = make_engine(get_settings().database_url("kit"))
    CommonBase.metadata.create_all(engine)
    KitBase.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def config(rabbit_config: dict) -> dict:
    return rabbit_config | {
        "OUTBOX_INTERVAL": 0.1,
        "EVENT_MAX_ATTEMPTS": 3,
        "EVENT_RETRY_DELAY": 0.05,
    }


@pytest.fixture
def declare_queues(amqp_uri: str, config: dict) -> None:
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for queue in event_queues(KitListener, config):
            queue(channel).declare()
            queue(channel).purge()
        parked_queue()(channel).declare()


@pytest.fixture
def client(amqp_uri: str) -> Iterator[RpcClient]:
    client = RpcClient(amqp_uri, timeout=10)
    yield client
    client.close()


def hq_token() -> Caller:
    return Caller(user_id=1, permissions=frozenset({"partner.manage"}))


def received(engine, name: str) -> int:
    with Session(engine) as session:
        return session.scalar(
            select(func.count()).select_from(Received).where(Received.name == name)
        )


def test_event_written_but_not_published_before_a_crash_still_arrives(
    engine, config, declare_queues, container_factory, client
) -> None:
    listener = container_factory(KitListener, config)
    listener.start()
    kit = container_factory(KitService, config)
    name = unique("crash")
    # The broker link dies after the commit and before the event is sent.
    with mock.patch.object(
        ConfirmingPublisher, "publish_many", side_effect=ConnectionError("broker gone")
    ):
        kit.start()
        client.call("kit", "make", name, caller=hq_token())

        def tried_and_pending() -> bool:
            with Session(engine) as session:
                row = session.scalar(
                    select(OutboxEvent).where(
                        OutboxEvent.payload["data"]["name"].as_string() == name
                    )
                )
                return row is not None and row.status == "pending" and row.attempts >= 1

        wait_for(tried_and_pending)
        kit.kill()  # the process dies with the event unsent
    assert received(engine, name) == 0

    restarted = container_factory(KitService, config)
    restarted.start()  # its relay sweeps what the dead one left
    wait_for(lambda: received(engine, name) == 1)
    with Session(engine) as session:
        row = session.scalar(
            select(OutboxEvent).where(OutboxEvent.payload["data"]["name"].as_string() == name)
        )
        assert row.status == "sent"


def test_a_call_whose_database_connection_is_cut_fails_and_the_service_lives_on(
    engine, config, container_factory, client
) -> None:
    kit = container_factory(KitService, config)
    kit.start()
    name = unique("cut")
    # The rollback of the failed call meets a connection the server has closed.
    with pytest.raises(ServiceUnavailable):
        client.call("kit", "fail_after_losing_connection", name, caller=hq_token())
    # The container survived it and serves the next calls, with a fresh connection.
    assert client.call("kit", "echo", "still here", caller=hq_token()) == "still here"
    assert client.call("kit", "count_things", name, caller=hq_token()) == 0


def test_a_call_that_cannot_reach_the_database_answers_service_unavailable(
    config, container_factory, client
) -> None:
    unreachable = config | {"DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:1/none"}
    kit = container_factory(KitService, unreachable)
    kit.start()
    with pytest.raises(ServiceUnavailable, match="kit service could not use its database"):
        client.call("kit", "count_things", "anything", caller=hq_token())


def test_a_commit_whose_outcome_is_unknown_answers_timeout_not_try_again(
    engine, config, container_factory, client
) -> None:
    # 503 would invite a retry, which could make a second copy of a change that was saved.
    kit = container_factory(KitService, config)
    kit.start()
    name = unique("lost")
    with pytest.raises(ServiceTimeout, match="may or may not have been saved"):
        client.call("kit", "make_but_lose_the_commit", name, caller=hq_token())
    assert client.call("kit", "echo", "still here", caller=hq_token()) == "still here"


def test_failed_call_keeps_neither_its_change_nor_its_event(
    engine, config, container_factory, client
) -> None:
    kit = container_factory(KitService, config)
    kit.start()
    name = unique("fail")
    with pytest.raises(Exception, match="boom"):
        client.call("kit", "make_then_fail", name, caller=hq_token())
    with Session(engine) as session:
        assert (
            session.scalar(select(func.count()).select_from(Thing).where(Thing.name == name)) == 0
        )
        assert not [
            row
            for row in session.scalars(select(OutboxEvent))
            if row.payload["data"].get("name") == name
        ]


def _publish_event(amqp_uri: str, config: dict, envelope: dict) -> None:
    publisher = ConfirmingPublisher(amqp_uri)
    try:
        publisher.publish(
            envelope, exchange=get_event_exchange("kit", config), routing_key="thing_made"
        )
    finally:
        publisher.close()


def test_same_event_delivered_twice_is_applied_once(
    engine, config, declare_queues, container_factory, amqp_uri, caplog
) -> None:
    listener = container_factory(KitListener, config)
    listener.start()
    name = unique("dup")
    envelope = make_envelope("kit", "thing_made", {"name": name})
    _publish_event(amqp_uri, config, envelope)
    wait_for(lambda: received(engine, name) == 1)
    with caplog.at_level(logging.INFO, logger="services.common.entrypoints"):
        _publish_event(amqp_uri, config, envelope)
        wait_for(lambda: any("already applied" in r.getMessage() for r in caplog.records))
    assert received(engine, name) == 1
    with Session(engine) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(ProcessedEvent)
                .where(ProcessedEvent.event_id == envelope["id"])
            )
            == 1
        )


def test_same_event_delivered_to_two_replicas_at_once_is_applied_once(
    engine, config, declare_queues, container_factory, amqp_uri
) -> None:
    for _ in range(2):
        container_factory(KitListener, config).start()
    names = [unique("race") for _ in range(10)]
    envelopes = [make_envelope("kit", "thing_made", {"name": name}) for name in names]
    for envelope in envelopes:
        _publish_event(amqp_uri, config, envelope)
        _publish_event(amqp_uri, config, envelope)
    wait_for(lambda: all(received(engine, name) >= 1 for name in names))
    time.sleep(1.0)  # let any second delivery finish
    assert [received(engine, name) for name in names] == [1] * len(names)


def test_event_that_always_fails_is_parked_and_does_not_block_the_queue(
    engine, config, declare_queues, container_factory, amqp_uri
) -> None:
    listener = container_factory(KitListener, config)
    listener.start()
    poison = make_envelope("kit", "thing_made", {"name": unique("poison")})
    good_name = unique("good")
    _publish_event(amqp_uri, config, poison)
    _publish_event(amqp_uri, config, make_envelope("kit", "thing_made", {"name": good_name}))
    wait_for(lambda: received(engine, good_name) == 1)

    message = infra.parked_message(amqp_uri, poison["id"])
    assert message.headers[ATTEMPTS_HEADER] == 3
    assert "ValueError" in message.headers["x-prm-last-error"]
    assert message.headers["x-prm-queue"] == "evt-kit-thing_made--kitlistener.on_thing_made"
    assert received(engine, poison["data"]["name"]) == 0


def test_event_failing_because_another_service_is_away_is_retried_until_it_passes(
    engine, config, declare_queues, container_factory, amqp_uri
) -> None:
    """Not parked after EVENT_MAX_ATTEMPTS (3): the event is fine, a service was away."""
    listener = container_factory(KitListener, config)
    listener.start()
    name = unique("away")
    _publish_event(amqp_uri, config, make_envelope("kit", "thing_made", {"name": name}))
    wait_for(lambda: received(engine, name) == 1, timeout=30)
    assert AWAY_TRIES[name] == AWAY_FOR + 1 > config["EVENT_MAX_ATTEMPTS"]


def test_event_failing_for_longer_than_the_retry_limit_is_parked_and_shown(
    engine, config, declare_queues, container_factory, amqp_uri
) -> None:
    """A service that never comes back: after EVENT_RETRY_LIMIT seconds of failures the
    event is parked (visible to ``manage.py parked list``) instead of circling forever."""
    listener = container_factory(KitListener, config | {"EVENT_RETRY_LIMIT": 1.5})
    listener.start()
    gone = make_envelope("kit", "thing_made", {"name": unique("gone")})
    _publish_event(amqp_uri, config, gone)

    message = infra.parked_message(amqp_uri, gone["id"], timeout=30)
    assert message.headers[ATTEMPTS_HEADER] >= 2  # retried, not parked at the first failure
    assert message.headers["x-prm-last-error"].startswith("still failing after 2 s")
    assert "ServiceUnavailable" in message.headers["x-prm-last-error"]


def test_call_without_caller_context_is_refused_before_any_work(
    engine, config, container_factory, client
) -> None:
    container_factory(KitService, config).start()
    name = unique("nocaller")
    with pytest.raises(Exception) as refused:
        client.call("kit", "make", name, caller="")
    assert type(refused.value).__name__ == "Unauthenticated"
    with Session(engine) as session:
        assert (
            session.scalar(select(func.count()).select_from(Thing).where(Thing.name == name)) == 0
        )


def test_caller_context_signed_with_another_key_is_refused(
    engine, config, container_factory, client
) -> None:
    container_factory(KitService, config).start()
    forged = sign_caller(Caller(user_id=1), key="x" * 48)
    with pytest.raises(Exception) as refused:
        client.call("kit", "whoami", caller=forged)
    assert type(refused.value).__name__ == "Unauthenticated"


def test_caller_context_with_edited_claims_is_refused(config, container_factory, client) -> None:
    container_factory(KitService, config).start()
    header, payload, signature = sign_caller(Caller(user_id=7, partner_ids=frozenset({3}))).split(
        "."
    )
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = None  # try to widen the tenant scope to every partner
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(Exception) as refused:
        client.call("kit", "whoami", caller=f"{header}.{edited}.{signature}")
    assert type(refused.value).__name__ == "Unauthenticated"


def test_signed_caller_context_reaches_the_service(config, container_factory, client) -> None:
    container_factory(KitService, config).start()
    token = Caller(user_id=7, partner_id=3, partner_ids=frozenset({3, 4}))
    assert client.call("kit", "whoami", caller=token) == {"user_id": 7, "partner_ids": [3, 4]}


def test_nameko_standalone_proxy_with_forged_context_is_refused(config, container_factory) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    container_factory(KitService, config).start()
    forged = sign_caller(Caller(user_id=1), key="y" * 48)
    with (
        ClusterRpcProxy(config, context_data={"caller": forged}, timeout=10) as proxy,
        pytest.raises(Exception) as refused,
    ):
        proxy.kit.whoami()
    assert "Unauthenticated" in repr(refused.value)


def test_nameko_standalone_proxy_signs_each_call_with_binding_calls(
    config, container_factory
) -> None:
    from nameko.standalone.rpc import ClusterRpcProxy

    from services.common.rpc import binding_calls

    container_factory(KitService, config).start()
    caller = Caller(user_id=7, partner_id=3, partner_ids=frozenset({3}))
    with ClusterRpcProxy(config, timeout=10) as proxy:
        kit = binding_calls(proxy.kit, caller, 10)
        assert kit.whoami() == {"user_id": 7, "partner_ids": [3]}
        assert kit.echo("again") == "again"


# -- idempotent calls ------------------------------------------------------------------


def _things(engine, name: str) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Thing).where(Thing.name == name))


def test_a_call_sent_again_with_its_key_gets_the_first_answer(
    engine, config, container_factory, client
) -> None:
    container_factory(KitService, config).start()
    name = unique("keyed")
    first = client.call("kit", "make_once", name, caller=hq_token(), idempotency_key="k1")
    again = client.call("kit", "make_once", name, caller=hq_token(), idempotency_key="k1")
    assert again == first
    assert _things(engine, name) == 1
    # Another caller's same key is another request.
    other = Caller(user_id=2, permissions=frozenset({"partner.manage"}))
    assert client.call("kit", "make_once", name, caller=other, idempotency_key="k1") != first
    assert _things(engine, name) == 2


def test_a_refusal_of_the_copy_is_answered_with_the_first_answer(
    engine, config, container_factory, client
) -> None:
    # The copy fails because the first went through (a second approval would be 409).
    container_factory(KitService, config).start()
    name = unique("refuse")
    first = client.call("kit", "refuse_once", name, caller=hq_token(), idempotency_key="k2")
    again = client.call("kit", "refuse_once", name, caller=hq_token(), idempotency_key="k2")
    assert again == first
    with pytest.raises(InvalidState):
        client.call("kit", "refuse_once", name, caller=hq_token(), idempotency_key="k3")


def test_a_key_used_for_other_arguments_is_refused(engine, config, container_factory, client):
    container_factory(KitService, config).start()
    name, other = unique("mine"), unique("other")
    client.call("kit", "make_once", name, caller=hq_token(), idempotency_key="k4")
    with pytest.raises(InvalidInput) as refused:
        client.call("kit", "make_once", other, caller=hq_token(), idempotency_key="k4")
    assert refused.value.code == "idempotency_key_reused"
    assert _things(engine, other) == 0


def test_a_commit_reported_lost_that_went_through_is_answered_as_saved(
    engine, config, container_factory, client
) -> None:
    container_factory(KitService, config).start()
    name = unique("after")
    LOSE_COMMIT[name] = "after"
    answer = client.call("kit", "make_once", name, caller=hq_token(), idempotency_key="k5")
    assert isinstance(answer, int)  # not "may or may not have been saved"
    assert _things(engine, name) == 1


def test_a_commit_that_was_lost_is_made_by_the_copy_sent_with_the_key(
    engine, config, container_factory, client
) -> None:
    container_factory(KitService, config).start()
    name = unique("before")
    LOSE_COMMIT[name] = "before"
    with pytest.raises(ServiceTimeout, match="Idempotency-Key may simply be sent again"):
        client.call("kit", "make_once", name, caller=hq_token(), idempotency_key="k6")
    assert _things(engine, name) == 0
    client.call("kit", "make_once", name, caller=hq_token(), idempotency_key="k6")
    assert _things(engine, name) == 1


def test_when_nobody_can_tell_whether_the_first_went_through_the_answer_is_503(
    engine, config, container_factory, client
) -> None:
    container_factory(KitService, config).start()
    name = unique("unsure")
    client.call("kit", "refuse_once", name, caller=hq_token(), idempotency_key="k7")
    # The copy is refused, and the database cannot be asked for the first answer.
    away = OperationalError("SELECT", {}, ConnectionError("server closed"))
    with (
        mock.patch.object(UnitsOfWork, "session", side_effect=away),
        pytest.raises(ServiceUnavailable, match="same Idempotency-Key"),
    ):
        client.call("kit", "refuse_once", name, caller=hq_token(), idempotency_key="k7")
    assert client.call("kit", "echo", "still here", caller=hq_token()) == "still here"


def test_an_answer_that_cannot_be_saved_keeps_nothing_and_the_service_stands(
    engine, config, container_factory, client
) -> None:
    container_factory(KitService, config).start()
    name = unique("unsaved")
    with pytest.raises(RemoteError):
        client.call("kit", "make_unanswerable", name, caller=hq_token(), idempotency_key="k8")
    assert _things(engine, name) == 0
    assert client.call("kit", "echo", "still here", caller=hq_token()) == "still here"
