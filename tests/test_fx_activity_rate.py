"""The third rule of a conversion (issue 16, item 3): the rate an activity implies where it
states both amounts (core.activities.fx_rate, migration 0250), used on its session only when
the market has no rate on or before it, counted as n_fx_activity. Hand-worked; computed by a
real refresh."""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg
import pytest

from tests.builders import add_portfolio, add_prices, refresh, snapshots
from tests.test_fx_conversion import add_rates

EMAIL = "fx-ledger@example.com"
SESSIONS = ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13"]  # 01-09 closed
SPY = dict(zip(SESSIONS, [590, 592, 594, 596, 598], strict=True))
# 1 EUR in USD: the market's first rate is on 2025-01-08, none on 01-10
EURUSD = {"2025-01-08": "1.04", "2025-01-13": "1.02"}


def import_activities(conn: psycopg.Connection, name: str, rows: list[dict]) -> tuple:
    numbered = [{"line": str(i + 2), **row} for i, row in enumerate(rows)]
    return conn.execute(
        "select * from core.import_activities(%s, %s, %s::jsonb)",
        [EMAIL, name, json.dumps(numbered)],
    ).fetchone()


def eur_ledger(conn: psycopg.Connection, name: str = "eur ledger") -> int:
    pid = add_portfolio(conn, name, email=EMAIL)
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [pid])
    return pid


def seed_eur_ledger(conn: psycopg.Connection) -> int:
    """The benchmark and SPY closes of SESSIONS, and the EUR ledger of the `ledger` fixture
    (a deposit, a buy at 0.96, a sell at 0.95), not refreshed; its id."""
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "SPY", SPY)
    pid = eur_ledger(conn)
    import_activities(
        conn,
        "eur ledger",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "10000",
             "currency": "EUR"},
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "SPY",
             "quantity": "10", "unit_price": "570", "currency": "EUR", "fx_rate": "0.96"},
            {"activity_date": "2025-01-10", "activity_type": "SELL", "symbol": "SPY",
             "quantity": "2", "unit_price": "575", "currency": "EUR", "fx_rate": "0.95"},
        ],
    )  # fmt: skip
    return pid


def seed_two_buys(conn: psycopg.Connection) -> int:
    """A EUR ledger with two buys of SPY on 01-07 (10 at 570 EUR settled at 0.96, 5 at 580
    EUR at 0.98), no deposit; its id (the market is the caller's)."""
    pid = eur_ledger(conn, "two buys")
    import_activities(
        conn,
        "two buys",
        [
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "SPY",
             "quantity": "10", "unit_price": "570", "currency": "EUR", "fx_rate": "0.96"},
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "SPY",
             "quantity": "5", "unit_price": "580", "currency": "EUR", "fx_rate": "0.98"},
        ],
    )  # fmt: skip
    return pid


@pytest.fixture
def ledger(conn: psycopg.Connection) -> int:
    """A EUR ledger: 10,000 EUR deposited on 01-06; 10 SPY bought on 01-07 for 570 EUR each,
    settled at 0.96 EUR per USD (so 593.75 USD each); 2 sold on 01-10 for 575 EUR each at
    0.95 EUR per USD (a day the market has an older rate)."""
    pid = seed_eur_ledger(conn)
    add_rates(conn, "EUR", "USD", EURUSD)
    run = refresh(conn, "full")
    assert run["status"] == "succeeded", run
    return pid


def test_a_session_with_no_market_rate_uses_the_rate_the_activity_implies(
    conn: psycopg.Connection, ledger: int
) -> None:
    day = snapshots(conn, ledger)["2025-01-07"]
    # cash 10,000 - 10 x 570 = 4,300 EUR; 10 SPY at 592 USD x 0.96 EUR/USD = 5,683.20 EUR
    assert day["market_value"] == pytest.approx(4300 + 5683.20, abs=1e-9)
    assert (day["n_fx_activity"], day["n_fx_session"], day["n_fx_last_rate"], day["n_fx_none"]) == (
        1, 0, 0, 0,
    )  # fmt: skip
    # the ledger's cost is the EUR paid, not converted
    assert day["cost_basis"] == pytest.approx(5700, abs=1e-9)
    assert day["base_currency"] == "EUR"


def test_the_market_rate_comes_first_on_the_session_and_after_it(
    conn: psycopg.Connection, ledger: int
) -> None:
    days = snapshots(conn, ledger)
    # 01-08: the market's own rate, 1 / 1.04
    assert days["2025-01-08"]["market_value"] == pytest.approx(4300 + 10 * 594 / 1.04, abs=1e-9)
    assert (days["2025-01-08"]["n_fx_session"], days["2025-01-08"]["n_fx_activity"]) == (1, 0)
    # 01-10: the sell states 0.95, but the market's rate of 01-08 is there (one session old):
    # cash 4,300 + 2 x 575 = 5,450; 8 SPY at 596 / 1.04
    ten = days["2025-01-10"]
    assert ten["market_value"] == pytest.approx(5450 + 8 * 596 / 1.04, abs=1e-9)
    assert (ten["n_fx_last_rate"], ten["max_fx_stale_sessions"], ten["n_fx_activity"]) == (1, 1, 0)
    rows = conn.execute(
        "select days.session_date::text, rates.fx_rate, rates.fx_rule, rates.n_activities"
        " from analytics.int_fx_activity_rates_in_scope as rates"
        " inner join market.trading_days as days"
        "   on days.calendar = 'XNYS' and days.session_idx = rates.session_idx"
    ).fetchall()
    assert rows == []  # a view of the refresh's scope: empty outside a refresh


def test_several_activities_on_a_session_imply_their_amount_weighted_rate(
    conn: psycopg.Connection,
) -> None:
    """Two buys on 01-07: 10 at 570 EUR settled at 0.96 and 5 at 580 EUR at 0.98. Base
    amounts 5,700 + 2,900 = 8,600 EUR; local 5,700 / 0.96 + 2,900 / 0.98 = 5,937.5 +
    2,959.18367… USD; implied 8,600 / 8,896.68367… = 0.966652… EUR per USD."""
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "SPY", SPY)
    pid = seed_two_buys(conn)
    assert refresh(conn, "full")["status"] == "succeeded"
    implied = 8600 / (5700 / 0.96 + 2900 / 0.98)
    day = snapshots(conn, pid)["2025-01-07"]
    # no deposit: the buys are funded by an implicit deposit, so cash is 0
    assert day["market_value"] == pytest.approx(15 * 592 * implied, abs=1e-9)
    assert day["n_fx_activity"] == 1
    # 01-08 has no rate at all and no activity: none, left out (never 1.0)
    assert snapshots(conn, pid)["2025-01-08"]["n_fx_none"] == 1
    assert snapshots(conn, pid)["2025-01-08"]["market_value"] == pytest.approx(0, abs=1e-9)


def test_holdings_and_the_dashboard_name_the_activity_rule(conn: psycopg.Connection) -> None:
    """A portfolio whose last session is the activity's: its holding says rule activity."""
    add_prices(conn, "^GSPC", {"2025-01-06": 100, "2025-01-07": 101})
    add_prices(conn, "SPY", {"2025-01-06": 590, "2025-01-07": 592})
    pid = eur_ledger(conn, "one buy")
    import_activities(
        conn,
        "one buy",
        [
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "SPY",
             "quantity": "10", "unit_price": "570", "currency": "EUR", "fx_rate": "0.96"},
        ],
    )  # fmt: skip
    # the clock (ops.now) just after 01-07's close: 01-07 is the last closed session, END
    conn.execute("select set_config('foliodb.now', '2025-01-08 00:00:00+00', false)")
    assert refresh(conn, "full")["status"] == "succeeded"
    holding = conn.execute(
        "select market_value, local_market_value, fx_rate, fx_rule"
        " from analytics.fct_portfolio_holdings where portfolio_id = %s and symbol = 'SPY'",
        [pid],
    ).fetchone()
    assert holding[0] == pytest.approx(5683.20, abs=1e-9)
    assert holding[1:] == (pytest.approx(5920), pytest.approx(0.96), "activity")


def test_a_holding_valued_at_its_cost_before_its_first_quote_is_not_counted_as_converted(
    conn: psycopg.Connection,
) -> None:
    """A EUR ledger deposits 5,000 EUR on 01-06 and buys 10 NEW (USD) on 01-07 at 96 EUR,
    stating no rate; NEW's first close (100 USD) and the market's first EURUSD (1.04) are on
    01-08. On 01-07 the holding is valued at its cost, 960 EUR, the base-currency cash paid:
    nothing is converted, so no rule counts it (not n_fx_none: its value is not left out).
    On 01-08: 10 x 100 / 1.04 EUR, rule session."""
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "NEW", {"2025-01-08": 100, "2025-01-10": 101, "2025-01-13": 102})
    pid = eur_ledger(conn, "before the listing")
    import_activities(
        conn,
        "before the listing",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "5000",
             "currency": "EUR"},
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "NEW",
             "quantity": "10", "unit_price": "96", "currency": "EUR"},
        ],
    )  # fmt: skip
    with conn.cursor() as cur:
        for day, rate in [("2025-01-08", "1.04"), ("2025-01-10", "1.03"), ("2025-01-13", "1.02")]:
            cur.execute(
                "insert into market.fx_rates (base_currency, quote_currency, rate_date, rate,"
                " source) values ('EUR', 'USD', %s, %s, 'csv')",
                [day, Decimal(rate)],
            )
    assert refresh(conn, "full")["status"] == "succeeded"
    days = snapshots(conn, pid)
    at_cost = days["2025-01-07"]
    assert at_cost["market_value"] == pytest.approx(5000, abs=1e-9)  # 4,040 cash + 960 at cost
    assert (at_cost["n_entry"], at_cost["cost_basis"]) == (1, pytest.approx(960, abs=1e-9))
    counts = ("n_fx_session", "n_fx_last_rate", "n_fx_activity", "n_fx_none")
    assert tuple(at_cost[c] for c in counts) == (0, 0, 0, 0)
    quoted = days["2025-01-08"]
    assert quoted["market_value"] == pytest.approx(4040 + 10 * 100 / 1.04, abs=1e-9)
    assert tuple(quoted[c] for c in counts) == (1, 0, 0, 0)


def test_a_holding_at_its_cost_before_its_first_quote_is_shown_in_the_base_currency(
    conn: psycopg.Connection,
) -> None:
    """The ledger of the test above, its last session 01-08, before NEW's first close: the
    holding is worth its cost, 960 EUR, not a quote converted at a rate; there is no local
    value (no quote), no rate, and its rule is base."""
    add_prices(conn, "^GSPC", {"2025-01-06": 100, "2025-01-07": 101, "2025-01-08": 102})
    conn.execute("insert into market.symbols (symbol) values ('NEW')")
    pid = eur_ledger(conn, "unlisted")
    import_activities(
        conn,
        "unlisted",
        [
            {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "5000",
             "currency": "EUR"},
            {"activity_date": "2025-01-07", "activity_type": "BUY", "symbol": "NEW",
             "quantity": "10", "unit_price": "96", "currency": "EUR"},
        ],
    )  # fmt: skip
    conn.execute(
        "insert into market.fx_rates (base_currency, quote_currency, rate_date, rate, source)"
        " values ('EUR', 'USD', '2025-01-08', 1.04, 'csv')"
    )
    conn.execute("select set_config('foliodb.now', '2025-01-09 00:00:00+00', false)")
    assert refresh(conn, "full")["status"] == "succeeded"
    holding = conn.execute(
        "select as_of::text, market_value, cost_basis, local_market_value, fx_rate, fx_rule"
        " from analytics.fct_portfolio_holdings where portfolio_id = %s and symbol = 'NEW'",
        [pid],
    ).fetchone()
    assert holding == ("2025-01-08", pytest.approx(960), pytest.approx(960), None, None, "base")


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            {"activity_type": "DEPOSIT", "amount": "100", "fx_rate": "0.9"},
            "DEPOSIT in the base currency moves no money in another currency: leave fx_rate empty",
        ),
        (
            {"activity_type": "BUY", "symbol": "SPY", "quantity": "1", "unit_price": "5",
             "fx_rate": "abc"},
            "'abc' is not a number (expected the rate settled at, EUR per unit",
        ),
        (
            {"activity_type": "BUY", "symbol": "SPY", "quantity": "1", "unit_price": "5",
             "fx_rate": "0"},
            "(fx_rate): must be greater than 0",
        ),
        (
            {"activity_type": "BUY", "symbol": "SPY", "quantity": "1", "unit_price": "5",
             "fx_rate": "1e13"},
            "(fx_rate): ",
        ),
    ],
)  # fmt: skip
def test_a_bad_fx_rate_is_refused_with_its_line_and_field(
    conn: psycopg.Connection, row: dict, problem: str
) -> None:
    eur_ledger(conn, "refused")
    with pytest.raises(psycopg.Error) as raised:
        import_activities(
            conn, "refused", [{"activity_date": "2025-01-07", "currency": "EUR", **row}]
        )
    message = str(raised.value)
    assert "line 2 (fx_rate)" in message and problem in message, message
    assert conn.execute("select count(*) from core.activities").fetchone() == (0,)


def test_the_database_refuses_an_fx_rate_out_of_bounds_or_on_a_split(
    conn: psycopg.Connection,
) -> None:
    pid = eur_ledger(conn, "checked")
    conn.execute("insert into market.symbols (symbol) values ('SPY') on conflict do nothing")
    base = (
        "insert into core.activities (portfolio_id, activity_date, activity_type, symbol,"
        " quantity, unit_price, amount, currency, fx_rate, external_id)"
        " values (%s, '2025-01-07', %s, %s, %s, %s, %s, 'EUR', %s, 'x')"
    )
    for values, constraint in [
        (("SPLIT", "SPY", 2, None, None, 0.9), "fx_rate_moves_money"),
        (("BUY", "SPY", 1, 5, None, 0), "fx_rate_positive"),
        (("BUY", "SPY", 1, 5, None, 10**13), "fx_rate_within_bounds"),
    ]:
        with pytest.raises(psycopg.errors.CheckViolation) as raised, conn.transaction():
            conn.execute(base, [pid, *values])
        assert raised.value.diag.constraint_name == constraint


def test_a_foliodb_file_carries_fx_rate_through_import_and_export(
    conn: psycopg.Connection, tmp_path
) -> None:
    """fx_rate is a column of foliodb's CSV: read, stored, exported, and read back as the
    same activity; a row without it keeps the id it had before the column existed."""
    from foliodb import activities as ledger
    from foliodb import activity_formats as af

    path = tmp_path / "eur.csv"
    path.write_text(
        "activity_date,activity_type,symbol,quantity,unit_price,currency,fx_rate\n"
        "2025-01-07,BUY,SPY,10,570,EUR,0.96\n"
        "2025-01-07,BUY,SPY,1,570,EUR,\n"
    )
    rows = af.read_activities(path)
    assert [row["fx_rate"] for _, row in rows] == [Decimal("0.96"), None]
    before = {k: v for k, v in rows[1][1].items() if k != "fx_rate"}  # as read before the field
    assert af.row_hash(rows[1][1]) == af.row_hash(before)
    pid = eur_ledger(conn, "from a file")
    ledger.import_activities(conn, EMAIL, "from a file", ledger.read_activities(path), "eur.csv")
    stored = ledger.list_activities(conn, pid)
    assert [row["fx_rate"] for row in stored] == [Decimal("0.96"), None]
    exported = tmp_path / "export.csv"
    exported.write_text(ledger.export_csv(stored))
    assert exported.read_text().splitlines()[0].endswith(",fx_rate")
    again = af.read_activities(exported)
    assert [(r["external_id"], r["fx_rate"]) for _, r in again] == [
        (row["external_id"], row["fx_rate"]) for row in stored
    ]


def test_a_portfolio_performance_buy_in_another_currency_brings_its_exchange_rate(
    conn: psycopg.Connection, tmp_path
) -> None:
    """Portfolio Performance's export of a USD security bought from a EUR account: Value in
    EUR, Gross Amount in USD and the Exchange Rate (EUR per USD) become the BUY's fx_rate,
    which values the holding where the market has no rate yet."""
    from foliodb import activities as ledger

    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "NVDA", dict(zip(SESSIONS, [480, 490, 500, 505, 510], strict=True)))
    path = tmp_path / "pp.csv"
    path.write_text(
        "Date,Type,Value,Transaction Currency,Gross Amount,Currency Gross Amount,"
        "Exchange Rate,Fees,Taxes,Shares,Ticker Symbol\n"
        '2025-01-06T00:00,Deposit,"1,000.00",EUR,,,,,,,\n'
        # 2 NVDA at 490 USD = 980.00 USD, at 0.92 EUR per USD 901.60 EUR, plus 3.67 fees
        "2025-01-07T00:00,Buy,-905.27,EUR,980.00,USD,0.9200,3.67,,2,NVDA\n"
    )
    pid = eur_ledger(conn, "from portfolio performance")
    ledger.import_activities(
        conn, EMAIL, "from portfolio performance", ledger.read_activities(path, None), "pp.csv"
    )
    stored = ledger.list_activities(conn, pid)
    # a trade is stored as quantity × unit_price: 901.60 EUR / 2 = 450.80
    assert [(r["activity_type"], r["unit_price"], r["fee"], r["fx_rate"]) for r in stored] == [
        ("DEPOSIT", None, Decimal("0"), None),
        ("BUY", Decimal("450.80"), Decimal("3.67"), Decimal("0.92")),
    ]
    run = refresh(conn, "full")
    assert run["status"] == "succeeded", run
    day = snapshots(conn, pid)["2025-01-07"]
    # no EURUSD rate at all: the BUY's rate values its session, 2 × 490 × 0.92 = 901.60 EUR,
    # beside the cash left: 1,000 − 905.27 = 94.73 EUR
    assert day["market_value"] == pytest.approx(901.60 + 94.73, abs=1e-9)
    assert day["n_fx_activity"] == 1
