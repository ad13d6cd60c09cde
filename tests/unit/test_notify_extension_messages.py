"""What extensions' (延期) events say and to whom: the request and a waiting step to the
step's approvers at HQ only, the decision to the partner that asked."""

from __future__ import annotations

import pytest

from services.notify.messages import render
from services.notify.payloads import allowed_data
from services.notify.recipients import audiences
from services.notify.schemas import EVENT_KINDS

EXTENSION = {
    "customer_id": 5,
    "customer_name": "福州鼓楼科技有限公司",
    "partner_id": 3,
    "region_code": "350102",
    "source": "partner",
    "status": "protected",
    "protected_until": "2027-06-01T00:00:00Z",
    "extension_id": 9,
    "days": 30,
}
STEP = {
    "name": "渠道经理审批",
    "permission": "extension.approve",
    "mode": "any",
    "approvers": [],
    "condition": None,
}


@pytest.mark.parametrize("kind", ["extension_requested", "extension_step_waiting"])
def test_a_waiting_extension_is_told_to_the_steps_approvers_at_hq(kind) -> None:
    data = EXTENSION | {"reason": "客户预算下月批复", "step": STEP}
    [audience] = audiences(kind, data)
    assert (audience.permission, audience.partner_id) == ("extension.approve", None)
    for language in ("zh", "en"):
        rendered = render(kind, data, language)
        assert "福州鼓楼科技有限公司" in rendered.title
        assert "30" in rendered.body and "渠道经理审批" in rendered.body
        assert (rendered.subject_type, rendered.subject_id) == ("extension", 9)
    assert allowed_data(kind, data, 3) == {}
    assert allowed_data(kind, data, None)["reason"] == "客户预算下月批复"


@pytest.mark.parametrize(
    ("kind", "zh", "en"),
    [
        ("extension_approved", "已审批通过", "approved"),
        ("extension_rejected", "被驳回", "rejected"),
    ],
)
def test_the_decision_is_told_to_the_partner_that_asked(kind, zh, en) -> None:
    data = EXTENSION | {"reason": "理由不充分"}
    [audience] = audiences(kind, data)
    assert (audience.permission, audience.partner_id) == ("customer.create", 3)
    assert audience.partner_directed
    assert zh in render(kind, data, "zh").body and "2027-06-01" in render(kind, data, "zh").body
    assert en in render(kind, data, "en").body
    assert allowed_data(kind, data, 3)["days"] == 30
    assert allowed_data(kind, data, 4).get("extension_id") is None


def test_the_extension_kinds_may_be_subscribed_to() -> None:
    assert {
        "extension_requested",
        "extension_step_waiting",
        "extension_approved",
        "extension_rejected",
    } <= set(EVENT_KINDS)
