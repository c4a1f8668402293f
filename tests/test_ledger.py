"""The transactions ledger (issue 15) on hand-worked cases: every expected number is worked out
in the comments from the closes and the activities, never taken from the code's output."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.builders import add_portfolio, add_position, add_prices, refresh, snapshots

SESSIONS = ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13"]  # 01-09 closed
EMAIL = "ann@example.com"


@pytest.fixture
def market(conn):
    """^GSPC 100..105; AAA 10, 11, 12, 12, 13 on the five sessions."""
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "AAA", dict(zip(SESSIONS, [10, 11, 12, 12, 13], strict=True)))
    return conn


def import_activities(conn: psycopg.Connection, rows: list[dict], name: str = "ledger") -> tuple:
    """core.import_activities with lines numbered from 2 (a CSV's first data line)."""
    numbered = [{"line": str(i + 2), **row} for i, row in enumerate(rows)]
    return conn.execute(
        "select * from core.import_activities(%s, %s, %s::jsonb)",
        [EMAIL, name, json.dumps(numbered)],
    ).fetchone()


def buy(day: str, quantity, price, symbol: str = "AAA", **extra) -> dict:
    return {
        "activity_date": day,
        "activity_type": "BUY",
        "symbol": symbol,
        "quantity": str(quantity),
        "unit_price": str(price),
        **extra,
    }


def sell(day: str, quantity, price, symbol: str = "AAA", **extra) -> dict:
    return {**buy(day, quantity, price, symbol, **extra), "activity_type": "SELL"}


def cash(day: str, kind: str, amount, **extra) -> dict:
    return {"activity_date": day, "activity_type": kind, "amount": str(amount), **extra}


def test_partial_sell_under_fifo(market) -> None:
    conn = market
    pid, added, present = import_activities(
        conn,
        [buy("2025-01-06", 10, 10), buy("2025-01-07", 10, 11), sell("2025-01-08", 15, 12)],
    )
    assert (added, present) == (3, 0)
    assert refresh(conn)["status"] == "succeeded"
    snaps = snapshots(conn, pid)
    assert list(snaps) == SESSIONS
    # 01-06: 10 bought at 10 with no cash: an implicit deposit of 100 (an inflow), r = 0
    s = snaps["2025-01-06"]
    assert (s["market_value"], s["inflow"], s["cash_balance"], s["cost_basis"]) == (
        100,
        100,
        0,
        100,
    )
    # 01-07: 10 more at 11 (implicit deposit 110): 20 × 11 = 220 against 100 + 110
    s = snaps["2025-01-07"]
    assert (s["market_value"], s["inflow"], s["cost_basis"]) == (220, 110, 210)
    assert s["daily_return"] == pytest.approx(220 / 210 - 1, abs=1e-12)
    # 01-08: FIFO sells the 10 bought at 10 and 5 of those bought at 11, at 12: realized
    # 10 × (12 − 10) + 5 × (12 − 11) = 25; proceeds 180 stay as cash (no flow); left 5 at 11
    s = snaps["2025-01-08"]
    assert (s["realized_gain"], s["cash_balance"], s["outflow"], s["inflow"]) == (25, 180, 0, 0)
    assert (s["market_value"], s["cost_basis"]) == (5 * 12 + 180, 55)
    assert s["daily_return"] == pytest.approx(240 / 220 - 1, abs=1e-12)
    # 01-13: 5 × 13 = 65 + 180 cash; unrealized 65 − 55 = 10
    s = snaps["2025-01-13"]
    assert (s["market_value"], s["unrealized_pnl"], s["cash_balance"]) == (245, 10, 180)
    # chained: 220/210 × 240/220 × 240/240 × 245/240 − 1 = 245/210 − 1
    assert s["cum_twr"] == pytest.approx(245 / 210 - 1, abs=1e-12)


def test_partial_sell_under_average_cost(market) -> None:
    conn = market
    pid, _, _ = import_activities(
        conn,
        [buy("2025-01-06", 10, 10), buy("2025-01-07", 10, 11), sell("2025-01-08", 15, 12)],
    )
    conn.execute(
        "update core.portfolios set cost_method = 'average' where portfolio_id = %s", [pid]
    )
    refresh(conn)
    snaps = snapshots(conn, pid)
    # 01-07: 20 held at (100 + 110) / 20 = 10.5 average
    assert snaps["2025-01-07"]["cost_basis"] == pytest.approx(210, rel=1e-12)
    # 01-08: 15 sold at 12 against the average 10.5: realized 15 × 1.5 = 22.5;
    # 5 left at 10.5 = 52.5 cost (FIFO: 25 realized, 55 cost)
    s = snaps["2025-01-08"]
    assert s["realized_gain"] == pytest.approx(22.5, rel=1e-12)
    assert s["cost_basis"] == pytest.approx(52.5, rel=1e-12)
    assert s["cash_balance"] == 180
    # 01-13: 5 × 13 = 65: unrealized 65 − 52.5 = 12.5; value and TWR as under FIFO
    s = snaps["2025-01-13"]
    assert s["unrealized_pnl"] == pytest.approx(12.5, rel=1e-12)
    assert s["market_value"] == 245
    assert s["cum_twr"] == pytest.approx(245 / 210 - 1, abs=1e-12)
    # a second buy after the sell moves the average: 5 at 10.5 + 5 at 13 → 10 at 11.75
    import_activities(conn, [buy("2025-01-13", 5, 13)])
    refresh(conn)
    assert snapshots(conn, pid)["2025-01-13"]["cost_basis"] == pytest.approx(117.5, rel=1e-12)


def test_changing_the_cost_method_requeues_the_portfolio(market) -> None:
    conn = market
    pid, _, _ = import_activities(conn, [buy("2025-01-06", 10, 10)])
    refresh(conn)
    conn.execute(
        "update core.portfolios set cost_method = 'average' where portfolio_id = %s", [pid]
    )
    queued = conn.execute(
        "select count(*) from ops.dirty_portfolios where portfolio_id = %s", [pid]
    ).fetchone()[0]
    assert queued == 1


def test_buys_only_ledger_equals_the_same_positions(market) -> None:
    conn = market
    add_prices(conn, "BBB", dict(zip(SESSIONS, [50, 49, 51, 53, 52], strict=True)))
    pid, _, _ = import_activities(
        conn,
        [buy("2025-01-06", 10, 10), buy("2025-01-08", 3, 50.5, "BBB"), buy("2025-01-10", 2, 12.5)],
    )
    positions = add_portfolio(conn, "positions", EMAIL)
    add_position(conn, positions, "AAA", 10, "2025-01-06", 10)
    add_position(conn, positions, "BBB", 3, "2025-01-08", 50.5)
    add_position(conn, positions, "AAA", 2, "2025-01-10", 12.5)
    refresh(conn)
    ledger, expected = snapshots(conn, pid), snapshots(conn, positions)
    assert list(ledger) == list(expected)
    for day, row in expected.items():
        for column in (
            "market_value",
            "cost_basis",
            "unrealized_pnl",
            "inflow",
            "outflow",
            "daily_return",
            "cum_twr",
            "benchmark_cum_return",
        ):
            assert ledger[day][column] == pytest.approx(row[column], rel=1e-12, abs=1e-12), (
                day,
                column,
            )
        assert ledger[day]["cash_balance"] == 0
    # a ledger counts holdings (symbols), positions count rows: AAA twice is one holding
    assert (expected["2025-01-13"]["positions_held"], ledger["2025-01-13"]["positions_held"]) == (
        3,
        2,
    )
    assert ledger["2025-01-13"]["n_close"] == 2


def test_deposit_and_withdrawal_are_flows_not_returns(market) -> None:
    conn = market
    pid, _, _ = import_activities(
        conn,
        [
            cash("2025-01-06", "DEPOSIT", 1000),
            buy("2025-01-06", 50, 10),
            cash("2025-01-10", "DEPOSIT", 500),  # AAA 12 → 12: a flat day
            cash("2025-01-13", "WITHDRAWAL", 200),
        ],
    )
    refresh(conn)
    snaps = snapshots(conn, pid)
    # 01-06: 50 × 10 + 500 cash = 1000, all of it deposited: r = 0 (no implicit deposit)
    s = snaps["2025-01-06"]
    assert (s["market_value"], s["cash_balance"], s["inflow"], s["daily_return"]) == (
        1000,
        500,
        1000,
        0,
    )
    # 01-07: 550 + 500 = 1050, r = 0.05; 01-08: 600 + 500 = 1100
    assert snaps["2025-01-07"]["daily_return"] == pytest.approx(0.05, abs=1e-12)
    assert snaps["2025-01-08"]["market_value"] == 1100
    # 01-10: 600 + 1000 = 1600 with 500 in at the start of the day: 1600 / (1100 + 500) − 1 = 0
    s = snaps["2025-01-10"]
    assert (s["market_value"], s["cash_balance"], s["inflow"]) == (1600, 1000, 500)
    assert s["daily_return"] == pytest.approx(0, abs=1e-12)
    # 01-13: 650 + 800 = 1450, 200 out at the end of the day: (1450 + 200) / 1600 − 1
    s = snaps["2025-01-13"]
    assert (s["market_value"], s["cash_balance"], s["outflow"]) == (1450, 800, 200)
    assert s["daily_return"] == pytest.approx(1650 / 1600 - 1, abs=1e-12)
    # chained: 1.05 × 1100/1050 × 1 × 1650/1600 − 1 = 1.1 × 1.03125 − 1
    assert s["cum_twr"] == pytest.approx(0.134375, abs=1e-12)


def test_fee_and_tax_are_costs_and_a_dividend_is_income(market) -> None:
    conn = market
    pid, _, _ = import_activities(
        conn,
        [
            cash("2025-01-06", "DEPOSIT", 1000),
            buy("2025-01-06", 50, 10, fee="1"),
            cash("2025-01-07", "FEE", 5, notes="custody"),
            cash("2025-01-08", "TAX", 3),
            cash("2025-01-10", "DIVIDEND", 25, symbol="AAA"),  # 0.50 a share on 50
        ],
    )
    refresh(conn)
    snaps = snapshots(conn, pid)
    # 01-06: 1000 in; 500 + the 1 fee paid: cash 499, value 999: r = 999/1000 − 1
    s = snaps["2025-01-06"]
    assert (s["market_value"], s["cash_balance"], s["costs"], s["inflow"]) == (999, 499, 1, 1000)
    assert s["daily_return"] == pytest.approx(-0.001, abs=1e-12)
    # 01-07: fee 5: 550 + 494 = 1044 (no flow): r = 1044/999 − 1
    s = snaps["2025-01-07"]
    assert (s["market_value"], s["costs"], s["inflow"], s["outflow"]) == (1044, 5, 0, 0)
    assert s["daily_return"] == pytest.approx(1044 / 999 - 1, abs=1e-12)
    # 01-08: tax 3: 600 + 491 = 1091
    s = snaps["2025-01-08"]
    assert (s["market_value"], s["costs"], s["cash_balance"]) == (1091, 3, 491)
    # 01-10: AAA flat at 12, the dividend of 25 is the whole return: 1116/1091 − 1
    s = snaps["2025-01-10"]
    assert (s["market_value"], s["income"], s["cash_balance"], s["inflow"]) == (1116, 25, 516, 0)
    assert s["daily_return"] == pytest.approx(25 / 1091, abs=1e-12)
    # 01-13: 650 + 516; chained 1166/1000 − 1 (no flow after the first day)
    s = snaps["2025-01-13"]
    assert s["market_value"] == 1166
    assert s["cum_twr"] == pytest.approx(0.166, abs=1e-12)


def test_transfer_of_securities_in_at_a_stated_value(market) -> None:
    conn = market
    pid, _, _ = import_activities(
        conn,
        [
            {
                "activity_date": "2025-01-07",
                "activity_type": "TRANSFER_IN",
                "symbol": "AAA",
                "quantity": "20",
                "unit_price": "10.5",
            },
            sell("2025-01-10", 20, 12),
        ],
    )
    refresh(conn)
    snaps = snapshots(conn, pid)
    assert list(snaps) == SESSIONS[1:]
    # 01-07: 20 in at the stated 10.5 = 210 (a flow, not cash): 20 × 11 = 220, r = 220/210 − 1
    s = snaps["2025-01-07"]
    assert (s["inflow"], s["cash_balance"], s["cost_basis"], s["market_value"]) == (
        210,
        0,
        210,
        220,
    )
    assert s["daily_return"] == pytest.approx(220 / 210 - 1, abs=1e-12)
    # 01-10: sold at 12: realized 20 × (12 − 10.5) = 30; 240 in cash, nothing held
    s = snaps["2025-01-10"]
    assert (s["realized_gain"], s["cash_balance"], s["market_value"], s["positions_held"]) == (
        30,
        240,
        240,
        0,
    )
    # the ledger keeps its cash: it runs to the as-of session
    assert snaps["2025-01-13"]["market_value"] == 240


def test_four_for_one_split_keeps_value_continuous(conn) -> None:
    # as-traded closes: 100, 104, then 4:1 on 01-08 (106 / 4 = 26.5), 27, 26
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "BBB", dict(zip(SESSIONS, [100, 104, 26.5, 27, 26], strict=True)))
    pid, _, _ = import_activities(
        conn,
        [
            buy("2025-01-06", 10, 100, "BBB"),
            {
                "activity_date": "2025-01-08",
                "activity_type": "SPLIT",
                "symbol": "BBB",
                "quantity": "4",
            },
            sell("2025-01-10", 10, 27, "BBB"),
        ],
    )
    refresh(conn)
    snaps = snapshots(conn, pid)
    # 01-07: 10 × 104 = 1040; 01-08: 40 × 26.5 = 1060 (not 10 × 26.5 = 265: no −75 % day)
    assert snaps["2025-01-07"]["market_value"] == 1040
    s = snaps["2025-01-08"]
    assert (s["market_value"], s["cost_basis"], s["inflow"], s["outflow"]) == (1060, 1000, 0, 0)
    assert s["daily_return"] == pytest.approx(1060 / 1040 - 1, abs=1e-12)
    # 01-10: 10 of the 40 sold at 27; the cost per unit is 100 / 4 = 25: realized 10 × 2 = 20;
    # 30 left at 25 = 750 cost, worth 30 × 27 = 810, and 270 in cash
    s = snaps["2025-01-10"]
    assert (s["realized_gain"], s["cost_basis"], s["cash_balance"], s["market_value"]) == (
        20,
        750,
        270,
        1080,
    )
    # 01-13: 30 × 26 + 270 = 1050; the only flow was the 1000 in on 01-06: 1050/1000 − 1
    s = snaps["2025-01-13"]
    assert s["market_value"] == 1050
    assert s["cum_twr"] == pytest.approx(0.05, abs=1e-12)


def test_selling_more_than_held_is_refused_with_the_line_and_the_quantity_held(market) -> None:
    conn = market
    rows = [
        buy("2025-01-06", 10, 10),
        {"activity_date": "2025-01-07", "activity_type": "SPLIT", "symbol": "AAA", "quantity": "4"},
        sell("2025-01-08", 40, 12),
        sell("2025-01-10", 1, 12),
    ]
    with pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
        import_activities(conn, rows)
    message = str(refused.value)
    assert "nothing written (1 problem)" in message
    # 10 bought, 4:1 → 40, all 40 sold on 01-08: nothing left for line 5
    assert (
        "line 5 (quantity): SELL of 1 AAA on 2025-01-10 is more than is held: 0 AAA held then"
        in (message)
    )
    assert conn.execute("select count(*) from core.activities").fetchone()[0] == 0
    # the first three lines are a valid ledger; a later file is checked against what is stored
    pid, added, _ = import_activities(conn, rows[:3])
    assert added == 3
    with pytest.raises(
        psycopg.errors.InvalidParameterValue, match=r"15 AAA on 2025-01-13 .* 0 AAA held"
    ):
        import_activities(conn, [sell("2025-01-13", 15, 13)])


def test_reimporting_the_same_rows_adds_nothing(market) -> None:
    conn = market
    rows = [
        buy("2025-01-06", 10, 10),
        buy("2025-01-06", 10, 10),  # two equal buys on one day are two activities
        cash("2025-01-07", "DIVIDEND", 4, symbol="AAA", external_id="div-1"),
    ]
    pid, added, present = import_activities(conn, rows)
    assert (added, present) == (3, 0)
    assert import_activities(conn, rows)[1:] == (0, 3)
    # one more row in the file: only it is added
    assert import_activities(conn, [*rows, sell("2025-01-08", 5, 12)])[1:] == (1, 3)
    assert (
        conn.execute(
            "select count(*) from core.activities where portfolio_id = %s", [pid]
        ).fetchone()[0]
        == 4
    )


def test_bad_rows_are_named_by_line_and_field_and_nothing_is_written(market) -> None:
    conn = market
    rows = [
        {
            "activity_date": "2025-13-01",
            "activity_type": "BUY",
            "symbol": "AAA",
            "quantity": "1",
            "unit_price": "1",
        },
        {"activity_date": "2025-01-06", "activity_type": "GIFT", "amount": "1"},
        {"activity_date": "2025-01-06", "activity_type": "BUY", "symbol": "AAA", "unit_price": "1"},
        {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "symbol": "AAA", "amount": "1"},
        {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "-5"},
        {
            "activity_date": "2025-01-06",
            "activity_type": "DEPOSIT",
            "amount": "5",
            "currency": "EUR",
            "fx_rate": "abc",
        },
        {"activity_date": "2025-01-06", "activity_type": "SPLIT", "symbol": "AAA", "quantity": "1"},
        {
            "activity_date": "2025-01-06",
            "activity_type": "SELL",
            "symbol": "AAA",
            "quantity": "1e3",
            "unit_price": "1",
        },
    ]
    with pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
        import_activities(conn, rows)
    lines = str(refused.value).splitlines()
    assert lines[0] == "activities import refused, nothing written (8 problems):"
    assert lines[1].startswith("line 2 (activity_date): '2025-13-01' is not an ISO date")
    assert lines[2].startswith("line 3 (activity_type): 'GIFT' is not an activity type")
    assert lines[3] == "line 4 (quantity): required for BUY: the units, e.g. 10 or 2.5"
    assert lines[4] == "line 5 (symbol): DEPOSIT is a cash event: give no symbol"
    assert lines[5] == "line 6 (amount): must be greater than 0"
    assert lines[6] == (
        "line 7 (fx_rate): 'abc' is not a number (expected the rate settled at, USD per unit of"
        " EUR, e.g. 0.9615)"
    )
    assert lines[7] == "line 8 (quantity): a ratio of 1 is no split"
    assert lines[8] == "line 9 (quantity): '1e3' is not a number (expected e.g. 1,355 or 12.5)"
    assert conn.execute("select count(*) from core.portfolios").fetchone()[0] == 0


def test_the_database_refuses_a_bad_activity_even_without_the_import(market) -> None:
    conn = market
    pid = add_portfolio(conn, "direct", EMAIL)
    conn.execute("insert into market.symbols (symbol) values ('AAA') on conflict do nothing")
    bad = [
        ("BUY", "AAA", None, 10, None),  # no quantity
        ("DEPOSIT", "AAA", None, None, 100),  # a cash event names no symbol
        ("SELL", "AAA", 1, 10, 5),  # a trade has no amount
        ("SPLIT", "AAA", 1, None, None),  # a ratio of 1
    ]
    for activity_type, symbol, quantity, price, amount in bad:
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute(
                "insert into core.activities (portfolio_id, activity_date, activity_type, symbol,"
                " quantity, unit_price, amount, external_id) values (%s, '2025-01-06', %s, %s, %s, %s, %s, 'x')",
                [pid, activity_type, symbol, quantity, price, amount],
            )


def test_the_ingester_fetches_the_ledger_s_symbols_from_its_first_activity(market) -> None:
    from ingest.prices import default_symbols

    conn = market
    import_activities(conn, [buy("2025-01-06", 1, 10, "CCC")])
    wanted, _ = default_symbols(conn)
    assert "CCC" in wanted


def test_cli_imports_lists_and_exports_a_ledger(use_db, conn, tmp_path) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    runner = CliRunner()
    file = tmp_path / "ledger.csv"
    file.write_text(
        "activity_date,activity_type,symbol,quantity,unit_price,amount,fee,notes\n"
        "2025-01-06,DEPOSIT,,,,1000,,\n"
        '2025-01-06,BUY,AAA,"1,000",0.5,,1,first lot\n'
        "2025-01-08,SELL,AAA,400,0.6,,,\n",
        encoding="utf-8",
    )
    args = ["activities", "import", str(file), "--user", EMAIL, "--portfolio", "Brokerage"]
    first = runner.invoke(cli, [*args, "--json"])
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    assert (result["added"], result["already_present"]) == (3, 0)
    again = runner.invoke(cli, [*args, "--json"])
    assert json.loads(again.stdout)["added"] == 0
    listed = runner.invoke(cli, ["activities", "list", "Brokerage", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["activity_type"], r["quantity"], r["amount"]) for r in rows] == [
        ("DEPOSIT", None, 1000),
        ("BUY", 1000, None),
        ("SELL", 400, None),
    ]
    # the export imports again into the same portfolio adding nothing
    exported = tmp_path / "export.csv"
    assert (
        runner.invoke(cli, ["activities", "export", "Brokerage", "--out", str(exported)]).exit_code
        == 0
    )
    assert "2025-01-06,BUY,AAA,1000,0.5,,1,USD,first lot,foliodb," in exported.read_text()
    reimport = runner.invoke(
        cli,
        [
            "activities",
            "import",
            str(exported),
            "--user",
            EMAIL,
            "--portfolio",
            "Brokerage",
            "--json",
        ],
    )
    assert json.loads(reimport.stdout)["added"] == 0, reimport.output
    # a bad line: exit 1, the file, line and field, nothing written
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "activity_date,activity_type,symbol,quantity,unit_price\n2025-01-09,SELL,AAA,601,1\n"
    )
    refused = runner.invoke(
        cli, ["activities", "import", str(bad), "--user", EMAIL, "--portfolio", "Brokerage"]
    )
    assert refused.exit_code == 1
    assert f"{bad}: activities import refused, nothing written (1 problem)" in refused.output
    assert (
        "line 2 (quantity): SELL of 601 AAA on 2025-01-09 is more than is held: 600 AAA held then"
        in (refused.output)
    )
    assert conn.execute("select count(*) from core.activities").fetchone()[0] == 3
    missing = runner.invoke(
        cli,
        ["activities", "import", str(tmp_path / "nope.csv"), "--user", EMAIL, "--portfolio", "x"],
    )
    assert missing.exit_code == 2


def test_a_market_split_is_followed_and_counted_once(conn) -> None:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "BBB", dict(zip(SESSIONS, [100, 104, 26.5, 27, 26], strict=True)))
    conn.execute(
        "insert into market.splits (symbol, ex_date, ratio) values ('BBB', '2025-01-08', 4)"
    )
    # the market's 4:1 makes the 10 bought 40: all 40 may be sold
    pid, _, _ = import_activities(
        conn, [buy("2025-01-06", 10, 100, "BBB"), sell("2025-01-10", 40, 27, "BBB")]
    )
    # a second ledger records the same split itself, on its ex-date: the same split, once
    recorded, _, _ = import_activities(
        conn,
        [
            buy("2025-01-06", 10, 100, "BBB"),
            {
                "activity_date": "2025-01-08",
                "activity_type": "SPLIT",
                "symbol": "BBB",
                "quantity": "4",
            },
        ],
        name="recorded",
    )
    refresh(conn)
    snaps, other = snapshots(conn, pid), snapshots(conn, recorded)
    # 01-08: 40 × 26.5 = 1060 in both (not 160 × 26.5)
    assert snaps["2025-01-08"]["market_value"] == 1060
    assert other["2025-01-08"]["market_value"] == 1060
    # 01-10: 40 sold at 27, cost 100 / 4 = 25 a share: realized 40 × 2 = 80; 1080 in cash
    s = snaps["2025-01-10"]
    assert (s["realized_gain"], s["cash_balance"], s["positions_held"]) == (80, 1080, 0)
    # a split stored later queues the ledgers trading the symbol from its ex-date
    refresh(conn)
    conn.execute(
        "insert into market.splits (symbol, ex_date, ratio) values ('BBB', '2025-01-13', 2)"
    )
    queued = conn.execute(
        "select portfolio_id, from_date from ops.dirty_portfolios order by portfolio_id"
    ).fetchall()
    assert [(p, str(d)) for p, d in queued] == [(pid, "2025-01-13"), (recorded, "2025-01-13")]


def test_a_market_dividend_is_paid_on_the_ex_date_unless_the_ledger_records_it(market) -> None:
    conn = market
    conn.execute(
        "insert into market.dividends (symbol, ex_date, amount_per_share) values ('AAA', '2025-01-10', 0.5)"
    )
    pid, _, _ = import_activities(
        conn,
        [buy("2025-01-06", 50, 10), buy("2025-01-10", 10, 12)],  # the second on the ex-date
    )
    recorded, _, _ = import_activities(
        conn,
        [buy("2025-01-06", 50, 10), cash("2025-01-13", "DIVIDEND", 21.25, symbol="AAA")],
        name="recorded",
    )
    refresh(conn)
    snaps, other = snapshots(conn, pid), snapshots(conn, recorded)
    # 01-10: paid on the 50 held before the ex-date (not on the 10 bought on it): 50 × 0.5 = 25
    # of income; the session's cash is −120 + 25: the buy takes the dividend and 95 deposited
    # implicitly (the inflow)
    s = snaps["2025-01-10"]
    assert (s["income"], s["inflow"], s["cash_balance"]) == (25, 95, 0)
    # AAA flat at 12: the return is the dividend: (720 + 0) / (600 + 95) − 1 = 25 / 695
    assert s["market_value"] == 720
    assert s["daily_return"] == pytest.approx(25 / 695, abs=1e-12)
    # the ledger that records the payment (21.25 after withholding, on 01-13, 3 days after
    # the ex-date) gets that, once: nothing on the ex-date
    assert other["2025-01-10"]["income"] == 0
    s = other["2025-01-13"]
    assert (s["income"], s["cash_balance"], s["market_value"]) == (21.25, 21.25, 650 + 21.25)


def test_a_ledger_emptied_of_its_activities_keeps_no_lots_and_no_cash(market) -> None:
    # the lots, the cash and the cash per currency return at once when no portfolio in scope
    # has an input row and they hold none of its rows (refresh_empty_without): a portfolio
    # whose every activity is deleted still has rows to delete
    conn = market
    pid, _, _ = import_activities(
        conn, [cash("2025-01-06", "DEPOSIT", 500), buy("2025-01-07", 10, 11)]
    )
    refresh(conn)

    def rows() -> list[int]:
        return [
            conn.execute(
                f"select count(*) from analytics.{table} where portfolio_id = %s", [pid]
            ).fetchone()[0]
            for table in ("int_lots_matched", "int_cash_daily", "fct_portfolio_cash")
        ]

    assert rows() == [1, 2, 1]  # one open lot; cash on 01-06 and 01-07; one USD balance
    conn.execute("delete from core.activities where portfolio_id = %s", [pid])
    assert refresh(conn)["status"] == "succeeded"
    assert rows() == [0, 0, 0]


def test_holdings_and_dashboard_of_a_ledger(market) -> None:
    conn = market
    pid, _, _ = import_activities(
        conn,
        [
            cash("2025-01-06", "DEPOSIT", 500),
            buy("2025-01-06", 10, 10),
            buy("2025-01-07", 10, 11),
            sell("2025-01-08", 15, 12),
            cash("2025-01-10", "DIVIDEND", 2, symbol="AAA"),
            cash("2025-01-10", "FEE", 1.5),
        ],
    )
    refresh(conn)
    holding = conn.execute(
        "select symbol, as_of::text, quantity, cost_basis, market_value, unrealized_pnl, weight,"
        " day_change from app.holdings where portfolio_id = %s",
        [pid],
    ).fetchall()
    # 01-13: 5 left of the lot bought at 11 (FIFO): cost 55, worth 5 × 13 = 65; cash
    # 500 − 100 − 110 + 180 + 2 − 1.5 = 470.5 (no implicit deposit: it never ran out);
    # weight 65 / (65 + 470.5); day change 5 × (13 − 12)
    assert holding == [("AAA", "2025-01-13", 5, 55, 65, 10, pytest.approx(65 / 535.5), 5)]
    dashboard = conn.execute(
        "select market_value, cash_balance, income_to_date, costs_to_date, realized_gain_to_date"
        " from app.portfolio_dashboard where portfolio_id = %s",
        [pid],
    ).fetchone()
    # realized: 10 × (12 − 10) + 5 × (12 − 11) = 25
    assert dashboard == (535.5, 470.5, 2, 1.5, 25)
    listed = conn.execute(
        "select activity_type, amount from app.activities where portfolio_id = %s"
        " order by activity_date, activity_id",
        [pid],
    ).fetchall()
    assert [t for t, _ in listed] == ["DEPOSIT", "BUY", "BUY", "SELL", "DIVIDEND", "FEE"]


def test_the_app_writer_imports_only_for_its_own_user(conn, db_url) -> None:
    from psycopg.types.json import Jsonb

    from foliodb import cluster
    from tests.test_security import login

    cluster.ensure_secrets()
    add_prices(conn, "AAA", {"2025-01-06": 10})
    _, _, _ = import_activities(conn, [buy("2025-01-06", 10, 10)], name="b's")  # EMAIL's
    a_user = conn.execute(
        "insert into core.users (email) values ('a@example.com') returning user_id"
    ).fetchone()[0]
    with login("folio_writer", db_url, autocommit=True) as writer:
        writer.execute(f"set foliodb.user_id = {int(a_user)}")
        # another user's ledger: refused before it is read (no holdings shown), nothing written
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            writer.execute(
                "select * from core.import_activities(%s, %s, %s)",
                [EMAIL, "b's", Jsonb([sell("2025-01-06", 1000, 10)])],
            )
        assert "belongs to another user, nothing written" in str(refused.value)
        assert "held" not in str(refused.value)
        # its own: written
        pid, added, _ = writer.execute(
            "select * from core.import_activities('a@example.com', 'mine', %s)",
            [Jsonb([buy("2025-01-06", 1, 10)])],
        ).fetchone()
        assert added == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            writer.execute("select * from core.activities")
    assert conn.execute("select count(*) from core.activities").fetchone()[0] == 2


def test_incremental_refreshes_of_a_ledger_equal_a_full_rebuild(conn) -> None:
    closes = dict(zip(SESSIONS, [10, 11, 12, 12, 13], strict=True))
    add_prices(conn, "^GSPC", dict(zip(SESSIONS[:4], [100, 101, 102, 104], strict=True)))
    add_prices(conn, "AAA", dict(list(closes.items())[:4]))
    pid, _, _ = import_activities(
        conn, [cash("2025-01-06", "DEPOSIT", 1000), buy("2025-01-07", 10, 11)]
    )
    refresh(conn, "full")
    assert list(snapshots(conn, pid)) == SESSIONS[:4]
    # a new session: the ledger (cash and lots) is extended by the incremental refresh
    add_prices(conn, "^GSPC", {"2025-01-13": 105})
    add_prices(conn, "AAA", {"2025-01-13": 13})
    assert refresh(conn)["status"] == "succeeded"
    # a backdated sell and a corrected close: queued and recomputed from their dates
    import_activities(conn, [sell("2025-01-08", 4, 12)])
    conn.execute(
        "update market.prices set close = 12.5 where symbol = 'AAA' and price_date = '2025-01-10'"
    )
    refresh(conn)
    incremental = snapshots(conn, pid)
    refresh(conn, "full")
    full = snapshots(conn, pid)
    assert list(incremental) == SESSIONS
    columns = ("market_value", "cash_balance", "cost_basis", "inflow", "daily_return", "cum_twr")
    for day in SESSIONS:
        for column in (*columns, "realized_gain_to_date"):
            assert incremental[day][column] == pytest.approx(full[day][column], abs=1e-12), (
                day,
                column,
            )
    # 01-13 by hand: 6 × 13 + (1000 − 110 + 48) = 1016; realized 4 × (12 − 11) = 4
    assert full["2025-01-13"]["market_value"] == 1016
    assert full["2025-01-13"]["realized_gain_to_date"] == 4


def test_the_reader_sees_the_activities_of_public_portfolios_only(conn, db_url) -> None:
    from foliodb import cluster
    from tests.test_security import login

    cluster.ensure_secrets()
    private, _, _ = import_activities(conn, [cash("2025-01-06", "DEPOSIT", 10)], name="private")
    public, _, _ = import_activities(conn, [cash("2025-01-06", "DEPOSIT", 20)], name="public")
    conn.execute("update core.portfolios set is_public = true where portfolio_id = %s", [public])
    with login("folio_reader", db_url, autocommit=True) as reader:
        rows = reader.execute("select portfolio_id, amount from app.activities").fetchall()
        assert rows == [(public, 20)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("select * from core.activities")
    assert private != public


@pytest.mark.parametrize(
    "sample, fmt",
    [
        ("foliodb.csv", "foliodb"),
        ("ghostfolio.json", "ghostfolio"),
        ("wealthfolio.csv", "wealthfolio"),
        ("pp.csv", "pp"),
    ],
)
def test_each_format_sample_imports_whole_and_again_adds_nothing(use_db, conn, sample, fmt) -> None:
    """The readers (foliodb.activity_formats) and the SQL import agree on the canonical row."""
    from click.testing import CliRunner

    from cli.main import cli
    from foliodb.activity_formats import read_activities

    path = Path(__file__).parent.parent / "examples" / "activities" / sample
    expected = len(read_activities(path, fmt))
    args = ["activities", "import", str(path), "--user", EMAIL, "--portfolio", fmt, "--json"]
    args += ["--format", fmt]
    runner = CliRunner()
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["added"] == expected
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) | {"portfolio_id": None} == {
        "portfolio_id": None,
        "added": 0,
        "already_present": expected,
    }
    stored = conn.execute(
        "select count(*) from core.activities as activities"
        " inner join core.portfolios as portfolios using (portfolio_id) where portfolios.name = %s",
        [fmt],
    ).fetchone()[0]
    assert stored == expected


def test_a_refresh_in_chunks_of_one_portfolio_equals_one_in_a_single_chunk(market) -> None:
    """Lots, cash and holdings read the chunk being computed, as positions do: three
    portfolios (two ledgers, one of positions) in chunks of one give the same rows."""
    conn = market
    ledger_a, _, _ = import_activities(
        conn, [cash("2025-01-06", "DEPOSIT", 500), buy("2025-01-07", 10, 11)], "a"
    )
    ledger_b, _, _ = import_activities(
        conn, [buy("2025-01-06", 4, 10), sell("2025-01-10", 1, 12)], "b"
    )
    positions = add_portfolio(conn, "c", "carol@example.com")
    add_position(conn, positions, "AAA", 3, "2025-01-07", 11)

    def published() -> tuple[list, list]:
        snaps = conn.execute(
            "select portfolio_id, session_idx, market_value, cash_balance, cost_basis, cum_twr"
            " from analytics.fct_portfolio_snapshots order by 1, 2"
        ).fetchall()
        holdings = conn.execute(
            "select portfolio_id, symbol, quantity, market_value from analytics.fct_portfolio_holdings"
            " order by 1, 2"
        ).fetchall()
        return snaps, holdings

    assert refresh(conn, "full")["status"] == "succeeded"
    whole = published()
    conn.execute("update ops.settings set value = '1' where key = 'refresh_chunk_portfolios'")
    assert refresh(conn, "full")["status"] == "succeeded"
    chunked = published()
    assert chunked == whole
    assert {row[0] for row in whole[1]} == {ledger_a, ledger_b, positions}
    # by hand, 01-13: a holds 10 × 13 + 500 − 110 = 520; b holds 3 × 13 + 12 (the sale) = 51
    last = {row[0]: row[2] for row in whole[0] if row[1] == max(r[1] for r in whole[0])}
    assert last[ledger_a] == 520 and last[ledger_b] == 51
