"""Each `folio` command works as the least role that does its job (README "Who can do what").

The role is a declared property of every command (cli.base). These tests run commands as a
login that may take only the roles a command should need, and with NOINHERIT, so the login
itself has no privilege at all: a step that connects without taking its role, or a role that
may more than the command needs, shows as a refusal. The same command run by a login that
lacks the declared role fails and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from cli.base import FolioCommand
from cli.main import cli
from foliodb import cluster, config, db, security
from tests.builders import add_portfolio, add_position, add_prices

SESSIONS = ["2024-12-30", "2024-12-31", "2025-01-02", "2025-01-03", "2025-01-06"]
KNOWN_ROLES = {
    security.ADMIN,
    security.OWNER,
    security.REFRESH,
    security.INGEST,
    security.WRITER,
    security.READER,
}


def _leaf_commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, path)
        else:
            yield path, command


def test_every_command_declares_a_known_role() -> None:
    commands = dict(_leaf_commands(cli))
    assert len(commands) > 25
    for path, command in commands.items():
        assert isinstance(command, FolioCommand), path
        assert command.role in KNOWN_ROLES, (path, command.role)


def test_commands_that_touch_portfolios_are_not_admin() -> None:
    roles = {path: command.role for path, command in _leaf_commands(cli)}
    assert roles["show"] == roles["leaderboard"] == roles["chart"] == security.READER
    for edit in ("import", "add", "close", "delete", "value"):
        assert roles[f"portfolio {edit}"] == security.WRITER
    assert roles["refresh"] == security.REFRESH
    assert roles["ingest prices"] == roles["ingest calendar"] == security.INGEST
    assert roles["db migrate"] == security.ADMIN


def test_a_connection_opened_while_a_command_runs_takes_its_role(db_url: str) -> None:
    with db.running_as(security.READER), db.connect(db_url) as conn:
        assert conn.execute("select current_user").fetchone()[0] == security.READER
    with db.running_as(security.READER), db.connect(db_url, role=security.INGEST) as conn:
        assert conn.execute("select current_user").fetchone()[0] == security.INGEST
    with db.connect(db_url) as conn:  # no command: the login itself
        assert conn.execute("select current_user").fetchone()[0] == config.SUPERUSER


# --- commands run by a login that may take only some roles ---------------------------------


@pytest.fixture
def data(conn: psycopg.Connection) -> dict:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 102, 101, 103, 104], strict=True)))
    add_prices(conn, "AAA", dict(zip(SESSIONS, [10, 11, 12, 12.6, 13.2], strict=True)))
    pid = add_portfolio(conn, "shown", "ann@example.com", is_public=True)
    position = add_position(conn, pid, "AAA", 10, "2024-12-30", 10)
    private = add_position(conn, pid, "HOUSE", 1, "2024-12-30", 1000, investment_class="PRIVATE")
    conn.execute("call ops.refresh('full', null, null)")
    return {"portfolio_id": pid, "position_id": position, "private_id": private}


@pytest.fixture
def login_as(conn: psycopg.Connection, db_url: str, monkeypatch: pytest.MonkeyPatch):
    """``login_as(*roles)``: DATABASE_URL becomes a NOINHERIT login that may take only ``roles``."""
    made: list[str] = []

    def make(*roles: str) -> str:
        name = f"folio_t_{uuid.uuid4().hex[:10]}"
        conn.execute(
            sql.SQL("create role {} login noinherit password 'pw-roles'").format(
                sql.Identifier(name)
            )
        )
        made.append(name)
        for role in roles:
            conn.execute(
                sql.SQL("grant {} to {}").format(sql.Identifier(role), sql.Identifier(name))
            )
        url = config.local_url(
            conninfo_to_dict(db_url)["dbname"], cluster.current_socket_dir(), name, "pw-roles"
        )
        monkeypatch.setenv("DATABASE_URL", url)
        return name

    yield make
    for name in made:
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_show_needs_nothing_but_the_reader(data, login_as) -> None:
    login_as(security.READER)
    result = _run("show", str(data["portfolio_id"]), "--json")
    assert result.exit_code == 0, result.output
    assert '"portfolio_name": "shown"' in result.output


def test_show_without_the_reader_is_refused(data, login_as) -> None:
    login_as(security.REFRESH, security.WRITER)
    result = _run("show", str(data["portfolio_id"]))
    assert result.exit_code == 1
    assert "permission denied" in result.output


def test_close_writes_as_the_writer_acting_for_the_owner(conn, data, login_as) -> None:
    login_as(security.REFRESH, security.WRITER)
    result = _run(
        "portfolio", "close", str(data["position_id"]), "--date", "2025-01-03", "--price", "12.5"
    )
    assert result.exit_code == 0, result.output
    row = conn.execute(
        "select exit_date, exit_price from core.positions where position_id = %s",
        [data["position_id"]],
    ).fetchone()
    assert row == (dt.date(2025, 1, 3), Decimal("12.5"))


def test_close_without_the_writer_is_refused_and_writes_nothing(conn, data, login_as) -> None:
    login_as(security.REFRESH)
    result = _run("portfolio", "close", str(data["position_id"]), "--date", "2025-01-03")
    assert result.exit_code == 1
    assert "permission denied" in result.output
    row = conn.execute(
        "select exit_date from core.positions where position_id = %s", [data["position_id"]]
    ).fetchone()
    assert row == (None,)


def test_value_and_add_and_delete_need_only_writer_and_refresh(conn, data, login_as) -> None:
    login_as(security.REFRESH, security.WRITER)
    pid = str(data["portfolio_id"])
    valued = _run(
        "portfolio", "value", str(data["private_id"]), "--date", "2025-01-02", "--value", "1100"
    )
    assert valued.exit_code == 0, valued.output
    added = _run(
        "portfolio", "add", pid, "--symbol", "AAA", "--quantity", "5",
        "--entry-date", "2025-01-02", "--entry-price", "12",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    new_id = int(added.stdout.strip().splitlines()[0])
    deleted = _run("portfolio", "delete", str(new_id))
    assert deleted.exit_code == 0, deleted.output
    assert conn.execute(
        "select value from core.valuations where position_id = %s", [data["private_id"]]
    ).fetchone() == (Decimal("1100"),)
    assert conn.execute(
        "select quantity, deleted_at is not null from core.positions where position_id = %s",
        [new_id],
    ).fetchone() == (Decimal("5"), True)


def test_import_for_an_existing_user_needs_only_writer_and_refresh(
    conn, data, login_as, tmp_path
) -> None:
    login_as(security.REFRESH, security.WRITER)
    file = tmp_path / "p.csv"
    file.write_text("symbol,quantity,entry_date,entry_price\nAAA,3,2025-01-02,12\n")
    result = _run(
        "portfolio", "import", str(file), "--user", "ann@example.com", "--name", "second",
        "--no-backfill", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    owner = conn.execute(
        "select users.email from core.portfolios as portfolios"
        " inner join core.users as users using (user_id) where portfolios.name = 'second'"
    ).fetchone()
    assert owner == ("ann@example.com",)


def test_a_writer_session_may_not_create_a_user_it_does_not_act_for(
    conn, data, login_as, tmp_path
) -> None:
    """An app writer acts for one existing user: an import for a new email is the operator's."""
    login_as(security.REFRESH, security.WRITER)
    file = tmp_path / "p.csv"
    file.write_text("symbol,quantity,entry_date,entry_price\nAAA,3,2025-01-02,12\n")
    result = _run(
        "portfolio", "import", str(file), "--user", "new@example.com", "--name", "x",
        "--no-backfill",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "acts for no foliodb user" in result.output
    assert conn.execute(
        "select count(*) from core.users where email = 'new@example.com'"
    ).fetchone() == (0,)
