"""What HQ finance types into a payment is shown to the partner (GET /payments): its
reference holds no character a reader cannot see, such as a right-to-left override that
makes ``CMB-1288`` read as another reference, or a control character."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from services.orders.schemas import PaymentIn

BASE = {"amount": "100.00", "received_on": "2026-12-01", "method": "bank_transfer"}


@pytest.mark.parametrize("hidden", ["\u202e", "\u200b", "\r", "\x1b", "\ufeff", "\u2066"])
def test_a_reference_with_an_invisible_or_control_character_is_refused(hidden: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PaymentIn().load({**BASE, "reference": f"CMB{hidden}-8812"})
    assert "reference" in refused.value.messages


def test_a_plain_reference_is_kept() -> None:
    assert PaymentIn().load({**BASE, "reference": "招行 CMB-8812"})["reference"] == "招行 CMB-8812"
