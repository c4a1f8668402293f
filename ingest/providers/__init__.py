"""Price providers: where rows come from. Each returns long frames the loader takes as is.

A provider's ``fetch(requests)`` returns :class:`Fetched`: one long DataFrame with columns
symbol, price_date, close, adj_close, volume, and the symbols it could not get, each with a
status for market.symbols (``unknown``, ``delisted`` or ``failed``) and a reason. A provider
that knows corporate actions also returns them in ``actions``: one row per split or dividend
(columns symbol, ex_date, action ``split`` | ``dividend``, value: the split's ratio, new shares
per old, or the dividend per share), as traded, like the closes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

FRAME_COLUMNS = ["symbol", "price_date", "close", "adj_close", "volume"]
ACTION_COLUMNS = ["symbol", "ex_date", "action", "value"]


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
    actions: pd.DataFrame = field(default_factory=lambda: empty_actions())


class Provider(Protocol):
    source: str  # market.prices.source

    def fetch(self, requests: list[Request]) -> Fetched: ...


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FRAME_COLUMNS})


def empty_actions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ACTION_COLUMNS})
