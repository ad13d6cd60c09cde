"""Made-up but valid values: phone numbers, company names, credit codes."""

from __future__ import annotations

import random

from services.filing.keys import uscc_check_char
from tests.support.client import unique

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def mobile() -> str:
    """A mainland mobile number, random enough that tests never share one."""
    return f"1{random.choice('3456789')}{random.randint(0, 999_999_999):09d}"


def uscc(region: str = "330106") -> str:
    """A unified social credit code of a company registered in ``region``, with a valid
    check character."""
    body = "91" + region + "".join(random.choices(USCC_ALPHABET, k=9))
    return body + uscc_check_char(body)


def company() -> str:
    """A unique company name stem; callers add brackets and suffixes."""
    return f"杭州{unique('c')}"
