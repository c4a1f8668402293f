"""The foundation: migrations, constraints, the embedded cluster, the CLI surface."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import cli
from foliodb import clock, migrate
from foliodb.errors import FolioError


def test_migrate_twice_is_a_noop(use_db: str) -> None:
    result = migrate.migrate(use_db)
    assert result.applied == []
    assert result.already == len(migrate.discover())


def test_edited_applied_migration_is_refused(
    use_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_copy = tmp_path / "sql"
    shutil.copytree(migrate.sql_dir(), sql_copy)
    first = sorted((sql_copy / "migrations").glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    monkeypatch.setattr(migrate, "sql_dir", lambda: sql_copy)
    with pytest.raises(FolioError, match="must not be edited"):
        migrate.migrate(use_db)


def test_new_migration_is_applied_once(
    use_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_copy = tmp_path / "sql"
    shutil.copytree(migrate.sql_dir(), sql_copy)
    (sql_copy / "migrations" / "9999_probe.sql").write_text("create table ops.probe (x int);")
    monkeypatch.setattr(migrate, "sql_dir", lambda: sql_copy)
    assert migrate.migrate(use_db).applied == ["9999_probe.sql"]
    assert migrate.migrate(use_db).applied == []
    with psycopg.connect(use_db) as conn:
        assert conn.execute("select count(*) from ops.probe").fetchone()[0] == 0


def _user_and_portfolio(conn: psycopg.Connection) -> int:
    user_id = conn.execute(
        "insert into core.users (email) values ('a@example.com') returning user_id"
    ).fetchone()[0]
    return conn.execute(
        "insert into core.portfolios (user_id, name) values (%s, 'p') returning portfolio_id",
        [user_id],
    ).fetchone()[0]


def test_negative_price_is_refused_by_the_database(conn: psycopg.Connection) -> None:
    # the price bound's check (migration 0290 dropped close_positive, which it implies)
    with pytest.raises(psycopg.errors.CheckViolation, match="close_within_bounds"):
        conn.execute(
            "insert into market.prices (symbol, price_date, close, source)"
            " values ('SPY', '2025-01-06', -1, 'csv')"
        )


@pytest.mark.parametrize(
    ("values", "constraint"),
    [("1, -1, null", "adj_close_within_bounds"), ("1, null, -1", "volume_within_bounds")],
)
def test_a_negative_adj_close_or_volume_is_refused_by_the_bounds(
    conn: psycopg.Connection, values: str, constraint: str
) -> None:
    # the checks the bounds imply (adj_close_positive, volume_not_negative) went in 0290
    with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
        conn.execute(
            "insert into market.prices (symbol, price_date, close, adj_close, volume, source)"
            f" values ('SPY', '2025-01-06', {values}, 'csv')"
        )


def test_future_entry_date_is_refused_by_the_database(conn: psycopg.Connection) -> None:
    portfolio_id = _user_and_portfolio(conn)
    tomorrow = clock.today() + dt.timedelta(days=1)
    with pytest.raises(psycopg.errors.CheckViolation, match="entry_not_in_future"):
        conn.execute(
            "insert into core.positions (portfolio_id, symbol, quantity, entry_date, entry_price)"
            " values (%s, 'SPY', 1, %s, 100)",
            [portfolio_id, tomorrow],
        )


def test_unknown_investment_class_is_refused_by_the_database(conn: psycopg.Connection) -> None:
    portfolio_id = _user_and_portfolio(conn)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation, match="investment_class"):
        conn.execute(
            "insert into core.positions"
            " (portfolio_id, symbol, investment_class, quantity, entry_date, entry_price)"
            " values (%s, 'SPY', 'CRYPTO', 1, '2025-01-06', 100)",
            [portfolio_id],
        )


@pytest.mark.parametrize(
    ("column_sql", "constraint"),
    [
        (
            "quantity, entry_date, entry_price, exit_date) values (%s, 'SPY', 0, '2025-01-06', 1, null)",
            "quantity_not_zero|long_unless_option",
        ),
        (
            "quantity, entry_date, entry_price, exit_date) values (%s, 'SPY', 1, '2025-01-06', 1, '2025-01-06')",
            "exit_after_entry",
        ),
        (
            "quantity, entry_date, entry_price, exit_date) values (%s, 'SPY', 1, '2025-01-06', 0, null)",
            "entry_price_positive",
        ),
        (
            "quantity, entry_date, entry_price, exit_date) values (%s, 'SPY', -5, '2025-01-06', 1, null)",
            "long_unless_option",
        ),
    ],
)
def test_position_rules_live_in_the_database(
    conn: psycopg.Connection, column_sql: str, constraint: str
) -> None:
    portfolio_id = _user_and_portfolio(conn)
    with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
        conn.execute(
            "insert into core.positions (portfolio_id, symbol, " + column_sql, [portfolio_id]
        )


def test_malformed_symbol_is_refused_by_the_database(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="symbol_format"):
        conn.execute("insert into market.symbols (symbol) values ('not a symbol')")


def test_db_status_names_versions(use_db: str) -> None:
    result = CliRunner().invoke(cli, ["db", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert '"server_version": "15.' in result.output
    assert '"migrations_current": true' in result.output


def _all_commands(group, prefix=()):
    yield prefix
    for name, command in getattr(group, "commands", {}).items():
        yield from _all_commands(command, (*prefix, name))


def test_every_command_explains_itself() -> None:
    runner = CliRunner()
    commands = list(_all_commands(cli))
    assert len(commands) > 5
    for path in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Example:" in result.output or not path, path
        assert runner.invoke(cli, [*path, "-h"]).exit_code == 0


def test_version_flag() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "folio" in result.output
