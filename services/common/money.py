"""Money is Decimal with two places, rounded half-up; rates are Decimal fractions."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
#: The largest amount a NUMERIC(14, 2) column, where every amount is stored, holds.
MAX_MONEY = Decimal("999999999999.99")


def to_decimal(value: object) -> Decimal:
    """Exact Decimal from a string, int or Decimal; floats are refused (they are inexact)."""
    if isinstance(value, float):
        raise TypeError("money is never a float; pass a string or Decimal")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def money(value: object) -> Decimal:
    """Yuan rounded half-up to 0.01."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money_str(value: object) -> str:
    """The wire form: a string with exactly two places, e.g. ``"1250.00"``."""
    return f"{money(value):.2f}"


def apply_rate(amount: object, rate: object) -> Decimal:
    """``amount x rate``, rounded half-up to 0.01 yuan."""
    return money(to_decimal(amount) * to_decimal(rate))


def fits_money_column(amount: object) -> bool:
    """Whether ``amount`` (yuan, either sign) can be stored as it is: a NUMERIC(14, 2) column
    refuses a larger one, or, on SQLite, keeps another number."""
    return abs(money(amount)) <= MAX_MONEY
