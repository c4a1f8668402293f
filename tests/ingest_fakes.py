"""Stand-ins for the network: frames shaped exactly as yf.download returns them.

``RealDownload`` runs yfinance's own ``yf.download`` (its threading, reindexing to the
union of dates, MultiIndex (Price, Ticker) columns and error logging) with
``yfinance.multi.Ticker`` replaced by a fake whose ``history()`` returns prepared frames or
raises yfinance's own exceptions. Nothing touches the network.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import yfinance
import yfinance.multi
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError, YFTzMissingError

from ingest.providers import demo

NY = "America/New_York"


def history_frame(
    dates: list[dt.date],
    closes: list[float],
    dividends: dict[dt.date, float] | None = None,
    splits: dict[dt.date, float] | None = None,
) -> pd.DataFrame:
    """What Ticker.history(auto_adjust=False, actions=True) returns: tz-aware index, six price
    columns, then 'Dividends' and 'Stock Splits' (0.0 on the days without one; a split is
    numerator / denominator: 4.0 for 4:1, 0.1 for 1:10). As Yahoo gives them, ``closes`` and
    ``dividends`` are adjusted for the splits after their date."""
    index = pd.DatetimeIndex([pd.Timestamp(d) for d in dates], name="Date").tz_localize(NY)
    close = np.array(closes, dtype="float64")
    return pd.DataFrame(
        {
            "Open": close * 0.99,
            "High": close * 1.01,
            "Low": close * 0.98,
            "Close": close,
            "Adj Close": close * 0.995,
            "Volume": np.full(len(close), 1_000_000, dtype="int64"),
            "Dividends": [float((dividends or {}).get(d, 0.0)) for d in dates],
            "Stock Splits": [float((splits or {}).get(d, 0.0)) for d in dates],
        },
        index=index,
    )


class FakeTicker:
    """Replaces yfinance.Ticker inside yf.download; behaviour per ticker from ``script``."""

    script: dict[str, Callable[[dt.date, dt.date], pd.DataFrame]] = {}

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker.upper()
        self._price_history = None

    def history(self, start=None, end=None, actions=True, **_: object) -> pd.DataFrame:
        behaviour = self.script.get(self.ticker)
        if behaviour is None:
            raise YFTzMissingError(self.ticker)
        frame = behaviour(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
        if not actions:  # as yfinance: without actions the two columns are dropped
            frame = frame.drop(columns=["Dividends", "Stock Splits"], errors="ignore")
        return frame


def raises_rate_limit(start: dt.date, end: dt.date) -> pd.DataFrame:
    raise YFRateLimitError()


def raises_delisted(ticker: str) -> Callable[[dt.date, dt.date], pd.DataFrame]:
    def behaviour(start: dt.date, end: dt.date) -> pd.DataFrame:
        raise YFPricesMissingError(ticker, f"(1d {start} -> {end})")

    return behaviour


def table(
    dates: list[dt.date],
    closes: list[float],
    dividends: dict[dt.date, float] | None = None,
    splits: dict[dt.date, float] | None = None,
) -> Callable[[dt.date, dt.date], pd.DataFrame]:
    """A ticker with these rows (and actions), sliced to [start, end) like Yahoo does."""

    def behaviour(start: dt.date, end: dt.date) -> pd.DataFrame:
        keep = [(d, c) for d, c in zip(dates, closes, strict=True) if start <= d < end]
        return history_frame([d for d, _ in keep], [c for _, c in keep], dividends, splits)

    return behaviour


class RealDownload:
    """Calls the real yf.download (with FakeTicker); counts calls; a DownloadFn."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, script: dict) -> None:
        FakeTicker.script = script
        monkeypatch.setattr(yfinance.multi, "Ticker", FakeTicker)
        self.calls: list[list[str]] = []

    def __call__(self, tickers, start, end, threads):
        from ingest.providers.yahoo import yf_download

        self.calls.append(sorted(tickers))
        return yf_download(tickers, start, end, threads)


def demo_download(sessions: pd.DataFrame) -> Callable:
    """A DownloadFn answering every ticker with the demo walk, as a yf.download frame."""
    provider = demo.DemoProvider(sessions)
    anchor = provider.anchor_idx

    def download(tickers, start, end, threads):
        window = sessions[(sessions["session_date"] >= start) & (sessions["session_date"] < end)]
        idx = window["session_idx"].to_numpy()
        per_ticker = {}
        for ticker in tickers:
            per_ticker[ticker] = history_frame(
                list(window["session_date"]), list(demo.closes(ticker, idx, anchor))
            )
        return yf_shape(per_ticker)

    return download


def yf_shape(per_ticker: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The concat/reindex yf.download does: union index, (Price, Ticker) columns, sorted."""
    dfs = {}
    for ticker, frame in per_ticker.items():
        frame = frame.copy()
        frame.index = frame.index.tz_localize(None)
        dfs[ticker] = frame
    index = None
    for frame in dfs.values():
        index = frame.index if index is None else index.union(frame.index)
    data = pd.concat(
        [f.reindex(index) for f in dfs.values()], axis=1, keys=dfs.keys(), names=["Ticker", "Price"]
    )
    data.columns = data.columns.swaplevel(0, 1)
    return data.sort_index(level=0, axis=1)
