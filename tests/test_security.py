"""The trust boundary: who can get into the cluster, what each role may do, and
row-level security for apps acting for one foliodb user.

Every check runs against the real cluster, logging in as the real roles (by the socket, with
their generated passwords) or, as root, as another OS user (`nobody`, through runuser).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from cli.main import cli
from foliodb import cluster, config, schedule
from tests.builders import add_portfolio, add_position, add_prices, refresh

SCHEMAS = ("core", "market", "ops", "analytics", "app")
NON_OWNER_ROLES = (
    "folio_owner",
    "folio_refresh",
    "folio_ingest",
    "folio_writer",
    "folio_reader",
    "folio_app",
    "folio_trusted",
)
SESSIONS = ["2024-12-30", "2024-12-31", "2025-01-02", "2025-01-03", "2025-01-06"]
IS_ROOT = os.geteuid() == 0
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


def _dbname(url: str) -> str:
    return conninfo_to_dict(url)["dbname"]


@pytest.fixture
def secrets(template_db: str) -> None:
    """The app roles' generated passwords (the roles exist once a database is migrated)."""
    cluster.ensure_secrets()


def login(role: str, db_url: str, password: str | None = None, **kwargs) -> psycopg.Connection:
    """Log in as ``role`` by the socket with its password (scram), as an app would."""
    url = config.local_url(
        _dbname(db_url),
        cluster.current_socket_dir(),
        role,
        password if password is not None else cluster.read_secret(role),
    )
    return psycopg.connect(url, **kwargs)


# --- who can enter the cluster ---------------------------------------------------------------


def test_authentication_files_have_no_trust_line_and_the_socket_is_private(server) -> None:
    p = cluster.paths()
    hba = [
        line.split()
        for line in (p.data / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert hba and all(fields[-1] != "trust" and "trust" not in fields for fields in hba)
    methods = {(fields[0], fields[2]): fields[3 if fields[0] == "local" else 4] for fields in hba}
    assert methods[("local", config.SUPERUSER)] == "peer"
    assert methods[("local", "all")] == "scram-sha-256"
    assert methods[("host", config.SUPERUSER)] == "reject"
    assert methods[("host", "all")] == "scram-sha-256"
    ident = [
        line.split()
        for line in (p.data / "pg_ident.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {(m, pg) for m, _, pg in ident} == {(cluster.IDENT_MAP, config.SUPERUSER)}
    assert {os_user for _, os_user, _ in ident} <= {"root", os.environ.get("USER", "root"), _me()}
    server_user = "postgres" if IS_ROOT else _me()
    for directory in (p.socket_dir, p.state):
        st = directory.stat()
        assert st.st_mode & 0o777 == 0o700, directory
    assert p.socket_dir.stat().st_uid == _uid(server_user)
    with psycopg.connect(cluster.admin_url()) as conn:
        rows = dict(
            conn.execute(
                "select name, setting from pg_settings where name in"
                " ('listen_addresses', 'unix_socket_permissions', 'password_encryption')"
            ).fetchall()
        )
        # whatever pg_hba_file_rules parsed from the file the server runs with
        assert not conn.execute(
            "select count(*) from pg_hba_file_rules where auth_method = 'trust'"
        ).fetchone()[0]
    assert rows["unix_socket_permissions"] == "0700"
    assert rows["password_encryption"] == "scram-sha-256"
    if not cluster._remembered_tcp(p):
        assert rows["listen_addresses"] == ""


def _me() -> str:
    import getpass

    return getpass.getuser()


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


def _as_nobody(conninfo: str) -> subprocess.CompletedProcess:
    psql = str(config.pg_bin_dir() / "psql")
    return subprocess.run(
        [RUNUSER, "-u", "nobody", "--", psql, "-X", "-w", "-Atc", "select current_user", conninfo],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PGCONNECT_TIMEOUT": "10"},
    )


def _root_only() -> None:
    if not IS_ROOT:
        pytest.skip("needs root to act as another OS user (runuser); CI runs as root")


def test_another_os_user_cannot_connect_by_socket_or_tcp(server, secrets) -> None:
    _root_only()
    sock = cluster.current_socket_dir()
    port = config.port()
    for user in (config.SUPERUSER, "folio_reader", "folio_owner", "postgres"):
        by_socket = _as_nobody(f"host={sock} port={port} user={user} dbname=foliodb")
        assert by_socket.returncode != 0 and "Permission denied" in by_socket.stderr, by_socket
        by_tcp = _as_nobody(f"host=127.0.0.1 port={port} user={user} dbname=foliodb")
        assert by_tcp.returncode != 0, by_tcp
    # the same commands work for the cluster's owner (root here): the socket is the barrier
    with psycopg.connect(cluster.admin_url()) as conn:
        assert conn.execute("select current_user").fetchone()[0] == config.SUPERUSER


def test_app_roles_log_in_with_their_generated_password_only(server, db_url, secrets) -> None:
    directory = cluster.secrets_dir()
    assert directory.stat().st_mode & 0o777 == 0o700
    for role in cluster.APP_LOGIN_ROLES:
        path = directory / role
        assert path.stat().st_mode & 0o777 == 0o600 and path.stat().st_uid == os.geteuid()
        with login(role, db_url) as conn:
            assert conn.execute("select current_user").fetchone()[0] == role
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            login(role, db_url, password="not-the-password")
    # the admin role cannot be reached with a password, by the socket or by TCP
    url = config.local_url(_dbname(db_url), cluster.current_socket_dir(), "folio_owner", "x")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url)


def test_cluster_started_with_trust_is_closed_by_db_up_and_tcp_needs_scram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server
) -> None:
    """A throwaway cluster (port = ours + 10) initialised the old way, with trust for
    everything and TCP on: `db up` rewrites the authentication files and the port is then
    remembered; with the port busy, `db up` names the port, the log and FOLIO_PG_PORT."""
    home = tmp_path / "project"
    home.mkdir()
    port = config.port() + 10
    monkeypatch.setenv("FOLIO_HOME", str(home))
    monkeypatch.setenv("FOLIO_PG_PORT", str(port))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("FOLIO_PG_TCP", raising=False)
    p = cluster.paths()
    try:
        cluster._prepare_dirs(p)
        cluster._run_pg(
            ["initdb", "-D", str(p.data), "-U", config.SUPERUSER, "--auth=trust", "-E", "UTF8"]
        )
        assert "trust" in (p.data / "pg_hba.conf").read_text()
        res = cluster.up(tcp=True)
        assert res.started and res.tcp
        hba = (p.data / "pg_hba.conf").read_text()
        rules = [line.split() for line in hba.splitlines() if line.strip() and line[0] != "#"]
        assert rules and not [fields for fields in rules if "trust" in fields]
        with psycopg.connect(cluster.admin_url(), autocommit=True) as admin:
            admin.execute("create role probe login password 'probe-secret'")
            assert not admin.execute(
                "select count(*) from pg_hba_file_rules where auth_method = 'trust'"
            ).fetchone()[0]
        # TCP: scram with the right password only; the admin role never
        good = f"host=127.0.0.1 port={port} user=probe dbname=foliodb password=probe-secret"
        with psycopg.connect(good) as conn:
            assert conn.execute("select current_user").fetchone()[0] == "probe"
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(good.replace("probe-secret", "wrong"))
        with pytest.raises(psycopg.OperationalError, match="rejects connection|no password"):
            psycopg.connect(f"host=127.0.0.1 port={port} user=folio dbname=foliodb password=x")
        if IS_ROOT:
            for user in ("folio", "probe"):
                by_tcp = _as_nobody(f"host=127.0.0.1 port={port} user={user} dbname=foliodb")
                assert by_tcp.returncode != 0, by_tcp
                by_socket = _as_nobody(
                    f"host={p.socket_dir} port={port} user={user} dbname=foliodb"
                )
                assert by_socket.returncode != 0 and "Permission denied" in by_socket.stderr

        # a new shell without FOLIO_PG_PORT finds the running cluster on its port
        monkeypatch.delenv("FOLIO_PG_PORT")
        assert config.port() == port
        again = cluster.up()
        assert not again.started and again.tcp
        with psycopg.connect(cluster.admin_url()) as conn:
            assert conn.execute("show port").fetchone()[0] == str(port)
        result = CliRunner().invoke(cli, ["db", "status", "--json"])
        assert result.exit_code == 0, result.output
        # FOLIO_PG_PORT naming another port than the running one: a clear refusal
        monkeypatch.setenv("FOLIO_PG_PORT", str(port + 1))
        result = CliRunner().invoke(cli, ["db", "up"])
        assert result.exit_code == 1 and f"already runs on port {port}" in result.output
        assert "Traceback" not in result.output

        # the port busy: named, with the log file and FOLIO_PG_PORT
        monkeypatch.setenv("FOLIO_PG_PORT", str(port))
        cluster.down()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # after TIME_WAIT
            squatter.bind(("127.0.0.1", port))
            squatter.listen(1)
            result = CliRunner().invoke(cli, ["db", "up", "--tcp"])
        assert result.exit_code == 1, result.output
        assert f"port {port}" in result.output and "FOLIO_PG_PORT=" in result.output
        assert str(p.log) in " ".join(result.output.split())
        assert "Traceback" not in result.output
    finally:
        monkeypatch.setenv("FOLIO_PG_PORT", str(port))
        cluster.down()
        shutil.rmtree(p.state, ignore_errors=True)


# --- least privilege ---------------------------------------------------------------------


def test_no_foliodb_function_is_executable_by_public(conn) -> None:
    public = conn.execute(
        """
        select procs.oid::regprocedure::text
        from pg_proc as procs
        inner join pg_namespace as namespaces on procs.pronamespace = namespaces.oid
        where namespaces.nspname = any(%s)
            and (procs.proacl is null or exists (
                select from aclexplode(procs.proacl) as acl
                where acl.grantee = 0 and acl.privilege_type = 'EXECUTE'
            ))
        """,
        [list(SCHEMAS)],
    ).fetchall()
    assert public == []
    # and for functions created later by the owner (dbt's refresh functions, migrations)
    conn.execute("set role folio_owner")
    conn.execute("create function ops.probe_later() returns int language sql as 'select 1'")
    conn.execute("reset role")
    assert not conn.execute(
        "select has_function_privilege('public', 'ops.probe_later()', 'execute')"
    ).fetchone()[0]


def test_every_security_definer_function_pins_its_search_path(conn) -> None:
    definers = conn.execute(
        """
        select procs.oid::regprocedure::text, procs.proconfig
        from pg_proc as procs
        inner join pg_namespace as namespaces on procs.pronamespace = namespaces.oid
        where namespaces.nspname = any(%s) and procs.prosecdef
        """,
        [list(SCHEMAS)],
    ).fetchall()
    assert {name.split("(")[0] for name, _ in definers} >= {
        "core.import_portfolio",
        "core.add_positions",
        "core.close_position",
        "core.delete_position",
        "core.set_valuation",
        "core.delete_portfolio",
        "core.import_activities",
        "core.set_portfolio",
    }
    for name, config_items in definers:
        assert any(item.startswith("search_path=") for item in config_items or []), name


def test_folio_owner_owns_every_object_and_nothing_runs_as_superuser(conn) -> None:
    owners = conn.execute(
        """
        select distinct roles.rolname
        from pg_class as classes
        inner join pg_namespace as namespaces on classes.relnamespace = namespaces.oid
        inner join pg_roles as roles on classes.relowner = roles.oid
        where namespaces.nspname = any(%s) and classes.relkind in ('r', 'p', 'v', 'm', 'S')
        union
        select distinct roles.rolname
        from pg_proc as procs
        inner join pg_namespace as namespaces on procs.pronamespace = namespaces.oid
        inner join pg_roles as roles on procs.proowner = roles.oid
        where namespaces.nspname = any(%s)
        union
        select roles.rolname
        from pg_namespace as namespaces
        inner join pg_roles as roles on namespaces.nspowner = roles.oid
        where namespaces.nspname = any(%s)
        """,
        [list(SCHEMAS)] * 3,
    ).fetchall()
    # the refresh role owns its three work tables (it analyzes them)
    assert {row[0] for row in owners} == {"folio_owner", "folio_refresh"}
    roles = dict(
        conn.execute(
            "select rolname, rolsuper from pg_roles where rolname = any(%s)",
            [list(NON_OWNER_ROLES)],
        ).fetchall()
    )
    assert set(roles) == set(NON_OWNER_ROLES) and not any(roles.values())


def test_copy_to_program_is_refused_to_every_non_owner_role(conn, db_url, secrets) -> None:
    for role in NON_OWNER_ROLES:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("copy (select 1) to program 'id'")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("copy (select 1) to '/tmp/folio-probe'")
        finally:
            conn.execute("reset role")
    for role in cluster.APP_LOGIN_ROLES:
        with (
            login(role, db_url, autocommit=True) as app,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            app.execute("copy (select 1) to program 'id'")


def test_every_cron_job_runs_as_the_refresh_role(use_db, cron_url) -> None:
    try:
        jobs = schedule.install(use_db)
        assert {job["username"] for job in jobs} == {schedule.JOB_ROLE}
        with psycopg.connect(cron_url) as cron:
            superusers = cron.execute(
                "select job.jobname from cron.job"
                " inner join pg_roles as roles on roles.rolname = job.username"
                " where roles.rolsuper"
            ).fetchall()
            assert superusers == []
    finally:
        schedule.remove(use_db)


def test_refresh_and_reaper_run_as_the_refresh_role(conn) -> None:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 102, 101, 103, 104], strict=True)))
    add_prices(conn, "AAA", dict(zip(SESSIONS, [10, 11, 12, 12.6, 13.2], strict=True)))
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, "2024-12-30", 10)
    conn.execute("set role folio_refresh")
    try:
        assert conn.execute("select current_user").fetchone()[0] == "folio_refresh"
        run = refresh(conn, "full")
        assert (run["status"], run["error"]) == ("succeeded", None), run
        conn.execute("select ops.reap()")
        conn.execute("select ops.housekeeping()")
        # YTD from the previous year's last close, 2024-12-31 (110), to 2025-01-06 (132): +20 %
        twr = conn.execute(
            "select period_twr from analytics.fct_chart_caches"
            " where portfolio_id = %s and period = 'YTD'",
            [pid],
        ).fetchone()[0]
        assert twr == pytest.approx(0.20, abs=1e-12)
        # it may not write app data or call the writer's functions
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from core.positions")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select core.delete_portfolio(%s)", [pid])
    finally:
        conn.execute("reset role")


def test_ingest_role_writes_market_data_only(conn) -> None:
    conn.execute("set role folio_ingest")
    try:
        add_prices(conn, "AAA", {"2025-01-02": 10})
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into core.users (email) values ('x@example.com')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from analytics.fct_chart_caches")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("call ops.refresh()")
    finally:
        conn.execute("reset role")
    assert (
        conn.execute("select count(*) from market.prices where symbol = 'AAA'").fetchone()[0] == 1
    )


# --- the reader probe ----------------------------------------------------------------------

# a write into a view is refused as not updatable before privileges are looked at
REFUSED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState)


def test_reader_reads_only_the_app_views(conn, db_url, cron_url, secrets) -> None:
    with login("folio_reader", db_url, autocommit=True) as reader:
        for relation in (
            "core.portfolios",
            "core.positions",
            "market.prices",
            "ops.runs",
            "ops.settings",
            "analytics.fct_chart_caches",
            "analytics.stg_core__portfolios",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(f"select * from {relation} limit 1")
        for statement in (
            "insert into app.user_logins (login_role, user_id) values ('x', 1)",
            "delete from app.leaderboards",
            "update app.portfolio_dashboard set portfolio_name = 'x'",
            "create table app.mine (a int)",
            "create table public.mine (a int)",
            "create schema mine",
            "select ops.setting('calendar')",
            "select ops.reap()",
            "call ops.refresh()",
            "select core.import_portfolio('a@example.com', 'x', false, '[]')",
            "select core.delete_portfolio(1)",
            "select lo_create(0)",
            "select lo_from_bytea(0, 'x')",
            "select lo_import('/etc/hostname')",
            "select pg_read_file('/etc/hostname')",
            "copy (select 1) to program 'id'",
        ):
            with pytest.raises(REFUSED):
                reader.execute(statement)
        # the app views are readable
        assert reader.execute("select count(*) from app.run_status").fetchone()[0] >= 1
        # per-role limits
        assert reader.execute("show statement_timeout").fetchone()[0] == "5s"
        with pytest.raises(psycopg.errors.QueryCanceled):
            reader.execute("select pg_sleep(60)")
    limits = dict(
        conn.execute(
            "select rolname, rolconnlimit from pg_roles where rolname = any(%s)",
            [list(cluster.APP_LOGIN_ROLES)],
        ).fetchall()
    )
    assert all(0 < limit <= 40 for limit in limits.values()), limits
    # and nothing of pg_cron's metadata
    with login("folio_reader", cron_url, autocommit=True) as reader:
        for statement in ("select * from cron.job", "select * from cron.job_run_details"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("select cron.schedule('x', '* * * * *', 'select 1')")


def test_a_role_over_its_connection_limit_is_refused(conn, db_url) -> None:
    role = f"folio_u_{uuid.uuid4().hex[:8]}"
    conn.execute(
        sql.SQL(
            "create role {} login password 'pw-limit' connection limit 1 in role folio_reader"
        ).format(sql.Identifier(role))
    )
    try:
        with (
            login(role, db_url, password="pw-limit"),
            pytest.raises(psycopg.OperationalError, match="too many connections for role"),
        ):
            login(role, db_url, password="pw-limit")
    finally:
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


# --- row-level security: two users, each with a private and a public portfolio -------------


@pytest.fixture
def two_users(conn) -> dict:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 102, 101, 103, 104], strict=True)))
    add_prices(conn, "AAA", dict(zip(SESSIONS, [10, 11, 12, 12.6, 13.2], strict=True)))
    ids: dict = {}
    for user in ("a", "b"):
        for visibility in ("private", "public"):
            pid = add_portfolio(
                conn,
                f"{user}-{visibility}",
                f"{user}@example.com",
                is_public=visibility == "public",
            )
            ids[f"{user}_{visibility}"] = pid
            ids[f"{user}_{visibility}_position"] = add_position(
                conn, pid, "AAA", 10, "2024-12-30", 10
            )
        ids[f"{user}_user"] = conn.execute(
            "select user_id from core.users where email = %s", [f"{user}@example.com"]
        ).fetchone()[0]
    assert refresh(conn, "full")["status"] == "succeeded"
    return ids


@pytest.fixture
def per_user_role(conn) -> Iterator:
    """A factory of per-user login roles (members of folio_reader), mapped to a user."""
    made: list[str] = []

    def make(user_id: int) -> str:
        role = f"folio_u_{uuid.uuid4().hex[:10]}"
        conn.execute(
            sql.SQL("create role {} login password 'pw-user' in role folio_reader").format(
                sql.Identifier(role)
            )
        )
        made.append(role)
        conn.execute(
            "insert into app.user_logins (login_role, user_id) values (%s, %s)", [role, user_id]
        )
        return role

    yield make
    for role in made:
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def _app_relations(conn: psycopg.Connection) -> list[str]:
    """Every app relation with a portfolio_id column."""
    return [
        row[0]
        for row in conn.execute(
            "select table_name from information_schema.columns"
            " where table_schema = 'app' and column_name = 'portfolio_id' order by table_name"
        ).fetchall()
    ]


def _visible(app: psycopg.Connection, user_id: int | None = None) -> dict[str, set[int]]:
    """The portfolio ids each app relation shows, in one transaction acting for user_id."""
    seen = {}
    with app.transaction():
        if user_id is not None:
            app.execute("select set_config('foliodb.user_id', %s, true)", [str(user_id)])
        for relation in _app_relations(app):
            seen[relation] = {
                row[0]
                for row in app.execute(
                    sql.SQL("select distinct portfolio_id from app.{}").format(
                        sql.Identifier(relation)
                    )
                ).fetchall()
            }
    return seen


# the relations that show a ledger's rows only: empty for the fixture's portfolios of positions
NO_LEDGER_ROWS: dict[str, set[int]] = {"activities": set(), "cash_balances": set()}


def test_app_relations_with_portfolios_are_the_expected_ones(conn, two_users) -> None:
    assert _app_relations(conn) == [
        "activities",
        "cash_balances",
        "chart_points",
        "holdings",
        "leaderboards",
        "portfolio_dashboard",
    ]


def test_trusted_backend_acting_for_a_sees_as_own_and_bs_public_only(
    two_users, db_url, secrets
) -> None:
    ids = two_users
    with login("folio_app", db_url) as app:
        seen = _visible(app, ids["a_user"])
        a_sees = {ids["a_private"], ids["a_public"], ids["b_public"]}
        assert seen["portfolio_dashboard"] == a_sees
        assert seen["chart_points"] == a_sees
        # leaderboards rank public portfolios only: B's public one is there
        assert seen["leaderboards"] == {ids["a_public"], ids["b_public"]}
        # another user's user_id is not exposed
        with app.transaction():
            app.execute("select set_config('foliodb.user_id', %s, true)", [str(ids["a_user"])])
            users = dict(
                app.execute("select portfolio_id, user_id from app.portfolio_dashboard").fetchall()
            )
            assert users == {
                ids["a_private"]: ids["a_user"],
                ids["a_public"]: ids["a_user"],
                ids["b_public"]: None,
            }
            assert app.execute("select app.acting_user_id()").fetchone()[0] == ids["a_user"]
            # B's private portfolio: 0 rows by key too
            for relation in _app_relations(app):
                count = app.execute(
                    sql.SQL("select count(*) from app.{} where portfolio_id = %s").format(
                        sql.Identifier(relation)
                    ),
                    [ids["b_private"]],
                ).fetchone()[0]
                assert count == 0, relation
        # set local: the next transaction acts for nobody again
        assert _visible(app)["portfolio_dashboard"] == {ids["a_public"], ids["b_public"]}
        # acting for B
        assert _visible(app, ids["b_user"])["portfolio_dashboard"] == {
            ids["b_private"],
            ids["b_public"],
            ids["a_public"],
        }


def test_no_user_set_sees_public_rows_only(two_users, db_url, secrets) -> None:
    ids = two_users
    public = {ids["a_public"], ids["b_public"]}
    for role in ("folio_reader", "folio_app"):
        with login(role, db_url) as app:
            seen = _visible(app)
            # (these portfolios have positions, no activities and no cash: app.activities and
            # app.cash_balances show none)
            assert seen == {relation: public for relation in seen} | NO_LEDGER_ROWS, role
    # the plain reader is not trusted: setting a user id changes nothing
    with login("folio_reader", db_url) as reader:
        seen = _visible(reader, ids["a_user"])
        assert seen == {relation: public for relation in seen} | NO_LEDGER_ROWS


def test_per_user_login_role_sees_only_its_own_whatever_it_sets(
    two_users, per_user_role, db_url
) -> None:
    ids = two_users
    role = per_user_role(ids["b_user"])
    b_sees = {ids["b_private"], ids["b_public"], ids["a_public"]}
    with login(role, db_url, password="pw-user") as app:
        assert _visible(app)["portfolio_dashboard"] == b_sees
        # setting another user's id (A) still shows B's rows, and never A's private ones
        seen = _visible(app, ids["a_user"])
        assert seen["portfolio_dashboard"] == b_sees and seen["chart_points"] == b_sees
        assert seen["leaderboards"] == {ids["a_public"], ids["b_public"]}
        app.execute(f"set foliodb.user_id = {int(ids['a_user'])}")
        assert app.execute("select app.acting_user_id()").fetchone()[0] == ids["b_user"]
        # it sees its own mapping only
        assert app.execute("select login_role from app.user_logins").fetchall() == [(role,)]


# --- visibility changes: seen by every app relation in the same transaction ---------------


def _visible_as(conn: psycopg.Connection, user_id: int) -> dict[str, set[int]]:
    """What a trusted app backend acting for user_id sees now, inside conn's transaction, in
    every app relation that shows the fixture's portfolios of positions (app.activities and
    app.cash_balances show ledgers only: tests/test_ledger.py and tests/test_fx_cash.py check
    their visibility)."""
    conn.execute("set local role folio_app")
    seen = _visible(conn, user_id)
    for relation in NO_LEDGER_ROWS:
        del seen[relation]
    # back to the operator, acting for everyone
    conn.execute("reset role")
    conn.execute("select set_config('foliodb.user_id', '', true)")
    return seen


def _carried(conn: psycopg.Connection, portfolio_id: int) -> set[tuple]:
    """The (user_id, is_public) the analytics tables behind the app views carry for it."""
    return {
        row
        for table in ("fct_chart_series", "fct_chart_caches", "fct_leaderboards")
        for row in conn.execute(
            sql.SQL("select user_id, is_public from analytics.{} where portfolio_id = %s").format(
                sql.Identifier(table)
            ),
            [portfolio_id],
        ).fetchall()
    }


def test_tables_behind_the_app_views_test_carried_visibility_columns(conn, two_users) -> None:
    policies = dict(
        conn.execute(
            "select polrelid::regclass::text, polname from pg_policy"
            " where polrelid::regclass::text like 'analytics.fct\\_%'"
        ).fetchall()
    )
    assert policies["analytics.fct_chart_series"] == "portfolio_visible_carried"
    assert policies["analytics.fct_chart_caches"] == "portfolio_visible_carried"
    assert policies["analytics.fct_leaderboards"] == "portfolio_visible_carried"
    # the refresh wrote the portfolio's facts: A's public portfolio is A's, and public
    ids = two_users
    assert _carried(conn, ids["a_public"]) == {(ids["a_user"], True)}
    assert _carried(conn, ids["a_private"]) == {(ids["a_user"], False)}


def test_a_policy_made_from_an_older_rule_is_replaced_by_the_next_migrate(conn) -> None:
    # the policy as an older foliodb made it: the acting user tested first, no comment
    conn.execute("drop policy portfolios_visible on core.portfolios")
    conn.execute(
        "create policy portfolios_visible on core.portfolios for select using (is_public"
        " or user_id = (select app.acting_user_id()) or (select app.acts_for_everyone()))"
    )
    conn.execute("select ops.apply_security()")
    qual, rule = conn.execute(
        "select pg_get_expr(polqual, polrelid), obj_description(oid, 'pg_policy') from pg_policy"
        " where polrelid = 'core.portfolios'::regclass and polname = 'portfolios_visible'"
    ).fetchone()
    # the operator test first: a request that sets a user is answered with no lookup
    assert rule == (
        "is_public or (select app.acts_for_everyone()) or user_id = (select app.acting_user_id())"
    )
    assert qual.startswith("(is_public OR ( SELECT app.acts_for_everyone()"), qual
    # every policy carries the rule it was made from; a second pass changes nothing
    before = conn.execute("select array_agg(oid order by oid) from pg_policy").fetchone()[0]
    assert not conn.execute(
        "select array_agg(polname) from pg_policy where obj_description(oid, 'pg_policy') is null"
        " and polname <> 'user_logins_own'"
    ).fetchone()[0]
    conn.execute("select ops.apply_security()")
    assert conn.execute("select array_agg(oid order by oid) from pg_policy").fetchone()[0] == before


def test_a_request_that_sets_a_user_never_acts_for_everyone_and_the_operator_does(
    conn, two_users
) -> None:
    ids = two_users
    with conn.transaction(force_rollback=True):
        conn.execute("set local role folio_app")
        conn.execute("select set_config('foliodb.user_id', %s, true)", [str(ids["a_user"])])
        assert conn.execute("select app.acts_for_everyone()").fetchone()[0] is False
        assert conn.execute("select app.acting_user_id()").fetchone()[0] == ids["a_user"]
    # the operator (the admin login taking the reader role) setting no user acts for everyone
    with conn.transaction(force_rollback=True):
        conn.execute("set local role folio_reader")
        assert conn.execute("select app.acts_for_everyone()").fetchone()[0] is True
        users = dict(conn.execute("select portfolio_id, user_id from app.portfolio_dashboard"))
        # every portfolio, with its user's id (public ones included)
        assert users == {
            ids["a_private"]: ids["a_user"],
            ids["a_public"]: ids["a_user"],
            ids["b_private"]: ids["b_user"],
            ids["b_public"]: ids["b_user"],
        }


def test_portfolio_made_private_disappears_for_others_in_the_same_transaction(
    conn, two_users
) -> None:
    ids = two_users
    with conn.transaction(force_rollback=True):
        before = _visible_as(conn, ids["b_user"])
        assert all(ids["a_public"] in seen for seen in before.values()), before
        conn.execute(
            "update core.portfolios set is_public = false where portfolio_id = %s",
            [ids["a_public"]],
        )
        seen = _visible_as(conn, ids["b_user"])
        assert all(ids["a_public"] not in rows for rows in seen.values()), seen
        # its owner still sees it everywhere (its leaderboard rows until the next refresh)
        own = _visible_as(conn, ids["a_user"])
        assert all(ids["a_public"] in rows for rows in own.values()), own
    # committed, a new session acting for B sees the same
    conn.execute(
        "update core.portfolios set is_public = false where portfolio_id = %s", [ids["a_public"]]
    )
    with conn.transaction():
        seen = _visible_as(conn, ids["b_user"])
    assert all(ids["a_public"] not in rows for rows in seen.values()), seen


def test_portfolio_made_public_appears_for_others_in_the_same_transaction(conn, two_users) -> None:
    ids = two_users
    with conn.transaction(force_rollback=True):
        assert ids["b_private"] not in _visible_as(conn, ids["a_user"])["chart_points"]
        conn.execute(
            "update core.portfolios set is_public = true where portfolio_id = %s",
            [ids["b_private"]],
        )
        seen = _visible_as(conn, ids["a_user"])
        assert ids["b_private"] in seen["portfolio_dashboard"]
        assert ids["b_private"] in seen["chart_points"]
        # the leaderboard ranks it from the next refresh on (it was private at the last one)
        assert ids["b_private"] not in seen["leaderboards"]
        assert _carried(conn, ids["b_private"]) == {(ids["b_user"], True)}
    assert _carried(conn, ids["b_private"]) == {(ids["b_user"], False)}


def test_portfolio_moved_to_another_user_follows_its_new_user_in_the_same_transaction(
    conn, two_users
) -> None:
    ids = two_users
    with conn.transaction(force_rollback=True):
        conn.execute(
            "update core.portfolios set user_id = %s where portfolio_id = %s",
            [ids["b_user"], ids["a_private"]],
        )
        assert all(
            ids["a_private"] not in rows for rows in _visible_as(conn, ids["a_user"]).values()
        )
        seen = _visible_as(conn, ids["b_user"])
        assert ids["a_private"] in seen["portfolio_dashboard"]
        assert ids["a_private"] in seen["chart_points"]
        assert _carried(conn, ids["a_private"]) == {(ids["b_user"], False)}
        # and its user_id is shown to its new user only
        conn.execute("set local role folio_app")
        conn.execute("select set_config('foliodb.user_id', %s, true)", [str(ids["b_user"])])
        shown = conn.execute(
            "select user_id from app.portfolio_dashboard where portfolio_id = %s",
            [ids["a_private"]],
        ).fetchone()
        assert shown == (ids["b_user"],)


def test_deleted_portfolio_disappears_from_every_app_relation_in_the_same_transaction(
    conn, two_users
) -> None:
    ids = two_users
    with conn.transaction(force_rollback=True):
        conn.execute("delete from core.portfolios where portfolio_id = %s", [ids["b_public"]])
        for user in ("a_user", "b_user"):
            seen = _visible_as(conn, ids[user])
            assert all(ids["b_public"] not in rows for rows in seen.values()), (user, seen)
        # its derived rows (gone at the next refresh) carry no user and are not public
        assert _carried(conn, ids["b_public"]) == {(None, False)}


def test_visibility_change_waits_for_a_refresh_writing_the_old_facts(
    conn, two_users, db_url
) -> None:
    """A refresh that read the portfolio as public and is rewriting its rows when the owner
    makes it private: the change waits for it to publish, then hides the rows it wrote."""
    ids = two_users
    portfolio = ids["a_public"]
    with psycopg.connect(db_url) as stale_refresh:
        # the refresh's delete and insert of the portfolio's rows, with the facts it read
        rows = stale_refresh.execute(
            "delete from analytics.fct_chart_caches where portfolio_id = %s returning *",
            [portfolio],
        ).fetchall()
        assert rows
        columns = [
            column.name
            for column in stale_refresh.execute(
                "select * from analytics.fct_chart_caches limit 0"
            ).description
        ]
        with stale_refresh.cursor() as cur:
            cur.executemany(
                sql.SQL("insert into analytics.fct_chart_caches ({}) values ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                ),
                rows,
            )
        done = threading.Event()
        errors: list[BaseException] = []

        def make_private() -> None:
            try:
                with psycopg.connect(db_url, autocommit=True) as owner:
                    owner.execute(
                        "update core.portfolios set is_public = false where portfolio_id = %s",
                        [portfolio],
                    )
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                done.set()

        changer = threading.Thread(target=make_private, daemon=True)
        changer.start()
        # wait (bounded) until the change waits for the refresh's lock
        deadline = time.monotonic() + 30
        while not conn.execute(
            "select exists (select from pg_stat_activity where datname = current_database()"
            " and wait_event_type = 'Lock' and query like 'update core.portfolios%%')"
        ).fetchone()[0]:
            assert not done.is_set(), errors
            assert time.monotonic() < deadline, "the change did not wait for the refresh"
            time.sleep(0.01)
        stale_refresh.commit()
    changer.join(timeout=30)
    assert done.is_set() and not errors, errors
    assert _carried(conn, portfolio) == {(ids["a_user"], False)}
    with conn.transaction():
        seen = _visible_as(conn, ids["b_user"])
    assert all(portfolio not in rows for rows in seen.values()), seen


def test_a_rename_changes_no_carried_visibility(conn, two_users) -> None:
    ids = two_users
    with conn.transaction(force_rollback=True):
        conn.execute(
            "update core.portfolios set name = 'renamed' where portfolio_id = %s", [ids["a_public"]]
        )
        assert _carried(conn, ids["a_public"]) == {(ids["a_user"], True)}


def test_leaderboard_top_n_is_read_in_index_order_with_the_policy_on(conn, two_users) -> None:
    """The policy is a column test and the view a plain select: `order by rank limit n` is an
    index scan of (period, rank) under the limit, with no sort of the period's rows."""
    ids = two_users
    with conn.transaction(force_rollback=True):
        # the test data is a few rows: make the planner pick an index, as on real data
        conn.execute("set local enable_seqscan = off")
        conn.execute("set local enable_bitmapscan = off")
        conn.execute("set local role folio_app")
        conn.execute("select set_config('foliodb.user_id', %s, true)", [str(ids["a_user"])])
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "explain select rank, portfolio_id from app.leaderboards"
                " where period = '1Y' and is_ranked order by rank limit 20"
            ).fetchall()
        )
    assert "Sort" not in plan and "SubPlan" not in plan, plan
    assert "Index Scan using fct_leaderboards__period_rank" in plan, plan
    # the policy is a column test: the carried visibility and the two InitPlans' answers
    assert "(is_public OR $0 OR (user_id = $1))" in plan, plan


# --- database privileges ----------------------------------------------------------------------


def test_only_the_batch_roles_may_create_temporary_tables(conn, db_url, secrets) -> None:
    # the test's clone got them as migrate applies them (security.apply_database_privileges)
    grantees = {
        row[0]
        for row in conn.execute(
            "select coalesce(grantee::regrole::text, 'PUBLIC') from pg_database,"
            " aclexplode(datacl) where datname = current_database()"
            " and privilege_type = 'TEMPORARY' and grantee <> datdba"
        ).fetchall()
    }
    assert grantees == {"folio_owner", "folio_refresh", "folio_ingest"}
    for role in cluster.APP_LOGIN_ROLES:
        with (
            login(role, db_url, autocommit=True) as app,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            app.execute("create temp table mine (a int)")
    for role in ("folio_refresh", "folio_ingest", "folio_owner"):
        with psycopg.connect(db_url, autocommit=True) as batch:
            batch.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
            batch.execute("create temp table mine (a int)")


# --- the app writer ------------------------------------------------------------------------

POSITIONS = [{"symbol": "AAA", "quantity": "5", "entry_date": "2025-01-02", "entry_price": "12"}]


def _counts(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "select (select count(*) from core.users), (select count(*) from core.portfolios),"
        " (select count(*) from core.positions where deleted_at is null),"
        " (select count(*) from core.positions where exit_date is not null),"
        " (select count(*) from core.valuations)"
    ).fetchone()


def test_app_writer_writes_only_for_the_user_it_acts_for(conn, two_users, db_url, secrets) -> None:
    ids = two_users
    before = _counts(conn)
    with login("folio_writer", db_url, autocommit=True) as writer:
        writer.execute(f"set foliodb.user_id = {int(ids['a_user'])}")
        refused = [
            (
                "select core.import_portfolio('b@example.com', 'sneaky', false, %s)",
                [Jsonb(POSITIONS)],
            ),
            # an existing portfolio of b's: refused as b's, before its name is reported taken
            (
                "select core.import_portfolio('b@example.com', 'b-private', false, %s)",
                [Jsonb(POSITIONS)],
            ),
            ("select core.add_positions(%s, %s)", [ids["b_private"], Jsonb(POSITIONS)]),
            (
                "select core.close_position(%s, date '2025-01-06', 13)",
                [ids["b_public_position"]],
            ),
            ("select core.delete_position(%s)", [ids["b_private_position"]]),
            ("select core.set_valuation(%s, date '2025-01-06', 1)", [ids["b_public_position"]]),
            ("select core.delete_portfolio(%s)", [ids["b_private"]]),
            # refused before anything of b's portfolio (its ledger's currencies) is read
            ("select core.set_portfolio(%s, 'EUR')", [ids["b_private"]]),
            ("select core.set_portfolio(%s, p_is_public => true)", [ids["b_private"]]),
        ]
        for statement, args in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                writer.execute(statement, args)
            message = str(caught.value)
            assert "permission denied: this session acts for user" in message, message
            assert "belongs to another user, nothing written" in message
        assert _counts(conn) == before

        # no direct access to the tables, whatever user it acts for
        for statement in (
            "select * from core.portfolios",
            "delete from core.positions",
            "select * from app.portfolio_dashboard",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                writer.execute(statement)

        # for its own user it can import, edit and delete
        pid = writer.execute(
            "select core.import_portfolio('a@example.com', 'new', true, %s)", [Jsonb(POSITIONS)]
        ).fetchone()[0]
        assert (
            writer.execute(
                "select core.close_position(%s, date '2025-01-06', 13)", [ids["a_public_position"]]
            ).fetchone()[0]
            == ids["a_public"]
        )
        writer.execute("select core.delete_position(%s)", [ids["a_private_position"]])
        writer.execute("select core.set_portfolio(%s, p_cost_method => 'average')", [pid])
        writer.execute("select core.delete_portfolio(%s)", [pid])

        # acting for nobody: nothing
        writer.execute("reset foliodb.user_id")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="acts for no foliodb user"):
            writer.execute(
                "select core.import_portfolio('a@example.com', 'n2', false, %s)",
                [Jsonb(POSITIONS)],
            )
    owners = dict(
        conn.execute(
            "select portfolio_id, user_id from core.portfolios where portfolio_id = %s", [pid]
        ).fetchall()
    )
    assert owners == {}  # imported for A, then deleted by A
    users, portfolios, live, closed, valuations = _counts(conn)
    assert (users, portfolios, live, closed, valuations) == (
        before[0],
        before[1],
        before[2] - 1,
        before[3] + 1,
        before[4],
    )


def test_per_user_writer_role_cannot_write_for_another_user(
    conn, two_users, per_user_role, db_url
) -> None:
    ids = two_users
    role = per_user_role(ids["a_user"])
    conn.execute(sql.SQL("grant folio_writer to {}").format(sql.Identifier(role)))
    before = _counts(conn)
    with login(role, db_url, password="pw-user", autocommit=True) as writer:
        writer.execute(f"set foliodb.user_id = {int(ids['b_user'])}")  # ignored: mapped to A
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="another user"):
            writer.execute("select core.delete_position(%s)", [ids["b_public_position"]])
        assert (
            writer.execute(
                "select core.delete_position(%s)", [ids["a_public_position"]]
            ).fetchone()[0]
            == ids["a_public"]
        )
    assert _counts(conn)[2] == before[2] - 1


# --- no secrets in output ------------------------------------------------------------------


def test_db_status_masks_the_password_of_database_url(use_db, monkeypatch) -> None:
    params = conninfo_to_dict(use_db)
    url = (
        f"postgresql://{params['user']}:hunter2-secret@/{params['dbname']}"
        f"?host={params['host']}&port={params['port']}"
    )
    monkeypatch.setenv("DATABASE_URL", url)
    for args in (["db", "status"], ["db", "status", "--json"]):
        result = CliRunner().invoke(cli, args)
        assert "hunter2-secret" not in result.output
        assert "***" in result.output or "…" in result.output
    assert config.mask_url("postgresql://u:p%40ss@h:5/db") == "postgresql://u:***@h:5/db"
    assert config.mask_url("host=h password='a b' user=u") == "host=h password=*** user=u"
    assert config.mask_url("postgresql://u@/db?host=%2Fx&password=pw&port=1") == (
        "postgresql://u@/db?host=%2Fx&password=***&port=1"
    )


def test_db_url_for_a_role_says_it_prints_a_secret(server, secrets, monkeypatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["db", "url", "--role", "folio_app"])
    assert result.exit_code == 0, result.output
    secret = cluster.read_secret("folio_app")
    assert secret in result.stdout
    assert "secret" in result.stderr and secret not in result.stderr
    with psycopg.connect(result.stdout.strip()) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "folio_app"
    plain = CliRunner().invoke(cli, ["db", "url"])
    assert plain.exit_code == 0 and "secret" not in plain.stderr
    bad = CliRunner().invoke(cli, ["db", "url", "--role", "folio_owner"])
    assert bad.exit_code == 2


def test_db_roles_reports_the_catalog(use_db) -> None:
    result = CliRunner().invoke(cli, ["db", "roles", "--json"])
    assert result.exit_code == 0, result.output
    import json

    roles = {row["role"]: row for row in json.loads(result.stdout)}
    assert set(NON_OWNER_ROLES) <= set(roles)
    assert roles["folio_reader"]["writes"] == [] and roles["folio_writer"]["reads"] == []
    assert roles["folio_reader"]["statement_timeout"] == "5s"
    assert any(item.startswith("app (") for item in roles["folio_reader"]["reads"])
    assert all(
        "only through the app views" in item
        for item in roles["folio_reader"]["reads"]
        if not item.startswith("app (")
    )
    assert roles["folio_writer"]["executes"] == [
        "core.add_positions, core.close_position, core.delete_portfolio, "
        "core.delete_position, core.import_activities, core.import_portfolio, core.set_portfolio,"
        " core.set_valuation"
    ]
    assert roles["folio_refresh"]["bypass_rls"] and not roles["folio_refresh"]["superuser"]
    assert "temporary tables" in roles["folio_refresh"]["writes"]
    assert not any(roles[role]["temporary_tables"] for role in cluster.APP_LOGIN_ROLES)
    table = CliRunner().invoke(cli, ["db", "roles"])
    assert table.exit_code == 0 and "folio_writer" in table.output
