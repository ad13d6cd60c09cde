"""A caller token is bound to its call: the digest of the arguments is the same on both
sides of the wire, and the token is good for that call only."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal

import jwt
import pytest
from kombu import serialization

from services.common.context import (
    CALL_SKEW,
    CallBinding,
    Caller,
    bind_call,
    call_digest,
    caller_of_accepted_call,
    received_digest,
    sign_caller,
    verify_call,
    verify_caller,
)
from services.common.errors import Unauthenticated
from services.common.sealing import NotSealedFor, open_sealed_for, opened_for, seal_for

ARGS = (
    7,
    {
        "amount": Decimal("1234.50"),
        "rate": Decimal("0.035"),
        "at": datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
        "day": date(2026, 3, 1),
        "name": "宁波城市合伙人 ☕ \u200b",
        "nested": [1, 2.5, None, True, {"b": 1, "a": [Decimal("-0"), "x"]}],
    },
)
KWARGS = {"address": "杭州市西湖区", "limit": 10, "ratio": 0.1}


def _as_received(args: tuple | list, kwargs: dict) -> dict:
    """What the consumer decodes: kombu's JSON, as the gateway and Nameko publish it."""
    content_type, encoding, data = serialization.dumps(
        {"args": args, "kwargs": kwargs}, serializer="json"
    )
    return serialization.loads(data, content_type, encoding)


def test_the_digest_of_a_call_is_the_digest_the_consumer_computes() -> None:
    body = _as_received(ARGS, KWARGS)
    assert body["args"][1]["amount"] == Decimal("1234.50")  # kombu gives Decimals back
    assert call_digest(ARGS, KWARGS) == received_digest(body["args"], body["kwargs"])


def test_the_digest_does_not_depend_on_order_or_sequence_type() -> None:
    reordered = dict(reversed(list(KWARGS.items())))
    assert call_digest(list(ARGS), reordered) == call_digest(ARGS, KWARGS)


@pytest.mark.parametrize(
    ("other_args", "other_kwargs"),
    [
        ((8, ARGS[1]), KWARGS),
        ((7, ARGS[1] | {"amount": Decimal("1234.51")}), KWARGS),
        ((7, ARGS[1] | {"amount": "1234.50"}), KWARGS),  # text is not the Decimal
        ((7, ARGS[1] | {"name": "宁波城市合伙人 ☕"}), KWARGS),  # an invisible character less
        (ARGS, KWARGS | {"limit": 10.0}),
        (ARGS, KWARGS | {"extra": None}),
        ((), {"args": list(ARGS), "kwargs": KWARGS}),
    ],
)
def test_other_arguments_have_another_digest(other_args: tuple, other_kwargs: dict) -> None:
    assert call_digest(other_args, other_kwargs) != call_digest(ARGS, KWARGS)


def _binding(**changes: str) -> CallBinding:
    binding = CallBinding("partners", "create_user", "cid-1", call_digest(ARGS, KWARGS))
    return binding._replace(**changes)


def test_a_token_is_good_for_its_call_only() -> None:
    caller = Caller(user_id=3, permissions=frozenset({"user.manage"}))
    token = bind_call(caller, "partners", "create_user", "cid-1", ARGS, KWARGS, timeout=10)
    assert verify_call(token, _binding()) == caller
    for change in (
        {"service": "orders"},
        {"method": "update_user"},
        {"correlation_id": "cid-2"},
        {"digest": call_digest((8,), {})},
    ):
        # After a cached verification, as before it: the binding is checked every time.
        with pytest.raises(Unauthenticated):
            verify_call(token, _binding(**change))
    assert verify_call(token, _binding()) == caller


def test_a_token_bound_to_no_call_is_refused_by_an_entry_point() -> None:
    token = sign_caller(Caller.system_caller("gateway"))
    assert verify_caller(token).system == "gateway"  # a worker's context may hold one
    with pytest.raises(Unauthenticated):
        verify_call(token, _binding())


def test_a_token_lives_as_long_as_its_call() -> None:
    token = bind_call(Caller(user_id=1), "partners", "create_user", "cid-1", ARGS, KWARGS, 10)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 10 + CALL_SKEW
    assert claims["exp"] <= time.time() + 10 + CALL_SKEW + 1


def test_an_expired_token_is_refused_but_names_the_caller_of_an_accepted_call() -> None:
    caller = Caller(user_id=4)
    token = bind_call(caller, "partners", "create_user", "cid-1", ARGS, KWARGS, -CALL_SKEW - 1)
    with pytest.raises(Unauthenticated):
        verify_call(token, _binding())
    assert caller_of_accepted_call(token) == caller


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = bind_call(Caller(), "partners", "create_user", "cid-1", ARGS, KWARGS, 10, "k" * 40)
    with pytest.raises(Unauthenticated):
        verify_call(token, _binding())


def test_a_secret_sealed_for_a_recipient_opens_for_it_only() -> None:
    sealed = seal_for("partners", "correct horse 电池 staple")
    assert "horse" not in sealed and sealed != seal_for("partners", "correct horse 电池 staple")
    assert open_sealed_for("partners", sealed) == "correct horse 电池 staple"
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    for recipient, value in [
        ("gateway", sealed),  # another recipient
        ("partners", "correct horse 电池 staple"),  # plain text
        ("partners", tampered),
        ("partners", seal_for("partners", "x", key="k" * 40)),  # another key
        ("partners", None),
        ("partners", "sealed-for:!!"),
    ]:
        with pytest.raises(NotSealedFor):
            open_sealed_for(recipient, value)


def test_a_request_compared_by_what_its_sealed_secrets_hold() -> None:
    first = [{"username": "a", "password": seal_for("partners", "pw-1")}]
    again = [{"username": "a", "password": seal_for("partners", "pw-1")}]
    assert first != again
    assert opened_for("partners", first) == opened_for("partners", again)
    assert opened_for("gateway", first) == first  # not for it: left as it is
