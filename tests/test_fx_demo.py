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
    # each pair from a year before it is first needed (USD: the ETFs' buys on 2024-01-02;
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
    cash = conn.execute(
        "select cash_balance from analytics.fct_portfolio_snapshots"
        " where portfolio_id = %s and session_date = %s",
        [euro, last],
    ).fetchone()[0]
    assert snapshot[0] == pytest.approx(cash + sum(v for _, _, v in expected.values()), rel=1e-12)


def test_demo_euro_ledger_pays_each_buy_in_eur_at_the_synthetic_rate_it_states(
    conn: psycopg.Connection, euro: int
) -> None:
    """Each buy is paid in EUR: the demo close times the synthetic rate of its session (EUR per
    USD = 1 / EURUSD; per GBP = GBPUSD / EURUSD, pence / 100), the rate stated as fx_rate. The
    ledger's cost is that EUR paid; its cash the deposit less the buys."""
    stored = conn.execute(
        "select symbol, quantity, unit_price, fx_rate, activity_date from core.activities"
        " where portfolio_id = %s and activity_type = 'BUY' order by symbol",
        [euro],
    ).fetchall()
    assert [row[0] for row in stored] == ["ISF.L", "SPY", "VTV"]
    paid = 0.0
    for symbol, units, unit_price, fx_rate, day in stored:
        walk = walks(conn, [symbol, "EURUSD=X", "GBPUSD=X"], day)
        if symbol == "ISF.L":
            assert day == dt.date(2024, 3, 1)
            rate, local_price = walk["GBPUSD=X"] / walk["EURUSD=X"], walk[symbol] / 100
        else:
            assert day == dt.date(2024, 1, 2)
            rate, local_price = 1 / walk["EURUSD=X"], walk[symbol]
        assert float(fx_rate) == pytest.approx(rate, abs=5e-7)
        assert float(unit_price) == pytest.approx(local_price * float(fx_rate), abs=5e-5)
        paid += float(units * unit_price)
    last = calendar.last_closed_session(conn)
    snapshot = conn.execute(
        "select cost_basis, cash_balance from analytics.fct_portfolio_snapshots"
        " where portfolio_id = %s and session_date = %s",
        [euro, last],
    ).fetchone()
    assert snapshot[0] == pytest.approx(paid, rel=1e-12)
    assert snapshot[1] == pytest.approx(demo_module.EURO_DEPOSIT[1] - paid, rel=1e-12)
