"""What the public pool's events say and to whom: a release in words that fit why it
happened, a claim told to the claimer only, the idle reminder with its date."""

from __future__ import annotations

import pytest

from services.notify.messages import render
from services.notify.payloads import allowed_data
from services.notify.recipients import audiences
from services.notify.schemas import EVENT_KINDS

CUSTOMER = {
    "customer_id": 5,
    "customer_name": "武汉光谷科技有限公司",
    "partner_id": 3,
    "region_code": "420106",
    "source": "partner",
    "status": "released",
    "protected_until": None,
}


@pytest.mark.parametrize(
    ("kind", "expected_variant", "zh"),
    [
        ("expired", "", "保护期已结束"),
        ("owner", "owner", "已由贵方退回"),
        ("idle", "idle", "长期没有跟进"),
    ],
)
def test_a_release_is_told_in_words_that_fit_its_kind(kind, expected_variant, zh) -> None:
    data = CUSTOMER | {"kind": kind, "reason": "客户预算取消"}
    [audience] = audiences("customer_released", data)
    assert (audience.partner_id, audience.variant) == (3, expected_variant)
    assert zh in render("customer_released", data, "zh", audience.variant).body
    assert "武汉光谷科技有限公司" in render("customer_released", data, "en", audience.variant).title


def test_a_claim_is_told_to_the_claimer_only() -> None:
    data = CUSTOMER | {"status": "protected", "protected_until": "2027-06-01T00:00:00Z"}
    [audience] = audiences("customer_claimed", data)
    assert (audience.permission, audience.partner_id) == ("customer.create", 3)
    rendered = render("customer_claimed", data, "zh")
    assert "公海" in rendered.body and "2027-06-01" in rendered.body
    # A channel of any other partner is not told who holds the customer now.
    assert "partner_id" not in allowed_data("customer_claimed", data, 4)


def test_the_idle_reminder_says_when_the_customer_goes() -> None:
    data = CUSTOMER | {"status": "protected", "release_at": "2027-01-31T08:00:00Z"}
    [audience] = audiences("idle_release_near", data)
    assert audience.partner_id == 3
    assert "2027-01-31" in render("idle_release_near", data, "zh").body
    assert "2027-01-31" in render("idle_release_near", data, "en").body
    assert allowed_data("idle_release_near", data, 3)["release_at"] == "2027-01-31T08:00:00Z"


def test_the_new_kinds_may_be_subscribed_to() -> None:
    assert {"customer_claimed", "idle_release_near"} <= set(EVENT_KINDS)
