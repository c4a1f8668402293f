"""Bounds of stored inputs: the Python twin of ``ops.input_bounds`` (migration 0050).

The database enforces them (check constraints named ``*_within_bounds`` / ``*_in_calendar``);
the CSV entry points check the same limits first, so a refused value is reported with its
file, line and field before anything is written. tests/test_bounds.py checks that these
numbers equal the database's. Why these limits: docs/semantics.md, "Bounds".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

# Sessions are kept from this date on (ingest/calendar.py fills the calendar from it; SQL
# twin market.calendar_start()). Nothing dated earlier could ever be valued.
CALENDAR_START = dt.date(2000, 1, 1)
FIRST_XNYS_SESSION = dt.date(2000, 1, 3)
SHOWN_CHARS = 40  # longer numbers are shortened in messages


@dataclass(frozen=True)
class Bound:
    """Nonzero magnitudes must lie in [minimum, maximum]; zero only where allowed."""

    kind: str
    minimum: Decimal
    maximum: Decimal
    allows_zero: bool
    expected: str

    def problem(self, value: Decimal) -> str | None:
        """Why ``value`` is refused, or None. Sign rules (e.g. no negative price) are the
        caller's; here only the magnitude counts."""
        if not value.is_finite():
            return f"{shown(value)} is not a finite number: expected {self.expected}"
        magnitude = abs(value)
        if magnitude == 0 and self.allows_zero:
            return None
        if magnitude > self.maximum:
            return f"{shown(value)} is too large: expected {self.expected}"
        if magnitude < self.minimum:
            return f"{shown(value)} is too small: expected {self.expected}"
        return None


PRICE = Bound(
    "price",
    Decimal("0.000001"),
    Decimal("1000000000000"),
    False,
    "a price between 0.000001 and 1,000,000,000,000",
)
QUANTITY = Bound(
    "quantity",
    Decimal("0.00000001"),
    Decimal("1000000000000"),
    False,
    "a quantity between 0.00000001 and 1,000,000,000,000 (negative only for OPTIONS)",
)
VALUE = Bound(
    "value",
    Decimal("0.000001"),
    Decimal("1000000000000000000"),
    True,
    "a value of 0 or between 0.000001 and 1,000,000,000,000,000,000",
)
VOLUME = Bound(
    "volume",
    Decimal("1"),
    Decimal("1000000000000000"),
    True,
    "a whole number between 0 and 1,000,000,000,000,000",
)
ALL = (PRICE, QUANTITY, VALUE, VOLUME)


def shown(value: Decimal) -> str:
    """A number as a message shows it (twin of SQL core.number_shown): plain up to
    SHOWN_CHARS characters; longer, in scientific notation when that is exact (``1e+400``,
    not 401 digits), else its first SHOWN_CHARS characters and its length."""
    if not value.is_finite():
        return str(value)
    plain = format(value, "f")  # exact (normalize() would round to 28 digits)
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    plain = "0" if plain in ("", "-0") else plain
    if len(plain) <= SHOWN_CHARS:
        return plain
    mantissa, exponent = f"{value:.6e}".split("e")
    if Decimal(f"{mantissa}e{exponent}") == value:
        sign, digits = exponent[0], exponent[1:].rjust(2, "0")  # e+400, e-09: as to_char
        return f"{mantissa.rstrip('0').rstrip('.')}e{sign}{digits}"
    return f"{plain[:SHOWN_CHARS]}… ({len(plain)} characters)"


def date_problem(value: dt.date, calendar: str = "XNYS") -> str | None:
    """Why a date is before the trading calendar, or None."""
    if value >= CALENDAR_START:
        return None
    first = FIRST_XNYS_SESSION if calendar == "XNYS" else CALENDAR_START
    return (
        f"{value} is before the first session of the {calendar} calendar, {first}: sessions "
        f"are kept from {CALENDAR_START} on, so nothing earlier can be valued (expected a "
        f"date on or after {CALENDAR_START})"
    )
