"""A trade paid from cash in another currency (issue 16; docs/semantics.md, "A trade paid from
cash in another currency"), hand-worked: a buy or sell of a security in its own currency,
other than the base, that states no fx_rate moves cash in that currency (an implicit deposit
of that currency funds a shortfall); the lot's cost and the sale's proceeds are in the base
at the factor of the trade's session that values that cash (the session's rate, else the
last rate with its age; no rate at all: unknown, left out and counted, never 1.0), and the
realized gain in the base follows; where the market has no rate, the rate the session's
activities imply. Rows of Portfolio Performance and Wealthfolio that were refused for want of
a rate are read this way. Computed by a real refresh."""

from __future__ import annotations

import psycopg
import pytest

from tests.builders import add_prices, refresh, snapshots
from tests.test_activity_currencies import import_ledger
from tests.test_fx_conversion import SESSIONS, add_rates

# 1 EUR in USD: none on 01-08 (the last rate, 1.10, one session old, converts it)
EURUSD = {"2025-01-06": "1.08", "2025-01-07": "1.10", "2025-01-10": "1.05", "2025-01-13": "1.06"}
# a share traded in EUR (SAP.DE) and one in CHF, which has no rate at all (NESN.SW)
SAP = dict(zip(SESSIONS, [200, 202, 204, 201, 205], strict=True))
NESN = dict(zip(SESSIONS, [75, 76, 77, 78, 79], strict=True))


@pytest.fixture
def market(conn: psycopg.Connection) -> psycopg.Connection:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "SAP.DE", SAP)
    add_prices(conn, "NESN.SW", NESN)
    conn.execute(
        "update market.symbols set currency = case symbol when 'SAP.DE' then 'EUR'"
        " when 'NESN.SW' then 'CHF' else 'USD' end"
        " where symbol in ('^GSPC', 'SAP.DE', 'NESN.SW')"
    )
    add_rates(conn, "EUR", "USD", EURUSD)
    return conn


def holdings(conn: psycopg.Connection, pid: int) -> dict[str, dict]:
    cur = conn.execute(
        "select * from analytics.fct_portfolio_holdings where portfolio_id = %s", [pid]
    )
    names = [c.name for c in cur.description]
    return {row[names.index("symbol")]: dict(zip(names, row, strict=True)) for row in cur}


@pytest.fixture
def eur_trades(market) -> tuple[psycopg.Connection, int]:
    """A USD ledger: 1,000 EUR deposited on 01-06 (no rate); 4 SAP.DE bought at 202 EUR with a
    2 EUR fee on 01-07; 1 more at 204 EUR on 01-08 (no EURUSD that session: 14 EUR short, an
    implicit EUR deposit); 3 sold at 201 EUR with a 1 EUR fee on 01-10. No trade states a rate."""
    conn = market
    pid = import_ledger(
        conn,
        "eurtrades",
        "USD",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "1000", "currency": "EUR"},
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "SAP.DE", "quantity": "4",
             "unit_price": "202", "fee": "2", "currency": "EUR"},
            {"activity_date": "2025-01-08", "activity_type": "BUY", "symbol": "SAP.DE", "quantity": "1",
             "unit_price": "204", "currency": "EUR"},
            {"activity_date": "2025-01-10", "activity_type": "SELL", "symbol": "SAP.DE", "quantity": "3",
             "unit_price": "201", "fee": "1", "currency": "EUR"},
        ],
    )  # fmt: skip
    run = refresh(conn, "full")
    assert run["status"] == "succeeded", run
    return conn, pid


def test_a_buy_in_eur_is_paid_from_eur_cash_and_its_cost_is_in_usd_at_the_sessions_rate(
    eur_trades,
) -> None:
    conn, pid = eur_trades
    d6, d7, d8, d10, d13 = (snapshots(conn, pid)[day] for day in SESSIONS)
    assert d6["market_value"] == pytest.approx(1080, rel=1e-12)
    # 01-07: 808 EUR + 2 EUR fee from the EUR cash: 190 EUR left, at 1.10: 209 USD; the lot
    # costs 4 x 202 x 1.10 = 888.80 USD, valued at its close 202 x 1.10: no gain yet
    assert d7["cash_balance"] == pytest.approx(190 * 1.10, rel=1e-12)
    assert d7["cost_basis"] == pytest.approx(888.80, rel=1e-12)
    assert d7["market_value"] == pytest.approx(209 + 888.80, rel=1e-12)
    assert d7["unrealized_pnl"] == pytest.approx(0, abs=1e-9)
    assert d7["costs"] == pytest.approx(2.20, rel=1e-12)
    assert d7["inflow"] == 0  # a trade is no flow
    assert (d7["n_fx_session"], d7["n_fx_last_rate"], d7["n_fx_none"]) == (2, 0, 0)
    # the 1,000 EUR carried from 1.08 to 1.10 is the currency part; the fee a cost; no price move
    assert d7["daily_return"] == pytest.approx(17.8 / 1080, abs=1e-14)
    assert d7["currency_return"] == pytest.approx(20 / 1080, abs=1e-14)
    assert d7["cost_return"] == pytest.approx(-2.2 / 1080, abs=1e-14)
    assert d7["price_return"] == pytest.approx(0, abs=1e-14)


def test_a_shortfall_is_an_implicit_eur_deposit_and_a_missing_rate_takes_the_last_one(
    eur_trades,
) -> None:
    conn, pid = eur_trades
    d8 = snapshots(conn, pid)["2025-01-08"]
    # 204 EUR from 190: 14 EUR deposited implicitly, an inflow of 14 x 1.10 (the last rate)
    assert d8["inflow"] == pytest.approx(15.40, rel=1e-12)
    assert d8["cash_balance"] == pytest.approx(0, abs=1e-9)
    # the lot's cost at 1.10, one session old: 224.40 USD; 5 SAP.DE at 204 x 1.10
    assert d8["cost_basis"] == pytest.approx(888.80 + 224.40, rel=1e-12)
    assert d8["market_value"] == pytest.approx(5 * 204 * 1.10, rel=1e-12)
    assert d8["unrealized_pnl"] == pytest.approx(4 * 2 * 1.10, rel=1e-12)
    # the holding valued at the last rate, its age counted (the EUR balance is 0: not counted)
    assert (d8["n_fx_session"], d8["n_fx_last_rate"], d8["n_fx_none"]) == (0, 1, 0)
    assert d8["max_fx_stale_sessions"] == 1
    assert d8["daily_return"] == pytest.approx(8.8 / (1097.8 + 15.4), abs=1e-14)
    cash = conn.execute(
        "select sum(implicit_deposit) from analytics.int_cash_daily"
        " where portfolio_id = %s and currency = 'EUR'",
        [pid],
    ).fetchone()[0]
    assert float(cash) == 14


def test_a_sale_in_eur_credits_eur_cash_and_realizes_its_gain_in_usd(eur_trades) -> None:
    conn, pid = eur_trades
    rows = snapshots(conn, pid)
    d10, d13 = rows["2025-01-10"], rows["2025-01-13"]
    # 3 x 201 - 1 = 602 EUR into the EUR cash; the proceeds 3 x 201 x 1.05 = 633.15 USD less
    # the first lot's 3 x 202 x 1.10 = 666.60 USD: -33.45 USD realized (FIFO)
    assert d10["realized_gain"] == pytest.approx(-33.45, rel=1e-12)
    assert d10["cash_balance"] == pytest.approx(602 * 1.05, rel=1e-12)
    assert d10["costs"] == pytest.approx(1.05, rel=1e-12)
    # left: 1 unit at 222.20 and 1 at 224.40 USD
    assert d10["cost_basis"] == pytest.approx(446.60, rel=1e-12)
    assert d10["market_value"] == pytest.approx(602 * 1.05 + 2 * 201 * 1.05, rel=1e-12)
    assert d10["unrealized_pnl"] == pytest.approx(2 * 201 * 1.05 - 446.60, rel=1e-12)
    # the 2 units carried through the day move with the rate; the 3 sold are a trade at its
    # base-currency price (price part); the fee a cost
    assert d10["daily_return"] == pytest.approx((1054.20 - 1122) / 1122, abs=1e-14)
    assert d10["currency_return"] == pytest.approx(2 * 201 * (1.05 - 1.10) / 1122, abs=1e-14)
    assert d10["cost_return"] == pytest.approx(-1.05 / 1122, abs=1e-14)
    assert d10["price_return"] == pytest.approx((-67.8 + 20.10 + 1.05) / 1122, abs=1e-14)
    assert d13["realized_gain_to_date"] == pytest.approx(-33.45, rel=1e-12)
    assert d13["market_value"] == pytest.approx(602 * 1.06 + 2 * 205 * 1.06, rel=1e-12)
    # the holding and the EUR cash at the latest snapshot
    sap = holdings(conn, pid)["SAP.DE"]
    assert float(sap["quantity"]) == 2
    assert sap["cost_basis"] == pytest.approx(446.60, rel=1e-12)
    assert sap["market_value"] == pytest.approx(2 * 205 * 1.06, rel=1e-12)
    assert sap["unrealized_pnl"] == pytest.approx(2 * 205 * 1.06 - 446.60, rel=1e-12)
    assert (sap["trading_currency"], sap["fx_rule"], float(sap["local_market_value"])) == (
        "EUR",
        "session",
        410,
    )
    eur = conn.execute(
        "select balance, fx_rule, market_value, implicit_deposits from app.cash_balances"
        " where portfolio_id = %s and currency = 'EUR'",
        [pid],
    ).fetchone()
    # the 14 EUR deposited implicitly for the 01-08 buy, shown as such (in the balance)
    assert (float(eur[0]), eur[1], float(eur[3])) == (602, "session", 14)
    assert eur[2] == pytest.approx(602 * 1.06, rel=1e-12)


def test_a_trade_with_no_rate_at_all_has_an_unknown_cost_left_out_and_counted(market) -> None:
    """CHF has no rate: 2 NESN.SW bought from CHF cash on 01-07 have no cost in USD (never
    76 x 1.0): the holding, its cost and the CHF cash are left out and counted in n_fx_none;
    the gain of the one sold on 01-10 is left out too; the USD holding beside them is
    valued as always."""
    conn = market
    pid = import_ledger(
        conn,
        "chftrades",
        "USD",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "200", "currency": "CHF"},
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "500"},
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "NESN.SW", "quantity": "2",
             "unit_price": "76", "currency": "CHF"},
            {"activity_date": "2025-01-10", "activity_type": "SELL", "symbol": "NESN.SW", "quantity": "1",
             "unit_price": "78", "currency": "CHF"},
        ],
    )  # fmt: skip
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    d7, d10, d13 = rows["2025-01-07"], rows["2025-01-10"], rows["2025-01-13"]
    for day in (d7, d10, d13):
        assert day["market_value"] == pytest.approx(500, rel=1e-12)
        assert day["cost_basis"] == 0
        assert day["n_fx_none"] == 2  # the CHF cash (48, then 126) and the holding
    assert d10["realized_gain"] == 0
    assert d13["realized_gain_to_date"] == 0
    lots = conn.execute(
        "select entry_price, realized_gain from analytics.int_lots_matched"
        " where portfolio_id = %s order by piece_no",
        [pid],
    ).fetchall()
    assert lots == [(None, None), (None, None)]
    nesn = holdings(conn, pid)["NESN.SW"]
    assert (nesn["cost_basis"], nesn["market_value"], nesn["fx_rule"], nesn["fx_rate"]) == (
        None,
        None,
        "none",
        None,
    )
    assert float(nesn["local_market_value"]) == 79


def test_a_correction_of_the_rate_on_the_trade_session_reprices_the_lot(eur_trades) -> None:
    """The lot's cost follows the market's rate of its session: a corrected 01-07 EURUSD
    (1.10 -> 1.12) queues the ledger from 01-07, and an incremental refresh recomputes the
    lots (their inputs digest names the rate) and the realized gain."""
    conn, pid = eur_trades
    changed = conn.execute(
        "update market.fx_rates set rate = 1.12 where base_currency = 'EUR'"
        " and quote_currency = 'USD' and rate_date = '2025-01-07'"
    ).rowcount
    assert changed == 1
    queued = conn.execute(
        "select min(from_date)::text from ops.dirty_portfolios where portfolio_id = %s", [pid]
    ).fetchall()
    assert queued == [("2025-01-07",)]
    assert refresh(conn, "incremental")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    assert rows["2025-01-07"]["cost_basis"] == pytest.approx(4 * 202 * 1.12, rel=1e-12)
    # the 01-08 buy's last rate is now 1.12 too
    assert rows["2025-01-08"]["cost_basis"] == pytest.approx(5 * 202 * 1.12 + 2 * 1.12, rel=1e-12)
    assert rows["2025-01-10"]["realized_gain"] == pytest.approx(
        3 * 201 * 1.05 - 3 * 202 * 1.12, rel=1e-12
    )


def test_portfolio_performance_and_wealthfolio_trades_from_a_eur_account_are_accepted(
    market, tmp_path
) -> None:
    """Rows the import refused before (a trade in the security's own currency, other than the
    base, with no rate): Portfolio Performance's buy of SAP.DE from a EUR account and
    Wealthfolio's sale of it in EUR with no fxRate, into a USD portfolio, are paid from (and
    into) its EUR cash, the lot's cost at the market's EURUSD of the session."""
    from foliodb import activities as ledger

    pp = tmp_path / "pp_eur_account.csv"
    pp.write_text(
        "Date,Type,Value,Transaction Currency,Gross Amount,Currency Gross Amount,Exchange Rate,"
        "Fees,Taxes,Shares,ISIN,WKN,Ticker Symbol,Security Name,Note\n"
        "2025-01-06T00:00,Deposit,1000.00,EUR,,,,,,,,,,,\n"
        "2025-01-07T00:00,Buy,-810.00,EUR,,,,2.00,,4,DE0007164600,716460,SAP.DE,SAP,\n"
    )
    wealthfolio = tmp_path / "wealthfolio.csv"
    wealthfolio.write_text(
        "date,symbol,quantity,activityType,unitPrice,currency,fee,amount,fxRate\n"
        "2025-01-10,SAP.DE,3,SELL,201,EUR,1,,\n"
    )
    rows = [
        row
        for path, fmt in ((pp, "pp"), (wealthfolio, "wealthfolio"))
        for row in ledger.read_activities(path, fmt, "USD")
    ]
    assert [(row["currency"], row.get("fx_rate")) for row in rows] == [("EUR", None)] * 3
    conn = market
    pid = ledger.import_activities(conn, "formats@example.com", "formats", rows, "files", "USD")
    pid = pid.portfolio_id
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    # as hand-worked above: 190 EUR left on 01-07, the lot 888.80 USD; 3 sold on 01-10 from
    # the 4 bought at 202 x 1.10: 3 x 201 x 1.05 - 3 x 222.20 realized, 792 EUR of cash
    assert rows["2025-01-07"]["cost_basis"] == pytest.approx(888.80, rel=1e-12)
    assert rows["2025-01-07"]["cash_balance"] == pytest.approx(190 * 1.10, rel=1e-12)
    assert rows["2025-01-10"]["realized_gain"] == pytest.approx(633.15 - 666.60, rel=1e-12)
    assert rows["2025-01-10"]["cash_balance"] == pytest.approx(792 * 1.05, rel=1e-12)
    assert rows["2025-01-10"]["cost_basis"] == pytest.approx(222.20, rel=1e-12)


def test_where_the_market_has_no_rate_the_trade_takes_the_rate_the_sessions_activities_imply(
    market,
) -> None:
    """CHF has no market rate; on 01-07 a buy of NESN.SW in USD states 1.12 USD per CHF (rule
    activity), and a second buy that session, from CHF cash, takes that rate too: its lot costs
    76 x 1.12 USD, as the CHF cash it was paid from is valued that session. On 01-08 there is
    no rate again: the holding's value and the cash are left out and counted, the costs (known)
    stay."""
    conn = market
    pid = import_ledger(
        conn,
        "chfactivity",
        "USD",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "100", "currency": "CHF"},
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "NESN.SW", "quantity": "1",
             "unit_price": "85.12", "fx_rate": "1.12"},
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "NESN.SW", "quantity": "1",
             "unit_price": "76", "currency": "CHF"},
        ],
    )  # fmt: skip
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    d7, d8 = rows["2025-01-07"], rows["2025-01-08"]
    assert d7["cost_basis"] == pytest.approx(2 * 85.12, rel=1e-12)
    # 2 NESN.SW at 76 CHF and the 24 CHF left, all at 1.12; the 85.12 USD paid in the base was
    # deposited implicitly
    assert d7["market_value"] == pytest.approx(2 * 76 * 1.12 + 24 * 1.12, rel=1e-12)
    assert (d7["n_fx_activity"], d7["n_fx_none"]) == (2, 0)
    assert d8["cost_basis"] == pytest.approx(2 * 85.12, rel=1e-12)
    assert (d8["market_value"], d8["n_fx_activity"], d8["n_fx_none"]) == (0, 0, 2)
