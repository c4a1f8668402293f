"""Price providers: where rows come from. Each returns long frames the loader takes as is.

A provider's ``fetch(requests)`` returns :class:`Fetched`: one long DataFrame with columns
symbol, price_date, close, adj_close, volume, and the symbols it could not get, each with a
status for market.symbols (``unknown``, ``delisted`` or ``failed``) and a reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

FRAME_COLUMNS = ["symbol", "price_date", "close", "adj_close", "volume"]


@dataclass(frozen=True)
class Request:
    """Prices of ``symbol`` from ``start`` through ``end`` (both inclusive)."""

    symbol: str
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class Failure:
    symbol: str
    status: str  # market.symbol_status: unknown, delisted or failed
    reason: str


@dataclass
class Fetched:
    frame: pd.DataFrame = field(default_factory=lambda: empty_frame())
    failures: dict[str, Failure] = field(default_factory=dict)


class Provider(Protocol):
    source: str  # market.prices.source

    def fetch(self, requests: list[Request]) -> Fetched: ...


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FRAME_COLUMNS})
