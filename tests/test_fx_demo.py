"""The demo's EUR portfolio (issue 16, item 6): USD ETFs and a pence-quoted London ETF valued
in EUR at the demo provider's SYNTHETIC FX rates (stored with source 'demo'). The expected
values are the demo walks recomputed here from the provider (units x local close x the
synthetic rate), not read back from the refresh."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
import pytest

from ingest import calendar
from ingest import demo as demo_module
from ingest.fx import ingest_fx
from ingest.prices import ingest_prices
from ingest.providers import Request
from ingest.providers.demo import DemoProvider
from tests.builders import refresh


def walks(conn: psycopg.Connection, symbols: list[str], day: dt.date) -> dict[str, float]:
    """The demo provider's close of each symbol (a pair: its rate) on ``day``."""
    sessions = pd.DataFrame(
        conn.execute(
            "select session_date, session_idx from market.trading_days"
            " where calendar = 'XNYS' order by session_date"
        ).fetchall(),
        columns=["session_date", "session_idx"],
    )
    frame = DemoProvider(sessions).fetch([Request(s, day, day) for s in symbols]).frame
    return {row.symbol: float(row.close) for row in frame.itertuples()}


@pytest.fixture
def euro(conn: psycopg.Connection) -> int:
    pid = demo_module.create_euro_portfolio(conn)
    ingest_prices(source="demo", symbols=["SPY", "VTV", "ISF.L", "^GSPC"], conn=conn)
    fx = ingest_fx(source="demo", conn=conn)
    assert fx.status == "succeeded" and fx.synthetic, fx
    run = refresh(conn, "full")
    assert run["status"] == "succeeded", run
    return pid


def test_demo_fx_rates_are_marked_synthetic_and_cover_the_portfolio(
    conn: psycopg.Connection, euro: int
) -> None:
    rows = conn.execute(
        "select base_currency, quote_currency, min(rate_date), max(rate_date),"
        " array_agg(distinct source) from market.fx_rates group by 1, 2 order by 1, 2"
    ).fetchall()
    last = calendar.last_closed_session(conn)
    # each pair from a year before it is first needed (USD: the ETFs' entry on 2024-01-02;
    # GBP: ISF.L's on 2024-03-01) through the last closed session, every row 'demo'
    assert rows == [
        ("EUR", "USD", dt.date(2023, 1, 3), last, ["demo"]),
        ("GBP", "USD", dt.date(2023, 3, 1), last, ["demo"]),
    ]
    assert conn.execute(
        "select base_currency from core.portfolios where portfolio_id = %s", [euro]
    ).fetchone() == ("EUR",)
    assert conn.execute(
        "select currency from market.symbols where symbol = 'ISF.L'"
    ).fetchone() == ("GBp",)


def test_demo_euro_portfolio_is_valued_in_eur_at_the_synthetic_rates(
    conn: psycopg.Connection, euro: int
) -> None:
    last = calendar.last_closed_session(conn)
    walk = walks(conn, ["SPY", "VTV", "ISF.L", "EURUSD=X", "GBPUSD=X"], last)
    eurusd, gbpusd = walk["EURUSD=X"], walk["GBPUSD=X"]
    units = {symbol: n for symbol, n, _ in demo_module.EURO}
    # local value x the synthetic rate = base value: USD / EURUSD; GBp / 100 x GBPUSD / EURUSD
    expected = {
        "SPY": (units["SPY"] * walk["SPY"], "USD", units["SPY"] * walk["SPY"] / eurusd),
        "VTV": (units["VTV"] * walk["VTV"], "USD", units["VTV"] * walk["VTV"] / eurusd),
        "ISF.L": (
            units["ISF.L"] * walk["ISF.L"],
            "GBp",
            units["ISF.L"] * walk["ISF.L"] / 100 * gbpusd / eurusd,
        ),
    }
    holdings = conn.execute(
        "select symbol, local_market_value, trading_currency, market_value, fx_rule, fx_rate"
        " from analytics.fct_portfolio_holdings where portfolio_id = %s order by symbol",
        [euro],
    ).fetchall()
    assert {row[0] for row in holdings} == set(expected)
    for symbol, local, currency, value, rule, rate in holdings:
        want_local, want_currency, want_value = expected[symbol]
        assert (currency, rule) == (want_currency, "session"), symbol
        assert local == pytest.approx(want_local, rel=1e-12), symbol
        assert value == pytest.approx(want_value, rel=1e-12), symbol
        whole = gbpusd / eurusd if currency == "GBp" else 1 / eurusd
        assert rate == pytest.approx(whole, rel=1e-12), symbol
    snapshot = conn.execute(
        "select market_value, base_currency, n_fx_session, n_fx_last_rate, n_fx_none,"
        " n_fx_activity from analytics.fct_portfolio_snapshots"
        " where portfolio_id = %s and session_date = %s",
        [euro, last],
    ).fetchone()
    assert snapshot[1:] == ("EUR", 3, 0, 0, 0)
    assert snapshot[0] == pytest.approx(sum(v for _, _, v in expected.values()), rel=1e-12)


def test_demo_euro_portfolio_cost_is_converted_at_each_entry_sessions_rate(
    conn: psycopg.Connection, euro: int
) -> None:
    """10 units bought on a session cost units x entry price / EURUSD of that session."""
    symbol, units, day = demo_module.EURO[0]  # SPY, entered 2024-01-02
    entry_price, entry_date = conn.execute(
        "select entry_price, entry_date from core.positions"
        " where portfolio_id = %s and symbol = %s",
        [euro, symbol],
    ).fetchone()
    assert entry_date == day  # 2024-01-02 is a session
    walk = walks(conn, [symbol, "EURUSD=X"], entry_date)
    assert float(entry_price) == round(walk[symbol], 2)
    inflow = conn.execute(
        "select inflow from analytics.fct_portfolio_snapshots"
        " where portfolio_id = %s and session_date = %s",
        [euro, entry_date],
    ).fetchone()[0]
    # VTV enters the same session: its inflow is the second term
    vtv_units = demo_module.EURO[1][1]
    vtv_price = conn.execute(
        "select entry_price from core.positions where portfolio_id = %s and symbol = 'VTV'",
        [euro],
    ).fetchone()[0]
    expected = (units * float(entry_price) + vtv_units * float(vtv_price)) / walk["EURUSD=X"]
    assert inflow == pytest.approx(expected, rel=1e-12)
