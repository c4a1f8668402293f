"""A portfolio's settings (core.set_portfolio, `folio portfolio set`) and the base currency of a
portfolio an activities import creates: each setting changed alone, the change queued, every
refusal named, nothing written on a refusal."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.builders import add_portfolio, add_prices

EMAIL = "settings@example.com"
SESSIONS = ["2025-01-06", "2025-01-07", "2025-01-08"]


def settings(conn: psycopg.Connection, pid: int) -> tuple:
    return conn.execute(
        "select base_currency, is_public, benchmark_symbol, cost_method::text"
        " from core.portfolios where portfolio_id = %s",
        [pid],
    ).fetchone()


def import_activities(conn, name: str, rows: list[dict], base: str | None = None):
    numbered = [{"line": str(i + 2), **row} for i, row in enumerate(rows)]
    return conn.execute(
        "select * from core.import_activities(%s, %s, %s::jsonb, %s)",
        [EMAIL, name, json.dumps(numbered), base],
    ).fetchone()


DEPOSIT_EUR = {"activity_date": "2025-01-06", "activity_type": "DEPOSIT", "amount": "100",
               "currency": "EUR"}  # fmt: skip


def test_each_setting_changes_alone_and_queues_the_portfolio(conn) -> None:
    add_prices(conn, "QQQ", dict(zip(SESSIONS, [500, 501, 502], strict=True)))
    pid = add_portfolio(conn, "mine", EMAIL)
    assert settings(conn, pid) == ("USD", False, "^GSPC", "fifo")
    conn.execute("delete from ops.dirty_portfolios")
    conn.execute("select core.set_portfolio(%s, p_cost_method => 'average')", [pid])
    assert settings(conn, pid) == ("USD", False, "^GSPC", "average")
    conn.execute("select core.set_portfolio(%s, p_is_public => true)", [pid])
    conn.execute("select core.set_portfolio(%s, p_benchmark_symbol => ' qqq ')", [pid])
    conn.execute("select core.set_portfolio(%s, 'EUR')", [pid])
    assert settings(conn, pid) == ("EUR", True, "QQQ", "average")
    # each change queued the portfolio's whole history
    queued = conn.execute(
        "select distinct portfolio_id, from_date::text from ops.dirty_portfolios"
    ).fetchall()
    assert queued == [(pid, "1900-01-01")]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("select core.set_portfolio(%s, 'XYZ')", "base currency 'XYZ' is not a whole currency"),
        ("select core.set_portfolio(%s, 'GBp')", "not a subunit such as GBp"),
        (
            "select core.set_portfolio(%s, p_benchmark_symbol => 'NOPE')",
            "benchmark 'NOPE' has no prices in market.prices",
        ),
        (
            "select core.set_portfolio(%s, p_cost_method => 'lifo')",
            "cost method 'lifo': expected fifo or average",
        ),
    ],
)
def test_a_bad_setting_is_refused_and_nothing_changes(conn, call: str, message: str) -> None:
    pid = add_portfolio(conn, "mine", EMAIL)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
        conn.execute(call, [pid])
    assert settings(conn, pid) == ("USD", False, "^GSPC", "fifo")


def test_no_such_portfolio_is_named(conn) -> None:
    with pytest.raises(
        psycopg.errors.InvalidParameterValue, match="no portfolio with portfolio_id"
    ):
        conn.execute("select core.set_portfolio(987654, 'EUR')")


def test_an_import_creates_its_portfolio_in_the_base_currency_given(conn) -> None:
    pid, added, _ = import_activities(conn, "euro", [DEPOSIT_EUR], base="EUR")
    assert added == 1 and settings(conn, pid)[0] == "EUR"
    # the same base again (or none) imports into it; another one is refused, naming both
    assert import_activities(conn, "euro", [DEPOSIT_EUR])[1:] == (0, 1)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="is in EUR, not USD"):
        import_activities(conn, "euro", [DEPOSIT_EUR], base="USD")
    # its base stays while activities are in it
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="has activities in EUR"):
        conn.execute("select core.set_portfolio(%s, 'USD')", [pid])
    assert settings(conn, pid)[0] == "EUR"


def test_an_import_with_an_unknown_base_currency_writes_nothing(conn) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="'EURO' is not a whole"):
        import_activities(conn, "euro", [DEPOSIT_EUR], base="EURO")
    assert conn.execute("select count(*) from core.portfolios").fetchone() == (0,)
    # without a base currency a new portfolio is in USD: the EUR deposit, stating no rate, is
    # EUR cash in it
    pid = import_activities(conn, "euro", [DEPOSIT_EUR])[0]
    assert conn.execute(
        "select base_currency from core.portfolios where portfolio_id = %s", [pid]
    ).fetchone() == ("USD",)


def test_cli_sets_and_imports_in_a_base_currency(use_db, conn, tmp_path) -> None:
    runner = CliRunner()
    file = tmp_path / "eur.csv"
    file.write_text("activity_date,activity_type,amount,currency\n2025-01-06,DEPOSIT,100,EUR\n")
    imported = runner.invoke(
        cli,
        ["activities", "import", str(file), "--user", EMAIL, "--portfolio", "Depot",
         "--base-currency", "EUR", "--json"],
    )  # fmt: skip
    assert imported.exit_code == 0, imported.output
    pid = json.loads(imported.stdout)["portfolio_id"]
    done = runner.invoke(
        cli, ["portfolio", "set", "Depot", "--public", "--cost-method", "average", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {
        "portfolio_id": pid,
        "name": "Depot",
        "base_currency": "EUR",
        "is_public": True,
        "benchmark_symbol": "^GSPC",
        "cost_method": "average",
    }
    refused = runner.invoke(cli, ["portfolio", "set", "Depot", "--base-currency", "USD"])
    assert refused.exit_code == 1
    assert "has activities in EUR" in refused.output and "Traceback" not in refused.output
    nothing = runner.invoke(cli, ["portfolio", "set", "Depot"])
    assert nothing.exit_code == 2 and "nothing to change" in nothing.output
