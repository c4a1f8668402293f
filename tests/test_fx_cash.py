"""Cash kept in its own currency (issue 16; docs/semantics.md, "Currencies", "Cash in other
currencies"), hand-worked: an activity in another currency than the base that states no
fx_rate moves cash in its own currency; each such balance is valued in the base every session
by the conversion that values a holding in that currency (session rate, last rate with its
age, none: left out and counted), its flows at that session's rate, and the FX move of the
balance carried from the previous close is the currency part of the day's return. Computed
by a real refresh."""

from __future__ import annotations

import pytest

from tests.builders import add_prices, refresh, snapshots
from tests.test_activity_currencies import import_ledger
from tests.test_fx_conversion import SESSIONS, add_rates

# 1 EUR in USD: none on 01-08 (the last rate, 1.10, one session old, values it)
EURUSD = {"2025-01-06": "1.08", "2025-01-07": "1.10", "2025-01-10": "1.05", "2025-01-13": "1.06"}


@pytest.fixture
def market(conn):
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    conn.execute("update market.symbols set currency = 'USD' where symbol = '^GSPC'")
    add_rates(conn, "EUR", "USD", EURUSD)
    return conn


@pytest.fixture
def eur_cash(market) -> tuple:
    """A USD ledger keeping EUR cash: 1,000 EUR deposited without a rate on 01-06 and 500 EUR
    on 01-07, 100 CHF (a currency with no rate at all) on 01-08, a 10 EUR fee on 01-10, and
    on 01-13 a 1,600 EUR withdrawal, more than the 1,490 EUR held."""
    conn = market
    pid = import_ledger(
        conn,
        "eurcash",
        "USD",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "1000", "currency": "EUR"},
            {"activity_date": "2025-01-07", "activity_type": "DEPOSIT", "amount": "500", "currency": "EUR"},
            {"activity_date": "2025-01-08", "activity_type": "DEPOSIT", "amount": "100", "currency": "CHF"},
            {"activity_date": "2025-01-10", "activity_type": "FEE", "amount": "10", "currency": "EUR"},
            {"activity_date": "2025-01-13", "activity_type": "WITHDRAWAL", "amount": "1600", "currency": "EUR"},
        ],
    )  # fmt: skip
    run = refresh(conn, "full")
    assert run["status"] == "succeeded", run
    return conn, pid


def test_eur_cash_is_valued_at_each_sessions_rate_and_its_fx_move_is_the_currency_return(
    eur_cash,
) -> None:
    conn, pid = eur_cash
    rows = snapshots(conn, pid)
    d6, d7, d8, d10, d13 = (rows[day] for day in SESSIONS)
    # 01-06: 1,000 EUR at 1.08, deposited: a flow, no return
    assert d6["cash_balance"] == pytest.approx(1080, rel=1e-12)
    assert d6["market_value"] == pytest.approx(1080, rel=1e-12)
    assert d6["inflow"] == pytest.approx(1080, rel=1e-12)
    assert (d6["n_fx_session"], d6["n_fx_last_rate"], d6["n_fx_none"]) == (1, 0, 0)
    assert d6["daily_return"] == 0
    # 01-07: 1,500 EUR at 1.10; the 500 EUR deposited at 1.10 is a flow; the 1,000 carried
    # gained 1,000 x 0.02: all of it currency
    assert d7["market_value"] == pytest.approx(1650, rel=1e-12)
    assert d7["inflow"] == pytest.approx(550, rel=1e-12)
    assert d7["daily_return"] == pytest.approx(20 / 1630, abs=1e-14)
    assert d7["currency_return"] == pytest.approx(20 / 1630, abs=1e-14)
    assert d7["price_return"] == pytest.approx(0, abs=1e-14)
    # 01-08: no EURUSD: the last rate, 1.10, one session old; the CHF has no rate at all: left
    # out of the value and of the inflow, counted
    assert d8["market_value"] == pytest.approx(1650, rel=1e-12)
    assert d8["inflow"] == 0
    assert (d8["n_fx_session"], d8["n_fx_last_rate"], d8["n_fx_none"]) == (0, 1, 1)
    assert d8["max_fx_stale_sessions"] == 1
    assert d8["daily_return"] == pytest.approx(0, abs=1e-14)
    # 01-10: a 10 EUR fee at 1.05 (10.50 USD of costs) from 1,500 EUR carried from 1.10 to 1.05
    assert d10["market_value"] == pytest.approx(1490 * 1.05, rel=1e-12)
    assert d10["costs"] == pytest.approx(10.5, rel=1e-12)
    assert d10["daily_return"] == pytest.approx((1564.5 - 1650) / 1650, abs=1e-14)
    assert d10["currency_return"] == pytest.approx(1500 * (1.05 - 1.10) / 1650, abs=1e-14)
    assert d10["cost_return"] == pytest.approx(-10.5 / 1650, abs=1e-14)
    assert d10["price_return"] == pytest.approx(0, abs=1e-14)
    assert (d10["n_fx_session"], d10["n_fx_none"]) == (1, 1)
    # 01-13: 1,600 EUR withdrawn from 1,490: 110 EUR deposited implicitly (at 1.06, an inflow
    # of 116.60 USD), the EUR balance 0 (no longer counted); 1,490 carried from 1.05 to 1.06
    assert d13["inflow"] == pytest.approx(110 * 1.06, rel=1e-12)
    assert d13["outflow"] == pytest.approx(1600 * 1.06, rel=1e-12)
    assert d13["market_value"] == pytest.approx(0, abs=1e-9)
    denominator = 1564.5 + 116.6
    assert d13["daily_return"] == pytest.approx(14.9 / denominator, abs=1e-14)
    assert d13["currency_return"] == pytest.approx(1490 * 0.01 / denominator, abs=1e-14)
    assert (d13["n_fx_session"], d13["n_fx_last_rate"], d13["n_fx_none"]) == (0, 0, 1)
    # the deposits and the withdrawal are flows: the chained return is the currency moves and
    # the fee only
    chained = (1 + 20 / 1630) * (1 - 85.5 / 1650) * (1 + 14.9 / denominator) - 1
    assert d13["cum_twr"] == pytest.approx(chained, abs=1e-14)
    parts = sum(d13[f"cum_{part}_return"] for part in ("price", "currency", "income", "cost"))
    assert parts == pytest.approx(chained, abs=1e-14)


def test_cash_in_another_currency_needs_its_rate_and_keeps_its_local_balance(eur_cash) -> None:
    conn, pid = eur_cash
    needed = conn.execute(
        "select currency, needed_from::text from ops.currencies_needed(%s) order by currency", [pid]
    ).fetchall()
    assert needed == [("CHF", "2025-01-08"), ("EUR", "2025-01-06")]
    cash = conn.execute(
        "select currency, sum(cash_change), sum(implicit_deposit) from analytics.int_cash_daily"
        " where portfolio_id = %s group by currency order by currency",
        [pid],
    ).fetchall()
    assert [(c, float(b), float(i)) for c, b, i in cash] == [("CHF", 100, 0), ("EUR", 0, 110)]


def test_the_read_contract_shows_cash_per_currency(market) -> None:
    """app.cash_balances: each currency's balance at the latest snapshot, its rate, rule and
    value in the base; their sum is the dashboard's cash (the total in the base)."""
    conn = market
    pid = import_ledger(
        conn,
        "cashview",
        "USD",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "500"},
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "1000", "currency": "EUR"},
            {"activity_date": "2025-01-08", "activity_type": "DEPOSIT", "amount": "100", "currency": "CHF"},
            {"activity_date": "2025-01-10", "activity_type": "INTEREST", "amount": "20", "currency": "EUR"},
        ],
    )  # fmt: skip
    assert refresh(conn, "full")["status"] == "succeeded"
    conn.execute("set role folio_reader")
    try:
        cur = conn.execute(
            "select * from app.cash_balances where portfolio_id = %s order by currency", [pid]
        )
        names = [c.name for c in cur.description]
        rows = {row[names.index("currency")]: dict(zip(names, row, strict=True)) for row in cur}
        dashboard = conn.execute(
            "select cash_balance, market_value, as_of from app.portfolio_dashboard"
            " where portfolio_id = %s",
            [pid],
        ).fetchone()
    finally:
        conn.execute("reset role")
    assert set(rows) == {"CHF", "EUR", "USD"}
    eur, chf, usd = rows["EUR"], rows["CHF"], rows["USD"]
    assert str(eur["as_of"]) == "2025-01-13" == str(dashboard[2])
    # 1,020 EUR at 01-13's 1.06
    assert (eur["balance"], eur["fx_rule"], eur["base_currency"]) == (1020, "session", "USD")
    assert eur["fx_rate"] == pytest.approx(1.06, rel=1e-12)
    assert eur["market_value"] == pytest.approx(1081.2, rel=1e-12)
    # CHF has no rate: no value (left out of the cash), counted by the snapshot
    assert (chf["balance"], chf["fx_rule"], chf["fx_rate"], chf["market_value"]) == (
        100,
        "none",
        None,
        None,
    )
    assert (usd["balance"], usd["fx_rule"], usd["fx_rate"], usd["market_value"]) == (
        500,
        "base",
        None,
        500,
    )
    # the dashboard's cash is the total in the base
    assert dashboard[0] == pytest.approx(500 + 1081.2, rel=1e-12)
    assert dashboard[1] == pytest.approx(500 + 1081.2, rel=1e-12)
    # the holdings' read rules: a private portfolio's cash is its user's alone
    owner = conn.execute(
        "update core.portfolios set is_public = false where portfolio_id = %s returning user_id",
        [pid],
    ).fetchone()[0]
    other = conn.execute(
        "insert into core.users (email) values ('other@example.com') returning user_id"
    ).fetchone()[0]
    seen = {}
    conn.execute("set role folio_reader")
    try:
        for user in (owner, other):
            conn.execute("select set_config('foliodb.user_id', %s, false)", [str(user)])
            seen[user] = conn.execute(
                "select count(*) from app.cash_balances where portfolio_id = %s", [pid]
            ).fetchone()[0]
    finally:
        conn.execute("reset role")
        conn.execute("select set_config('foliodb.user_id', '', false)")
    assert seen == {owner: 3, other: 0}


def test_cash_takes_the_rate_a_trade_of_the_session_states_where_the_market_has_none(
    conn,
) -> None:
    """The same conversion as a holding: CHF has no market rate at all; on 01-07 a buy of a
    CHF share states 1.12 USD per CHF (rule activity), which converts the CHF cash that
    session too, and a CHF dividend without a rate lands in the CHF cash."""
    from tests.test_fx_conversion import add_fx_market

    add_fx_market(conn)  # NESN.SW 75, 76, 77 ... CHF; no CHF rate
    pid = import_ledger(
        conn,
        "chf",
        "USD",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "100", "currency": "CHF"},
            # 76 CHF at 1.12: 85.12 USD, paid in the base (an implicit USD deposit)
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "NESN.SW",
             "quantity": "1", "unit_price": "85.12", "fx_rate": "1.12"},
            {"activity_date": "2025-01-07", "activity_type": "DIVIDEND", "symbol": "NESN.SW",
             "amount": "5", "currency": "CHF"},
        ],
    )  # fmt: skip
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    d6, d7, d8 = rows["2025-01-06"], rows["2025-01-07"], rows["2025-01-08"]
    # 01-06: 100 CHF, no rate: left out (and its deposit with it), counted
    assert (d6["market_value"], d6["inflow"], d6["n_fx_none"], d6["n_fx_activity"]) == (0, 0, 1, 0)
    # 01-07: the trade's 1.12 converts the share (76 CHF) and the 105 CHF of cash
    assert (d7["n_fx_activity"], d7["n_fx_none"]) == (2, 0)
    assert d7["cash_balance"] == pytest.approx(105 * 1.12, rel=1e-12)
    assert d7["market_value"] == pytest.approx(105 * 1.12 + 76 * 1.12, rel=1e-12)
    assert d7["income"] == pytest.approx(5 * 1.12, rel=1e-12)
    assert d7["inflow"] == pytest.approx(85.12, rel=1e-12)
    # the cash joining the total is no currency move (no rate the session before): price
    assert d7["currency_return"] == 0
    assert d7["daily_return"] == pytest.approx((105 * 1.12 + 76 * 1.12 - 85.12) / 85.12, abs=1e-14)
    assert d7["income_return"] == pytest.approx(5 * 1.12 / 85.12, abs=1e-14)
    # 01-08: no rate again (none is carried forward from an activity)
    assert (d8["n_fx_none"], d8["n_fx_activity"], d8["cash_balance"]) == (2, 0, 0)
