"""The yfinance provider, fed frames shaped exactly as yf.download returns them."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pandas as pd
import psycopg
import pytest

from ingest.prices import ingest_prices
from ingest.providers import Request
from ingest.providers.yahoo import Pacer, YahooProvider, classify, frame_by_ticker
from tests.ingest_fakes import (
    RealDownload,
    history_frame,
    raises_delisted,
    raises_rate_limit,
    table,
    yf_shape,
)

D = [dt.date(2025, 1, d) for d in (6, 7, 8, 10, 13)]  # XNYS sessions (2025-01-09 closed)
END = dt.date(2025, 1, 13)


def provider(download, **kw) -> tuple[YahooProvider, list[float]]:
    slept: list[float] = []
    p = YahooProvider(
        download, rate=None, backoff=1.0, sleep=slept.append, rng=random.Random(7), **kw
    )
    return p, slept


def requests(*symbols: str) -> list[Request]:
    return [Request(s, D[0], END) for s in symbols]


def test_real_download_shape_for_many_tickers_with_nan_padding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # VTV has no row on 2025-01-08: yf.download pads it with NaN on the union index.
    fake = RealDownload(
        monkeypatch,
        {
            "SPY": table(D, [590.0, 591.0, 592.0, 593.0, 594.0]),
            "VTV": table(D[:2] + D[3:], [190.0, 191.0, 193.0, 194.0]),
        },
    )
    frame = fake(["SPY", "VTV"], D[0], END + dt.timedelta(days=1), 2)
    assert isinstance(frame.columns, pd.MultiIndex)
    assert list(frame.columns.names) == ["Price", "Ticker"]
    assert frame["Close"]["VTV"].isna().sum() == 1
    rows = frame_by_ticker(frame, ["SPY", "VTV"])
    assert list(rows["SPY"]["price_date"]) == D
    assert list(rows["VTV"]["price_date"]) == D[:2] + D[3:]
    assert rows["VTV"]["close"].tolist() == [190.0, 191.0, 193.0, 194.0]
    assert rows["VTV"]["adj_close"].tolist() == pytest.approx([189.05, 190.045, 192.035, 193.03])


def test_real_download_shape_for_one_ticker_is_still_a_multiindex(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = RealDownload(monkeypatch, {"SPY": table(D, [1.0, 2.0, 3.0, 4.0, 5.0])})
    frame = fake(["SPY"], D[0], END + dt.timedelta(days=1), 1)
    assert frame.columns.nlevels == 2
    assert frame_by_ticker(frame, ["SPY"])["SPY"]["close"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_single_level_columns_and_ticker_first_columns_are_read() -> None:
    one = history_frame(D, [1.0, 2.0, 3.0, 4.0, 5.0])
    one.index = one.index.tz_localize(None)
    assert len(frame_by_ticker(one, ["SPY"])["SPY"]) == 5  # multi_level_index=False
    by_ticker = yf_shape({"SPY": history_frame(D, [1.0] * 5)})
    by_ticker.columns = by_ticker.columns.swaplevel(0, 1)  # group_by='ticker'
    assert len(frame_by_ticker(by_ticker, ["SPY"])["SPY"]) == 5


def test_an_empty_frame_fails_every_ticker_after_backoff() -> None:
    p, slept = provider(lambda t, s, e, n: pd.DataFrame(), max_attempts=3)
    fetched = p.fetch(requests("SPY", "VTV"))
    assert fetched.frame.empty
    assert set(fetched.failures) == {"SPY", "VTV"}
    assert fetched.failures["SPY"].status == "failed"
    assert "after 3 attempts" in fetched.failures["SPY"].reason
    # exponential backoff with jitter: 1·2^0 + U(0,1), 1·2^1 + U(0,1)
    assert len(slept) == 2
    assert 1.0 <= slept[0] < 2.0 and 2.0 <= slept[1] < 3.0


def test_an_all_nan_ticker_is_retried_alone_and_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = {"n": 0}

    def vtv(start: dt.date, end: dt.date) -> pd.DataFrame:
        calls["n"] += 1
        if calls["n"] == 1:
            raise_rate_limit = raises_rate_limit
            return raise_rate_limit(start, end)
        return table(D, [190.0, 191.0, 192.0, 193.0, 194.0])(start, end)

    fake = RealDownload(monkeypatch, {"SPY": table(D, [590.0] * 5), "VTV": vtv})
    p, slept = provider(fake)
    fetched = p.fetch(requests("SPY", "VTV"))
    assert fake.calls == [["SPY", "VTV"], ["VTV"]]
    assert fetched.failures == {}
    assert len(fetched.frame) == 10
    assert len(slept) == 1


def test_a_raised_transient_error_is_retried() -> None:
    calls = {"n": 0}

    def flaky(tickers, start, end, threads):
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("connection reset by peer")
        return yf_shape({t: history_frame(D, [10.0] * 5) for t in tickers})

    p, slept = provider(flaky)
    fetched = p.fetch(requests("SPY"))
    assert calls["n"] == 3 and len(slept) == 2
    assert len(fetched.frame) == 5 and fetched.failures == {}


def test_unknown_delisted_and_rate_limited_tickers_get_a_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = RealDownload(
        monkeypatch,
        {
            "SPY": table(D, [590.0] * 5),
            "OLDCO": raises_delisted("OLDCO"),
            "BUSY": raises_rate_limit,
            # NOSUCH is not scripted: FakeTicker raises YFTzMissingError
        },
    )
    p, _ = provider(fake, max_attempts=2)
    fetched = p.fetch(requests("SPY", "OLDCO", "BUSY", "NOSUCH"))
    status = {s: f.status for s, f in fetched.failures.items()}
    assert status == {"OLDCO": "delisted", "BUSY": "failed", "NOSUCH": "unknown"}
    assert "Rate limited" in fetched.failures["BUSY"].reason
    assert "no timezone found" in fetched.failures["NOSUCH"].reason
    assert set(fetched.frame["symbol"]) == {"SPY"}


def test_rows_outside_a_tickers_window_are_dropped() -> None:
    frame = yf_shape({"SPY": history_frame(D, [1.0, 2.0, 3.0, 4.0, 5.0])})
    p, _ = provider(lambda t, s, e, n: frame)
    fetched = p.fetch([Request("SPY", D[2], D[3])])
    assert list(fetched.frame["price_date"]) == [D[2], D[3]]


def test_classify_reads_yfinance_messages() -> None:
    assert classify("YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')") == (
        "failed"
    )
    assert classify("possibly delisted; no timezone found") == "unknown"
    assert classify("possibly delisted; no price data found (1d 2025-01-01 -> 2025-02-01)") == (
        "delisted"
    )
    assert classify("ReadTimeout") == "failed"


def test_pacer_keeps_requests_under_the_rate() -> None:
    now = {"t": 0.0}
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now["t"] += s

    pacer = Pacer(rate=5.0, clock=lambda: now["t"], sleep=sleep)
    for _ in range(3):
        pacer.wait(10)  # a chunk of 10 tickers at 5 per second takes 2 s of budget
    assert slept == [2.0, 2.0]


def test_chunks_are_one_bulk_call_each(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def bulk(tickers, start, end, threads):
        seen.append(len(tickers))
        assert threads <= 3
        return yf_shape({t: history_frame(D, [10.0] * 5) for t in tickers})

    p, _ = provider(bulk, threads=3)
    for i in range(0, 7, 3):
        p.fetch(requests(*[f"T{j}" for j in range(i, min(i + 3, 7))]))
    assert seen == [3, 3, 1]


def test_a_failed_ticker_is_recorded_and_the_others_are_kept(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = conn.execute(
        "select session_date from market.trading_days where session_date <= ops.today()"
        " order by session_date desc limit 30"
    ).fetchall()
    days = sorted(r[0] for r in sessions)
    fake = RealDownload(
        monkeypatch,
        {
            "SPY": table(days, list(np.linspace(500, 530, len(days)))),
            "OLDCO": raises_delisted("OLDCO"),
        },
    )
    summary = ingest_prices(
        source="yfinance",
        symbols=["SPY", "OLDCO"],
        fetch=fake,
        conn=conn,
        sleep=lambda s: None,
        rate=None,
        max_attempts=2,
    )
    assert summary.status == "partial"
    assert set(summary.failures) == {"OLDCO"}
    assert "OLDCO" in summary.message
    run = conn.execute(
        "select status::text, message, details -> 'failures' ? 'OLDCO' from ops.runs"
        " where run_id = %s",
        [summary.run_id],
    ).fetchone()
    assert run[0] == "partial" and "OLDCO" in run[1] and run[2] is True
    status = conn.execute(
        "select status::text, status_reason from market.symbols where symbol = 'OLDCO'"
    ).fetchone()
    assert status[0] == "delisted" and "no price data found" in status[1]
    stored = conn.execute("select count(*) from market.prices where symbol = 'SPY'").fetchone()[0]
    assert stored == summary.rows_inserted > 0
