"""OCC option symbols: ``ROOT YYMMDD C|P STRIKE`` (the OSI format used by every US exchange).

``AAPL240119C00150000`` is AAPL, expiring 2024-01-19, a call, strike 150.000: the root
(the underlying, 1 to 6 letters or digits, starting with a letter) is followed by a fixed
15-character tail: the expiry as YYMMDD, ``C`` or ``P``, and the strike in thousandths of a
dollar on 8 digits. The official 21-character form pads the root to 6 characters with spaces
(``F     260116P00012500``); both forms are accepted and stored compact (``F260116P00012500``).

The SQL function ``market.occ_error`` (sql/routines/30_portfolio_import.sql) implements the
same rules independently; the tests compare the two.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from foliodb.errors import FolioError

MULTIPLIER = 100  # standard equity option contract
FORMAT_HINT = "ROOT(1-6) + YYMMDD + C/P + 8-digit strike in thousandths, e.g. AAPL240119C00150000"

_STRICT = re.compile(r"^([A-Z][A-Z0-9]{0,5})([0-9]{2})([0-9]{2})([0-9]{2})([CP])([0-9]{8})$")
_ROOT = re.compile(r"^[A-Z][A-Z0-9]{0,5}$")
TAIL = 15  # YYMMDD + C/P + 8 strike digits
DIGITS = "0123456789"


class OccError(FolioError, ValueError):
    """A malformed OCC symbol; the message names the part that is wrong."""


@dataclass(frozen=True)
class OccContract:
    symbol: str  # compact form, no padding
    underlying: str
    expiry_date: dt.date
    option_type: Literal["call", "put"]
    strike: Decimal
    multiplier: int = MULTIPLIER

    def intrinsic_value(self, underlying_close: Decimal) -> Decimal:
        """Per-share value at expiry: max(S - K, 0) for a call, max(K - S, 0) for a put."""
        diff = underlying_close - self.strike
        if self.option_type == "put":
            diff = -diff
        return max(diff, Decimal(0))


def normalize(text: str) -> str:
    """Upper-case, trimmed, padding spaces inside the 21-character form removed."""
    return re.sub(r"\s+", "", text.strip().upper())


def diagnose(text: str) -> str | None:
    """What is wrong with an OCC symbol, or None when it is well formed."""
    s = normalize(text)
    if not s:
        return "the option symbol is empty; expected " + FORMAT_HINT
    if _STRICT.match(s):
        return _check_values(s)
    # Split at the last letter: type letter, strike digits after it, expiry + root before it.
    last_letter = max((i for i, c in enumerate(s) if c not in DIGITS), default=-1)
    if last_letter < 0:
        return f"'{s}' has no root and no C/P letter; expected {FORMAT_HINT}"
    cp, strike = s[last_letter], s[last_letter + 1 :]
    head = s[:last_letter]
    if not strike:
        return f"'{s}' ends without a strike; expected {FORMAT_HINT}"
    if cp not in "CP":
        if len(s) < TAIL + 1:
            return f"'{s}' is too short for an OCC symbol; expected {FORMAT_HINT}"
        return f"option type must be C or P, found '{cp}' in '{s}'"
    if len(strike) != 8:
        return (
            f"strike must be 8 digits (dollars x 1000, e.g. 00150000 = 150.000), "
            f"found '{strike}' ({len(strike)} digits) in '{s}'"
        )
    expiry = head[-6:]
    if len(head) < 6 or any(c not in DIGITS for c in expiry):
        return f"expiry must be 6 digits YYMMDD before the C/P, found '{expiry}' in '{s}'"
    root = head[:-6]
    if not root:
        return f"the underlying root is missing before the expiry in '{s}'"
    if len(root) > 6:
        return (
            f"the underlying root must be 1 to 6 characters, found '{root}' ({len(root)}) in '{s}'"
        )
    if not _ROOT.match(root):
        return f"the underlying root must be letters and digits starting with a letter, found '{root}' in '{s}'"
    return _check_values(s)  # pragma: no cover - a tail that parses here matched _STRICT


def _check_values(s: str) -> str | None:
    m = _STRICT.match(s)
    assert m is not None
    yy, mm, dd = (int(m.group(i)) for i in (2, 3, 4))
    try:
        dt.date(2000 + yy, mm, dd)
    except ValueError:
        return f"expiry '{m.group(2)}{m.group(3)}{m.group(4)}' is not a calendar date (YYMMDD) in '{s}'"
    if int(m.group(6)) == 0:
        return f"strike must be greater than 0, found '{m.group(6)}' in '{s}'"
    return None


def parse(text: str) -> OccContract:
    """Parse an OCC symbol; raise OccError naming the wrong part."""
    problem = diagnose(text)
    if problem:
        raise OccError(problem)
    s = normalize(text)
    m = _STRICT.match(s)
    assert m is not None
    return OccContract(
        symbol=s,
        underlying=m.group(1),
        expiry_date=dt.date(2000 + int(m.group(2)), int(m.group(3)), int(m.group(4))),
        option_type="call" if m.group(5) == "C" else "put",
        strike=Decimal(m.group(6)).scaleb(-3),
    )


def looks_like_occ(text: str) -> bool:
    """True for a well-formed OCC symbol (used to catch options filed as PUBLIC)."""
    return diagnose(text) is None
