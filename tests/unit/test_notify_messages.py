"""What notifications say: titles that name the subject, Chinese by default, money and
time shown plainly."""

from __future__ import annotations

import pytest

from services.notify.messages import (
    CHANNEL_DISABLED,
    TEMPLATES,
    describe_target,
    format_money,
    format_percent,
    format_time,
    render,
)
from services.notify.recipients import MalformedEvent
from services.notify.schemas import EVENT_KINDS

LEAD = {
    "lead_id": 41,
    "lead_name": "杭州云栖科技",
    "partner_id": 3,
    "region_code": "330106",
    "status": "assigned",
    "claim_deadline": "2026-05-04T08:30:00Z",
}
ORDER_STEP = {
    "order_id": 9,
    "partner_id": 3,
    "contract_no": "HT-2026-0007",
    "customer_name": "宁波海曙贸易",
    "total_amount": "1234567.5",
    "step": {"name": "财务审批", "permission": "order.approve.finance", "mode": "any"},
}


def test_every_event_a_channel_may_subscribe_to_has_a_template_and_no_more() -> None:
    templated = {kind for kind, _variant in TEMPLATES} - {CHANNEL_DISABLED}
    assert templated == set(EVENT_KINDS)


def test_lead_assigned_is_in_chinese_by_default_and_its_title_names_the_lead() -> None:
    message = render("lead_assigned", LEAD, "zh")
    assert message.title == "新线索待申领：杭州云栖科技"
    assert "2026-05-04 08:30 UTC" in message.body
    assert (message.subject_type, message.subject_id) == ("lead", 41)


def test_users_who_chose_english_read_english() -> None:
    message = render("lead_assigned", LEAD, "en")
    assert message.title == "New lead to claim: 杭州云栖科技"
    assert message.language == "en"


def test_unknown_language_falls_back_to_chinese() -> None:
    assert render("lead_assigned", LEAD, "fr").language == "zh"


def test_order_step_title_names_the_contract_and_amount_has_two_places() -> None:
    message = render("order_step_waiting", ORDER_STEP, "zh")
    assert message.title == "订单待审批：合同 HT-2026-0007（宁波海曙贸易）"
    assert "¥1,234,567.50" in message.body
    assert "财务审批" in message.body
    assert (message.subject_type, message.subject_id) == ("order", 9)


def test_commission_entry_shows_rate_as_percentage_and_amounts_in_yuan() -> None:
    entry = {
        "entry_id": 5,
        "order_id": 9,
        "partner_id": 3,
        "contract_no": "HT-1",
        "source": "partner",
        "contract_amount": "50000",
        "rate": "0.085",
        "amount": "4250",
        "period": "2026-05",
        "kind": "commission",
    }
    message = render("commission_entry_created", entry, "zh")
    assert "¥50,000.00" in message.body
    assert "8.5%" in message.body
    assert "¥4,250.00" in message.body
    assert message.title == "新提成记录：合同 HT-1"


def test_reversal_entry_has_its_own_wording() -> None:
    entry = {"entry_id": 6, "contract_no": "HT-1", "amount": "-4250.00", "period": "2026-06"}
    message = render("commission_entry_created", entry, "en", "reversal")
    assert message.title == "Commission reversed: contract HT-1"
    assert "CNY -4,250.00" in message.body


def test_entries_of_receipts_and_refunds_say_so() -> None:
    receipt = {
        "entry_id": 7,
        "contract_no": "HT-2",
        "contract_amount": "30000.00",
        "rate": "0.08",
        "amount": "2400.00",
        "period": "2026-12",
    }
    collected = render("commission_entry_created", receipt, "zh", "collected")
    assert collected.title == "回款提成入账：合同 HT-2"
    assert "回款 ¥30,000.00" in collected.body and "¥2,400.00" in collected.body
    refund = receipt | {"contract_amount": "-10000.00", "amount": "-800.00"}
    refunded = render("commission_entry_created", refund, "en", "refunded")
    assert refunded.title == "Commission reversed for a refund: contract HT-2"
    assert "CNY -800.00" in refunded.body and "cancelled" not in refunded.body


def test_transfer_tells_the_new_owner_and_the_previous_one_differently() -> None:
    data = {"customer_id": 2, "customer_name": "甲公司", "reason": "区域调整"}
    assert render("customer_transferred", data, "zh", "in").title == "客户已转入：甲公司"
    assert render("customer_transferred", data, "zh", "out").title == "客户已转出：甲公司"


def test_a_field_the_event_lacks_shows_as_a_dash_instead_of_failing() -> None:
    message = render("filing_rejected", {"customer_id": 1, "customer_name": "乙公司"}, "zh")
    assert message.body.endswith("原因：-")


def test_a_long_comment_is_shortened_in_the_message() -> None:
    data = {"order_id": 1, "contract_no": "HT-9", "body": "很长的评论" * 500}
    message = render("order_commented", data, "zh")
    assert len(message.body) < 600
    assert message.body.endswith("…")


def test_money_rate_and_time_formats() -> None:
    assert format_money("1250") == "1,250.00"
    assert format_money("0.005") == "0.01"
    assert format_money(None) == "-"
    assert format_percent("0.08") == "8%"
    assert format_percent("0.0825") == "8.25%"
    assert format_time("2026-01-02T03:04:05+08:00") == "2026-01-01 19:04 UTC"
    assert format_time("not a time") == "not a time"


def test_disabled_channel_notice_hides_the_robot_key_in_the_webhook_query() -> None:
    shown = describe_target("webhook", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K")
    assert shown == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    notice = render(
        CHANNEL_DISABLED,
        {"channel_id": 4, "target": shown, "failures": 4, "error": "HTTP 500"},
        "zh",
    )
    assert "key=" not in notice.title + notice.body
    assert (notice.subject_type, notice.subject_id) == ("notification_channel", 4)


@pytest.mark.parametrize("order_id", [None, "not-a-number", "12", 0, -3, True, 1.5])
def test_an_event_whose_subject_is_not_an_id_is_malformed_not_a_message(order_id) -> None:
    data = {"contract_no": "HT-1", "customer_name": "某公司", "total_amount": "10.00"}
    if order_id is not None:
        data["order_id"] = order_id
    with pytest.raises(MalformedEvent, match="order_id"):
        render("order_approved", data, "zh")
