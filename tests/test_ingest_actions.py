"""yfinance's splits and dividends ingested with the prices (issue 15): the provider is fed
what the real ``yf.download(..., auto_adjust=False, actions=True)`` returns (yfinance's own
download code over a fake ``Ticker.history``, tests/ingest_fakes.py): Close and Dividends
adjusted for the splits after their date, 'Stock Splits' as numerator / denominator."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import psycopg
import pytest

from ingest.load import load_actions
from ingest.prices import ingest_prices
from ingest.providers import Request
from ingest.providers.yahoo import YahooProvider
from tests.builders import add_portfolio, add_position
from tests.ingest_fakes import RealDownload, table

D = [dt.date(2025, 1, d) for d in (6, 7, 8, 10, 13)]  # XNYS sessions (2025-01-09 closed)


def fetch(monkeypatch: pytest.MonkeyPatch, script: dict, symbols: list[str]):
    fake = RealDownload(monkeypatch, script)
    provider = YahooProvider(fake, rate=None, sleep=lambda s: None, rng=random.Random(1))
    return provider.fetch([Request(s, D[0], D[-1]) for s in symbols])


def test_closes_and_dividends_are_unadjusted_to_as_traded_and_the_actions_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as traded: BBB 100, 104, then 4:1 on 01-08: 26.5, 27, 26; dividends 0.50 on 01-07 (before
    # the split) and 0.30 on 01-13. Yahoo divides what came before the split by 4: closes 25,
    # 26, and the 01-07 dividend 0.125.
    # RRR: 1-for-10 on 01-10 (ratio 0.1): as traded 2.0, 2.2, 2.1, then 20, 21; Yahoo writes
    # the closes before it times 10: 20, 22, 21.
    got = fetch(
        monkeypatch,
        {
            "BBB": table(
                D,
                [25, 26, 26.5, 27, 26],
                dividends={D[1]: 0.125, D[4]: 0.30},
                splits={D[2]: 4.0},
            ),
            "RRR": table(D, [20, 22, 21, 20, 21], splits={D[3]: 0.1}),
        },
        ["BBB", "RRR"],
    )
    closes = got.frame.set_index(["symbol", "price_date"])["close"]
    assert [closes["BBB", d] for d in D] == pytest.approx([100, 104, 26.5, 27, 26], abs=1e-12)
    assert [closes["RRR", d] for d in D] == pytest.approx([2.0, 2.2, 2.1, 20, 21], abs=1e-12)
    actions = {
        (row.symbol, row.ex_date, row.action): row.value
        for row in got.actions.itertuples(index=False)
    }
    assert actions == {
        ("BBB", D[2], "split"): 4.0,
        ("RRR", D[3], "split"): pytest.approx(0.1, abs=1e-15),
        ("BBB", D[1], "dividend"): pytest.approx(0.5, abs=1e-12),
        ("BBB", D[4], "dividend"): pytest.approx(0.3, abs=1e-12),
    }


def test_a_history_without_actions_gives_none_and_keeps_the_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    got = fetch(monkeypatch, {"SPY": table(D, [500, 501, 502, 503, 504])}, ["SPY"])
    assert got.actions.empty
    assert sorted(got.frame["close"]) == [500, 501, 502, 503, 504]


@pytest.fixture
def recent(conn: psycopg.Connection) -> list[dt.date]:
    """The last ten sessions through today (the pinned clock)."""
    rows = conn.execute(
        "select session_date from market.trading_days where session_date < ops.today()"
        " order by session_date desc limit 10"
    ).fetchall()
    return sorted(r[0] for r in rows)


def test_ingest_writes_splits_and_dividends_in_the_price_run_and_again_writes_nothing(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, recent: list[dt.date]
) -> None:
    days = recent
    # as traded: 80 for six sessions, then 2:1 at 40.5 ...; Yahoo halves the first six closes
    # and the 0.60 dividend of days[2] (0.30)
    yahoo = [40.0] * 6 + [40.5, 41.0, 41.5, 42.0]
    script = {
        "SPLT": table(days, yahoo, dividends={days[2]: 0.30, days[8]: 0.25}, splits={days[6]: 2.0})
    }
    holder = add_portfolio(conn, "holder")
    add_position(conn, holder, "SPLT", 10, "2020-01-02", 50)
    conn.execute("delete from ops.dirty_portfolios")
    conn.execute("set role folio_ingest")  # the ingest role, as the CLI connects
    summary = ingest_prices(
        source="yfinance",
        symbols=["SPLT"],
        fetch=RealDownload(monkeypatch, script),
        conn=conn,
        sleep=lambda s: None,
        rate=None,
    )
    conn.execute("reset role")
    assert summary.status == "succeeded", summary.message
    assert (summary.splits_written, summary.dividends_written) == (1, 2)
    assert "1 splits and 2 dividends written" in summary.message
    assert conn.execute(
        "select ex_date, ratio, source from market.splits where symbol = 'SPLT'"
    ).fetchall() == [(days[6], 2, "yfinance")]
    # 0.30 × 2 and 0.25 × 1: exact in binary and in the stored numeric
    assert conn.execute(
        "select ex_date, amount_per_share::text from market.dividends where symbol = 'SPLT'"
        " order by ex_date"
    ).fetchall() == [(days[2], "0.6"), (days[8], "0.25")]
    closes = conn.execute(
        "select close from market.prices where symbol = 'SPLT' order by price_date"
    ).fetchall()
    assert [float(c) for (c,) in closes] == [80.0] * 6 + [40.5, 41.0, 41.5, 42.0]
    # the position's portfolio is queued from the first ex-date, though the ingest role may
    # not read portfolios
    assert conn.execute(
        "select portfolio_id, min(from_date) from ops.dirty_portfolios group by portfolio_id"
    ).fetchall() == [(holder, days[2])]
    run = conn.execute(
        "select status::text, details ->> 'splits_written', details ->> 'dividends_written'"
        " from ops.runs where run_id = %s",
        [summary.run_id],
    ).fetchone()
    assert run == ("succeeded", "1", "2")
    # the same history again (the overlap refetch): nothing new
    again = ingest_prices(
        source="yfinance",
        symbols=["SPLT"],
        fetch=RealDownload(monkeypatch, script),
        conn=conn,
        sleep=lambda s: None,
        rate=None,
    )
    assert (again.splits_written, again.dividends_written, again.actions_quarantined) == (0, 0, 0)


def test_bad_actions_are_quarantined_with_the_reason_and_not_written(
    conn: psycopg.Connection, recent: list[dt.date]
) -> None:
    conn.execute("insert into market.symbols (symbol) values ('GOOD') on conflict do nothing")
    day = recent[-1]
    saturday = day + dt.timedelta(days=(5 - day.weekday()) % 7 or 7)
    actions = pd.DataFrame(
        [
            ("GOOD", day, "split", 1.0),
            ("GOOD", day, "dividend", float("nan")),
            ("NOPE", day, "dividend", 0.5),
            ("GOOD", day + dt.timedelta(days=400), "dividend", 0.5),
            ("GOOD", saturday - dt.timedelta(days=7), "split", 2.0),
            ("GOOD", recent[0], "dividend", -0.5),
        ],
        columns=["symbol", "ex_date", "action", "value"],
    )
    result = load_actions(conn, actions, "yfinance", last_closed=day)
    assert (result.splits_written, result.dividends_written, result.quarantined) == (0, 0, 6)
    reasons = {
        (symbol, day, action): reason
        for symbol, day, action, reason in conn.execute(
            "select symbol, price_date, action, reason from market.quarantine"
            " where action is not null"
        )
    }
    assert len(reasons) == 6
    assert reasons["GOOD", day, "split"].startswith("value: a split ratio is positive and not 1")
    assert reasons["GOOD", day, "dividend"].startswith("value: expected a finite number")
    assert reasons["NOPE", day, "dividend"] == "symbol: unknown symbol NOPE"
    later = day + dt.timedelta(days=400)
    assert "is after the last closed session" in reasons["GOOD", later, "dividend"]
    weekend = saturday - dt.timedelta(days=7)
    assert "is not a trading day" in reasons["GOOD", weekend, "split"]
    assert reasons["GOOD", recent[0], "dividend"].startswith(
        "value: a dividend is a positive amount per share"
    )
    stored = conn.execute(
        "select (select count(*) from market.splits where symbol = 'GOOD'),"
        " (select count(*) from market.dividends where symbol = 'GOOD')"
    ).fetchone()
    assert stored == (0, 0)
