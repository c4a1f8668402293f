"""A return in the base currency split into its parts (issue 16, item 4; docs/semantics.md,
"The parts of a day's return" and "Chart caches"): the local price move at the previous
session's rate, the currency move on the day's local value, income and costs, each over the
daily return's denominator, summing to the day's return; a period's parts, each day's part
grown by the period's returns before it, summing to period_twr. Hand-worked from the inputs;
computed by a real refresh."""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg
import pytest

from tests.builders import add_portfolio, add_position, add_prices, refresh, snapshots
from tests.test_fx_conversion import add_rates

EMAIL = "fx-split@example.com"
SESSIONS = ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13"]  # 01-09 closed
SPY = dict(zip(SESSIONS, [590, 592, 594, 596, 598], strict=True))
# 1 EUR in USD; none on 01-08 (01-07's is used: no currency move that day)
EURUSD = {"2025-01-06": "1.04", "2025-01-07": "1.03", "2025-01-10": "1.025", "2025-01-13": "1.02"}
# the factor from 1 USD into EUR on each session
X = {"2025-01-06": 1 / 1.04, "2025-01-07": 1 / 1.03, "2025-01-08": 1 / 1.03}
X |= {"2025-01-10": 1 / 1.025, "2025-01-13": 1 / 1.02}
PARTS = ["price_return", "currency_return", "income_return", "cost_return"]


def _market(conn: psycopg.Connection) -> None:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "SPY", SPY)
    conn.execute("update market.symbols set currency = 'USD' where symbol in ('SPY', '^GSPC')")
    add_rates(conn, "EUR", "USD", EURUSD)


def _eur_portfolio(conn: psycopg.Connection, name: str) -> int:
    pid = add_portfolio(conn, name, email=EMAIL)
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [pid])
    return pid


def _import(conn: psycopg.Connection, name: str, rows: list[dict]) -> None:
    numbered = [{"line": str(i + 2), "currency": "EUR", **row} for i, row in enumerate(rows)]
    conn.execute(
        "select * from core.import_activities(%s, %s, %s::jsonb)",
        [EMAIL, name, json.dumps(numbered)],
    )


@pytest.fixture
def ledger(conn: psycopg.Connection) -> int:
    """A EUR ledger: 10,000 EUR deposited and 10 SPY bought for 567 EUR each on 01-06; a
    12 EUR dividend on 01-08; a 3 EUR fee on 01-10; 5 more SPY bought for 586 EUR each (fee
    1 EUR) on 01-13."""
    _market(conn)
    pid = _eur_portfolio(conn, "eur ledger")
    _import(
        conn,
        "eur ledger",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "10000"},
            {"activity_date": "2025-01-06", "activity_type": "BUY", "symbol": "SPY",
             "quantity": "10", "unit_price": "567"},
            {"activity_date": "2025-01-08", "activity_type": "DIVIDEND", "symbol": "SPY",
             "amount": "12"},
            {"activity_date": "2025-01-10", "activity_type": "FEE", "amount": "3"},
            {"activity_date": "2025-01-13", "activity_type": "BUY", "symbol": "SPY",
             "quantity": "5", "unit_price": "586", "fee": "1"},
        ],
    )  # fmt: skip
    run = refresh(conn, "full")
    assert run["status"] == "succeeded", run
    return pid


def _ledger_by_hand() -> dict[str, dict[str, float]]:
    """Each session's value and parts, worked out from the activities, closes and rates."""
    cash = {"2025-01-06": 4330.0, "2025-01-07": 4330.0, "2025-01-08": 4342.0}
    cash |= {"2025-01-10": 4339.0, "2025-01-13": 4339.0 - 5 * 586 - 1}
    units = {day: 10 for day in SESSIONS} | {"2025-01-13": 15}
    value = {day: cash[day] + units[day] * SPY[day] * X[day] for day in SESSIONS}
    out = {}
    first = SESSIONS[0]
    # the entry session: 10,000 in at the start, all of the move is price (nothing carried)
    out[first] = {
        "daily_return": value[first] / 10000 - 1,
        "price_return": value[first] / 10000 - 1,
    }
    out[first] |= {"currency_return": 0.0, "income_return": 0.0, "cost_return": 0.0}
    income = {"2025-01-08": 12.0}
    costs = {"2025-01-10": 3.0, "2025-01-13": 1.0}
    for before, day in zip(SESSIONS, SESSIONS[1:], strict=False):
        denominator = value[before]
        carried = 10  # the units held at the previous close, still held
        out[day] = {
            "daily_return": value[day] / denominator - 1,
            "currency_return": carried * SPY[day] * (X[day] - X[before]) / denominator,
            "income_return": income.get(day, 0.0) / denominator,
            "cost_return": -costs.get(day, 0.0) / denominator,
        }
        # held through: the local move at the previous rate; 01-13's 5 bought: their close in
        # EUR less the EUR paid
        bought = 5 * SPY[day] * X[day] - 5 * 586 if day == "2025-01-13" else 0.0
        out[day]["price_return"] = (
            carried * (SPY[day] - SPY[before]) * X[before] + bought
        ) / denominator
    return out


def test_a_eur_ledger_of_a_usd_etf_splits_each_day_into_price_currency_income_and_costs(
    conn: psycopg.Connection, ledger: int
) -> None:
    rows = snapshots(conn, ledger)
    expected = _ledger_by_hand()
    for day in SESSIONS:
        for column, value in expected[day].items():
            assert rows[day][column] == pytest.approx(value, abs=1e-13), (day, column)
        assert sum(rows[day][part] for part in PARTS) == pytest.approx(
            rows[day]["daily_return"], abs=1e-15
        )
    # 590 -> 592 USD while EURUSD 1.04 -> 1.03: price 2 / 590 of the ETF's part, currency
    # 592 / 590 x (1.04 / 1.03 - 1) of it
    held = 10 * 590 / 1.04 / (4330 + 10 * 590 / 1.04)
    assert rows["2025-01-07"]["price_return"] == pytest.approx(held * 2 / 590, abs=1e-15)
    assert rows["2025-01-07"]["currency_return"] == pytest.approx(
        held * 592 / 590 * (1.04 / 1.03 - 1), abs=1e-15
    )
    assert rows["2025-01-08"]["currency_return"] == 0  # the last rate: no move
    assert rows["2025-01-08"]["income_return"] > 0 and rows["2025-01-10"]["cost_return"] < 0


def test_a_period_splits_into_parts_grown_by_the_returns_before_them_and_summing_to_its_twr(
    conn: psycopg.Connection, ledger: int
) -> None:
    expected = _ledger_by_hand()
    charts = {
        row[0]: dict(zip(["period_twr", *PARTS], row[1:], strict=True))
        for row in conn.execute(
            "select period, period_twr, price_return, currency_return, income_return,"
            " cost_return from analytics.fct_chart_caches where portfolio_id = %s",
            [ledger],
        )
    }
    # MAX runs from 01-06's close: four sessions, C_k = sum of c_k(t) x prod(1 + r(s), s < t)
    days = SESSIONS[1:]
    by_hand = dict.fromkeys(PARTS, 0.0)
    grown = 1.0
    for day in days:
        for part in PARTS:
            by_hand[part] += expected[day][part] * grown
        grown *= 1 + expected[day]["daily_return"]
    assert charts["MAX"]["period_twr"] == pytest.approx(grown - 1, abs=1e-13)
    for part in PARTS:
        assert charts["MAX"][part] == pytest.approx(by_hand[part], abs=1e-13), part
    # 1D: 01-13 alone, its own parts
    for part in PARTS:
        assert charts["1D"][part] == pytest.approx(expected["2025-01-13"][part], abs=1e-13), part
    for period, chart in charts.items():
        assert sum(chart[part] for part in PARTS) == pytest.approx(
            chart["period_twr"], abs=1e-14
        ), period
    dashboard = conn.execute(
        "select twr_max, price_return_max, currency_return_max, income_return_max,"
        " cost_return_max, currency_return_1d from app.portfolio_dashboard"
        " where portfolio_id = %s",
        [ledger],
    ).fetchone()
    assert dashboard[0] == pytest.approx(charts["MAX"]["period_twr"], abs=1e-15)
    for part, value in zip(PARTS, dashboard[1:5], strict=True):
        assert value == pytest.approx(charts["MAX"][part], abs=1e-15)
    assert dashboard[5] == pytest.approx(charts["1D"]["currency_return"], abs=1e-15)
    # the S&P 500 from 100 to 105 USD over MAX: in EUR at 1 / 1.04 then 1 / 1.02, and in USD
    benchmark = conn.execute(
        "select benchmark_return, benchmark_return_local from analytics.fct_chart_caches"
        " where portfolio_id = %s and period = 'MAX'",
        [ledger],
    ).fetchone()
    assert benchmark[0] == pytest.approx(105 / 1.02 / (100 / 1.04) - 1, abs=1e-15)
    assert benchmark[1] == pytest.approx(105 / 100 - 1, abs=1e-15)
    assert conn.execute(
        "select benchmark_local_max from app.portfolio_dashboard where portfolio_id = %s",
        [ledger],
    ).fetchone()[0] == pytest.approx(0.05, abs=1e-15)


def test_a_position_exiting_keeps_its_exit_days_currency_move(conn: psycopg.Connection) -> None:
    """10 SPY entered on 01-06 at 590 USD, exited on 01-10 at 597 USD: the exit's proceeds
    in USD times the move of the rate from 01-08 (1 / 1.03) to 01-10 (1 / 1.025)."""
    _market(conn)
    pid = _eur_portfolio(conn, "eur positions")
    add_position(conn, pid, "SPY", 10, "2025-01-06", 590, "2025-01-10", 597)
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    assert list(rows)[-1] == "2025-01-10"
    # 01-06: entered at 590 and closed at 590, at that day's rate: nothing moved
    assert [rows["2025-01-06"][part] for part in PARTS] == pytest.approx([0, 0, 0, 0], abs=1e-15)
    before = 10 * 594 * X["2025-01-08"]
    exit_day = rows["2025-01-10"]
    assert exit_day["daily_return"] == pytest.approx(10 * 597 * X["2025-01-10"] / before - 1)
    assert exit_day["currency_return"] == pytest.approx(
        10 * 597 * (X["2025-01-10"] - X["2025-01-08"]) / before, abs=1e-15
    )
    assert exit_day["price_return"] == pytest.approx(
        10 * (597 - 594) * X["2025-01-08"] / before, abs=1e-15
    )
    assert rows["2025-01-07"]["currency_return"] == pytest.approx(
        10 * 592 * (X["2025-01-07"] - X["2025-01-06"]) / (10 * 590 * X["2025-01-06"]), abs=1e-15
    )


def test_a_usd_portfolio_of_usd_symbols_has_no_currency_part(conn: psycopg.Connection) -> None:
    _market(conn)
    pid = add_portfolio(conn, "usd", email=EMAIL)
    add_position(conn, pid, "SPY", 10, "2025-01-06", 590)
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    for day, row in rows.items():
        assert row["currency_return"] == 0, day
        assert row["price_return"] == row["daily_return"], day
    chart = conn.execute(
        "select period_twr, price_return, currency_return, income_return, cost_return"
        " from analytics.fct_chart_caches where portfolio_id = %s and period = 'MAX'",
        [pid],
    ).fetchone()
    assert chart[0] == pytest.approx(598 / 590 - 1, abs=1e-15)
    assert chart[1] == pytest.approx(chart[0], abs=1e-15) and chart[2:] == (0, 0, 0)


def test_a_pence_listing_moves_with_the_pound_crossed_through_the_dollar(
    conn: psycopg.Connection,
) -> None:
    """100 VOD.L at 7000 then 7050 pence in a EUR portfolio; GBPUSD 1.25 -> 1.24 and EURUSD
    1.04 -> 1.03: one pence is GBPUSD / EURUSD / 100 EUR."""
    _market(conn)
    add_prices(conn, "VOD.L", {"2025-01-06": 7000, "2025-01-07": 7050})
    conn.execute("update market.symbols set currency = 'GBp' where symbol = 'VOD.L'")
    with conn.cursor() as cur:
        for day, rate in {"2025-01-06": "1.25", "2025-01-07": "1.24"}.items():
            cur.execute(
                "insert into market.fx_rates (base_currency, quote_currency, rate_date, rate,"
                " source) values ('GBP', 'USD', %s, %s, 'csv')",
                [day, Decimal(rate)],
            )
    pid = _eur_portfolio(conn, "eur pence")
    add_position(conn, pid, "VOD.L", 100, "2025-01-06", 7000, "2025-01-08", 7050)
    assert refresh(conn, "full")["status"] == "succeeded"
    day = snapshots(conn, pid)["2025-01-07"]
    before, after = 1.25 / 1.04 / 100, 1.24 / 1.03 / 100
    denominator = 100 * 7000 * before
    assert day["currency_return"] == pytest.approx(
        100 * 7050 * (after - before) / denominator, abs=1e-15
    )
    assert day["price_return"] == pytest.approx(100 * 50 * before / denominator, abs=1e-15)
    assert day["daily_return"] == pytest.approx(7050 / 7000 * (1.24 / 1.03) / (1.25 / 1.04) - 1)
