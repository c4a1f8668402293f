"""The market's dividends of a holding in another currency, credited in the base currency
(issue 16; docs/semantics.md, "Currencies"), hand-worked: the amount per share is in the
symbol's trading currency (pence for a London listing), converted at the factor that values
the holding on the ex-date session: the market's rate of the session, else its last rate,
else the rate the portfolio's own activity of that session states; with none, not credited.
Computed by a real refresh."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.builders import add_portfolio, add_position, refresh, snapshots
from tests.test_fx_conversion import add_fx_market

# ex-dates: SPY on 01-08 (no EURUSD that day: 01-07's 1.03), VOD.L and NESN.SW on 01-10
DIVIDENDS = [
    ("SPY", "2025-01-08", "1.50"),
    ("VOD.L", "2025-01-10", "5.0"),
    ("NESN.SW", "2025-01-10", "2.0"),
]


@pytest.fixture
def market(conn: psycopg.Connection) -> psycopg.Connection:
    add_fx_market(conn)  # EURUSD has none on 01-08; CHF no rate at all
    with conn.cursor() as cur:
        for symbol, ex_date, amount in DIVIDENDS:
            cur.execute(
                "insert into market.dividends (symbol, ex_date, amount_per_share)"
                " values (%s, %s, %s)",
                [symbol, ex_date, amount],
            )
    return conn


def positions_portfolio(conn: psycopg.Connection, name: str, base: str) -> int:
    pid = add_portfolio(conn, name)
    conn.execute(
        "update core.portfolios set base_currency = %s where portfolio_id = %s", [base, pid]
    )
    add_position(conn, pid, "SPY", 10, "2025-01-06", 590)
    add_position(conn, pid, "VOD.L", 100, "2025-01-07", 7050)
    add_position(conn, pid, "NESN.SW", 5, "2025-01-06", 75)
    return pid


def test_a_eur_portfolio_is_credited_its_dividends_in_euros(market) -> None:
    conn = market
    pid = positions_portfolio(conn, "eur", "EUR")
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    # 01-08: 10 SPY x 1.50 USD at 01-07's EURUSD 1.03 (the last rate): 15 / 1.03 EUR
    spy = 10 * 1.50 / 1.03
    assert rows["2025-01-08"]["income"] == pytest.approx(spy, rel=1e-12)
    # 01-10: 100 VOD.L x 5 pence = 5 GBP at GBPUSD 1.22 / EURUSD 1.025; the Swiss share's
    # 2 CHF a share have no rate: not credited (its value is left out too)
    vod = 100 * 5.0 / 100 * 1.22 / 1.025
    assert rows["2025-01-10"]["income"] == pytest.approx(vod, rel=1e-12)
    assert rows["2025-01-10"]["n_fx_none"] == 1
    assert rows["2025-01-13"]["income_to_date"] == pytest.approx(spy + vod, rel=1e-12)
    assert rows["2025-01-13"]["cash_balance"] == pytest.approx(spy + vod, rel=1e-12)


def test_in_its_own_currency_a_dividend_is_as_paid_and_pence_are_pounds_over_100(market) -> None:
    conn = market
    usd = positions_portfolio(conn, "usd", "USD")
    gbp = positions_portfolio(conn, "gbp", "GBP")
    assert refresh(conn, "full")["status"] == "succeeded"
    usd_rows, gbp_rows = snapshots(conn, usd), snapshots(conn, gbp)
    assert usd_rows["2025-01-08"]["income"] == pytest.approx(15.0, abs=1e-12)  # 10 x 1.50
    # VOD.L in a GBP portfolio: 100 x 5 pence = 5.00 GBP, not converted
    assert gbp_rows["2025-01-10"]["income"] == pytest.approx(5.0, abs=1e-12)
    # SPY in the GBP portfolio: 15 USD at 01-08's GBPUSD 1.23 (USD -> GBP: 1 / 1.23)
    assert gbp_rows["2025-01-08"]["income"] == pytest.approx(15.0 / 1.23, rel=1e-12)


def test_without_a_market_rate_the_rate_the_ledger_states_that_session_converts(market) -> None:
    conn = market
    # a EUR ledger holding 5 NESN.SW (CHF: the market has no rate) sells one on the ex-date,
    # stating 0.96 EUR per CHF: the 5 shares held at the close before it are paid 2 CHF
    # each, converted at that rate; bought on 01-07 at 0.95, stated too
    rows = [
        {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "1000"},
        {
            "activity_date": "2025-01-07",
            "activity_type": "BUY",
            "symbol": "NESN.SW",
            "quantity": "5",
            "unit_price": str(76 * 0.95),
            "fx_rate": "0.95",
        },
        {
            "activity_date": "2025-01-10",
            "activity_type": "SELL",
            "symbol": "NESN.SW",
            "quantity": "1",
            "unit_price": str(78 * 0.96),
            "fx_rate": "0.96",
        },
    ]
    numbered = [{"line": str(i + 2), "currency": "EUR", **row} for i, row in enumerate(rows)]
    pid = conn.execute(
        "select portfolio_id from core.import_activities(%s, %s, %s::jsonb, %s)",
        ["chf@example.com", "chf ledger", json.dumps(numbered), "EUR"],
    ).fetchone()[0]
    assert refresh(conn, "full")["status"] == "succeeded"
    snaps = snapshots(conn, pid)
    assert snaps["2025-01-10"]["income"] == pytest.approx(5 * 2.0 * 0.96, rel=1e-12)
    assert snaps["2025-01-10"]["n_fx_activity"] == 1
    # cash: 1000 - 5 x 72.20 + 74.88 (the sale) + 9.60 (the dividend)
    assert snaps["2025-01-13"]["cash_balance"] == pytest.approx(
        1000 - 5 * 76 * 0.95 + 78 * 0.96 + 5 * 2.0 * 0.96, rel=1e-12
    )
