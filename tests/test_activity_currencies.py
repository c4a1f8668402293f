"""Activities in a currency other than the portfolio's base (issue 16; docs/semantics.md,
"Currencies"), hand-worked: their unit price, amount and fee convert into the base at the
activity's own fx_rate (base per unit of its currency), which the import requires; a
security's activity is in the base or in the security's currency. The cash they move lands
in the base currency's balance. Computed by a real refresh."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.builders import refresh, snapshots
from tests.test_fx_conversion import add_fx_market


@pytest.fixture
def market(conn: psycopg.Connection) -> psycopg.Connection:
    add_fx_market(conn)  # SPY 590..598 USD, EURUSD 1.04 .. 1.02 (none on 01-08)
    return conn


def import_ledger(conn: psycopg.Connection, name: str, base: str, rows: list[dict]) -> int:
    numbered = [{"line": str(i + 2), **row} for i, row in enumerate(rows)]
    return conn.execute(
        "select portfolio_id from core.import_activities(%s, %s, %s::jsonb, %s)",
        [f"{name}@example.com", name, json.dumps(numbered), base],
    ).fetchone()[0]


def test_a_eur_deposit_and_a_usd_dividend_land_in_a_usd_cash_balance(market) -> None:
    conn = market
    pid = import_ledger(
        conn,
        "usd",
        "USD",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "1000",
             "currency": "EUR", "fx_rate": "1.08"},
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "SPY",
             "quantity": "1", "unit_price": "592"},
            {"activity_date": "2025-01-08", "activity_type": "DIVIDEND", "symbol": "SPY",
             "amount": "1.50"},
            {"activity_date": "2025-01-10", "activity_type": "FEE", "amount": "2",
             "currency": "EUR", "fx_rate": "1.07"},
        ],
    )  # fmt: skip
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    # 1,000 EUR at 1.08 USD per EUR: 1,080 USD deposited
    assert rows["2025-01-06"]["inflow"] == pytest.approx(1080, abs=1e-9)
    assert rows["2025-01-06"]["cash_balance"] == pytest.approx(1080, abs=1e-9)
    assert rows["2025-01-08"]["income"] == pytest.approx(1.50, abs=1e-12)
    # the 2 EUR fee at 1.07: 2.14 USD of costs
    assert rows["2025-01-10"]["costs"] == pytest.approx(2.14, abs=1e-12)
    assert rows["2025-01-13"]["cash_balance"] == pytest.approx(1080 - 592 + 1.50 - 2.14, abs=1e-9)


def test_a_eur_ledger_trading_a_usd_share_in_dollars(market) -> None:
    conn = market
    pid = import_ledger(
        conn,
        "eur",
        "EUR",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "6000"},
            # 10 SPY at 590 USD and a 1 USD fee, settled at 0.96 EUR per USD
            {"activity_date": "2025-01-06", "activity_type": "BUY", "symbol": "SPY",
             "quantity": "10", "unit_price": "590", "fee": "1", "currency": "USD",
             "fx_rate": "0.96"},
            # 4 sold at 600 USD, settled at 0.95
            {"activity_date": "2025-01-10", "activity_type": "SELL", "symbol": "SPY",
             "quantity": "4", "unit_price": "600", "currency": "USD", "fx_rate": "0.95"},
        ],
    )  # fmt: skip
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    first, last = rows["2025-01-06"], rows["2025-01-13"]
    assert first["cost_basis"] == pytest.approx(10 * 590 * 0.96, rel=1e-12)  # 5,664 EUR
    assert first["costs"] == pytest.approx(0.96, rel=1e-12)
    assert first["cash_balance"] == pytest.approx(6000 - 5664 - 0.96, rel=1e-12)
    # valued at the market's rate of the session (EURUSD 1.04), not the activity's
    assert first["market_value"] == pytest.approx(6000 - 5664 - 0.96 + 10 * 590 / 1.04, rel=1e-12)
    # the sale: 2,280 EUR for 4 units that cost 4 x 566.40: 14.40 EUR realized
    assert rows["2025-01-10"]["realized_gain"] == pytest.approx(2280 - 4 * 566.40, rel=1e-12)
    assert last["cost_basis"] == pytest.approx(6 * 566.40, rel=1e-12)
    assert last["cash_balance"] == pytest.approx(6000 - 5664 - 0.96 + 2280, rel=1e-12)
    assert last["market_value"] == pytest.approx(
        6000 - 5664 - 0.96 + 2280 + 6 * 598 / 1.02, rel=1e-12
    )


@pytest.mark.parametrize(
    ("base", "row", "expected"),
    [
        (
            "EUR",
            {
                "activity_type": "BUY",
                "symbol": "NEWCO",
                "quantity": "1",
                "unit_price": "590",
                "currency": "USD",
            },
            "line 2 (fx_rate): required: the activity is in USD, the portfolio in EUR and NEWCO's"
            " trading currency is not known: the rate its money was converted at, EUR per USD"
            " (e.g. 1.0842); or set the trading currency (folio ingest currencies NEWCO=USD) to"
            " pay the BUY from USD cash",
        ),
        (
            "EUR",
            {
                "activity_type": "BUY",
                "symbol": "SPY",
                "quantity": "1",
                "unit_price": "500",
                "currency": "GBP",
                "fx_rate": "1.2",
            },
            "line 2 (currency): 'GBP' is neither the portfolio's base currency, EUR, nor SPY's"
            " trading currency, USD: a BUY of a security is in one of those two",
        ),
        (
            "USD",
            {"activity_type": "DEPOSIT", "amount": "100", "fx_rate": "1.1"},
            "line 2 (fx_rate): DEPOSIT in the base currency moves no money in another currency",
        ),
    ],  # fmt: skip
)
def test_an_activity_in_another_currency_is_refused_without_what_converts_it(
    market, base: str, row: dict, expected: str
) -> None:
    conn = market
    with pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
        import_ledger(conn, "refused", base, [{"activity_date": "2025-01-07", **row}])
    assert expected in str(refused.value)
    assert conn.execute("select count(*) from core.activities").fetchone() == (0,)


def test_wealthfolio_fx_rate_of_an_activity_in_another_currency_than_the_account(
    market, use_db, tmp_path
) -> None:
    """Wealthfolio's fxRate on an activity in another currency than the account's converts
    the activity's into the account's (its developer document "FX Rate Conversion Logic"): a
    EUR account buying SPY in USD at 0.96 EUR per USD states 0.96, foliodb's fx_rate as it is.
    On an activity in the account's currency it converts into the position's: the inverse."""
    from click.testing import CliRunner

    from cli.main import cli

    conn = market
    file = tmp_path / "wealthfolio.csv"
    file.write_text(
        "date,symbol,instrumentType,quantity,activityType,unitPrice,currency,fee,amount,fxRate,"
        "subtype,comment\n"
        "2025-01-06,$CASH-EUR,,1,DEPOSIT,1,EUR,0,6000.00,,,\n"
        "2025-01-06,SPY,EQUITY,10,BUY,590,USD,0,,0.96,,in dollars\n"
        "2025-01-07,SPY,EQUITY,1,BUY,570.24,EUR,0,,1.0384,,in euros\n"
        "2025-01-07,$CASH-USD,,1,DEPOSIT,1,USD,0,1000.00,0.97,,converted into the account's\n"
        "2025-01-07,$CASH-USD,,1,INTEREST,1,USD,0,2.50,,,kept in dollars\n"
    )
    imported = CliRunner().invoke(
        cli,
        ["activities", "import", str(file), "--format", "wealthfolio", "--user",
         "wf@example.com", "--portfolio", "Depot", "--base-currency", "EUR", "--json"],
    )  # fmt: skip
    assert imported.exit_code == 0, imported.output
    stored = conn.execute(
        "select currency, unit_price, fx_rate from core.activities"
        " where activity_type = 'BUY' order by activity_date"
    ).fetchall()
    assert stored[0][0] == "USD" and float(stored[0][2]) == pytest.approx(0.96, abs=1e-12)
    # in the account's currency: 1.0384 USD per EUR is 1 / 1.0384 EUR per USD
    assert stored[1][0] == "EUR" and float(stored[1][2]) == pytest.approx(1 / 1.0384, rel=1e-12)
    assert refresh(conn, "full")["status"] == "succeeded"
    pid = conn.execute("select portfolio_id from core.portfolios where name = 'Depot'").fetchone()[
        0
    ]
    # 10 x 590 USD at 0.96 = 5,664 EUR, and 570.24 EUR
    assert snapshots(conn, pid)["2025-01-07"]["cost_basis"] == pytest.approx(
        5664 + 570.24, rel=1e-12
    )
    # a cash activity in another currency than the account's: with fxRate its money was
    # converted into the account's (1,000 USD at 0.97: 970 EUR), without it it stays in dollars
    cash = conn.execute(
        "select currency, balance from app.cash_balances where portfolio_id = %s order by currency",
        [pid],
    ).fetchall()
    assert cash == [("EUR", pytest.approx(6000 - 5664 - 570.24 + 970, rel=1e-12)), ("USD", 2.5)]


def test_pence_stay_pence_through_the_import(market) -> None:
    """GBp (pence) is kept as written, any other code upper-cased: a 500 GBp dividend into a
    GBP ledger is 5 GBP of cash, not 500 (upper() once made it GBP)."""
    from foliodb.activity_formats import currency_code

    assert [currency_code(c) for c in ("GBp", "gbp", "GBP", "usd")] == ["GBp", "GBP", "GBP", "USD"]
    conn = market
    pid = import_ledger(
        conn,
        "gbp",
        "GBP",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "1000"},
            {"activity_date": "2025-01-08", "activity_type": "DIVIDEND", "symbol": "VOD.L",
             "amount": "500", "currency": "GBp"},
            {"activity_date": "2025-01-09", "activity_type": "INTEREST", "amount": "20",
             "currency": "gbp"},
        ],
    )  # fmt: skip
    stored = conn.execute(
        "select currency from core.activities where portfolio_id = %s order by activity_date", [pid]
    ).fetchall()
    assert [c for (c,) in stored] == ["GBP", "GBp", "GBP"]
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshots(conn, pid)
    assert rows["2025-01-08"]["income"] == pytest.approx(5, abs=1e-12)
    assert rows["2025-01-13"]["cash_balance"] == pytest.approx(1000 + 5 + 20, abs=1e-9)
