"""OCC option symbols: ``ROOT YYMMDD C|P STRIKE`` (the OSI format used by every US exchange).

``AAPL240119C00150000`` is AAPL, expiring 2024-01-19, a call, strike 150.000. The rule is
defined once, in the database (``market.occ_match``, ``market.occ_error`` and
``market.parse_occ``, sql/routines/30_portfolio_import.sql): the import, the price ingester
and the refresh use it there, and Python asks it here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import psycopg

from foliodb.errors import FolioError


class OccError(FolioError, ValueError):
    """A malformed OCC symbol; the message names the part that is wrong."""


@dataclass(frozen=True)
class OccContract:
    symbol: str  # compact form, no padding
    underlying: str
    expiry_date: dt.date
    option_type: Literal["call", "put"]
    strike: Decimal
    multiplier: int

    def intrinsic_value(self, underlying_close: Decimal) -> Decimal:
        """Per-share value at expiry: max(S - K, 0) for a call, max(K - S, 0) for a put."""
        diff = underlying_close - self.strike
        if self.option_type == "put":
            diff = -diff
        return max(diff, Decimal(0))


def diagnose(conn: psycopg.Connection, text: str) -> str | None:
    """What is wrong with an OCC symbol (market.occ_error), or None when it is well formed."""
    row = conn.execute("select market.occ_error(%s)", [text]).fetchone()
    return row[0] if row else None


def parse(conn: psycopg.Connection, text: str) -> OccContract:
    """The parts of an OCC symbol (market.parse_occ); OccError naming the wrong part."""
    problem = diagnose(conn, text)
    if problem:
        raise OccError(problem)
    row = conn.execute(
        "select symbol, underlying, expiry_date, option_type, strike, multiplier"
        " from market.parse_occ(%s)",
        [text],
    ).fetchone()
    assert row is not None
    return OccContract(*row)
