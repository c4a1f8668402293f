"""Operating the refresh: concurrency, crashes, the reaper, pg_cron, the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import cli
from foliodb import schedule
from tests.builders import add_portfolio, add_position, add_prices, refresh, snapshots
from tests.crash import CrashWatch


def _priced(conn) -> int:
    """One portfolio of one symbol over three sessions, refreshed; returns its id."""
    add_prices(conn, "^GSPC", {"2025-01-06": 100, "2025-01-07": 101, "2025-01-08": 102})
    add_prices(conn, "AAA", {"2025-01-06": 10, "2025-01-07": 11, "2025-01-08": 12})
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, "2025-01-06", 10)
    assert refresh(conn)["status"] == "succeeded"
    return pid


@pytest.fixture
def priced(conn):
    return conn, _priced(conn)


def _wait_for(predicate, timeout: float = 20.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def _running_refresh(db_url: str):
    with psycopg.connect(db_url) as watcher:
        return watcher.execute(
            "select run_id, backend_pid from ops.runs where kind = 'refresh' and status = 'running'"
        ).fetchone()


def _blocked_refresh(
    db_url: str, blocker: psycopg.Connection, mode: str = "full"
) -> threading.Thread:
    """Start a refresh in a thread; `blocker` holds a lock on the snapshots so it waits."""
    blocker.execute("begin")
    blocker.execute("lock table analytics.fct_portfolio_snapshots in access exclusive mode")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as worker:
                worker.execute("call ops.refresh(%s)", [mode])
        except psycopg.Error as exc:  # killed backends end here
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    _wait_for(lambda: _running_refresh(db_url))
    return thread


def test_concurrent_refresh_is_skipped_and_says_why(priced, db_url) -> None:
    conn, _ = priced
    with psycopg.connect(db_url) as blocker:
        first = _blocked_refresh(db_url, blocker)
        running_id = _running_refresh(db_url)[0]
        second = refresh(conn)
        assert second["status"] == "skipped"
        assert second["message"] == f"another refresh is running (run {running_id})"
        blocker.execute("rollback")
    first.join(30)
    status = conn.execute("select status from ops.runs where run_id = %s", [running_id]).fetchone()[
        0
    ]
    assert status == "succeeded"


def test_lock_timeout_fails_the_run_instead_of_hanging(priced, db_url) -> None:
    conn, _ = priced
    conn.execute("update ops.settings set value = '300ms' where key = 'refresh_lock_timeout'")
    with psycopg.connect(db_url) as blocker:
        blocker.execute("begin")
        blocker.execute("lock table analytics.fct_portfolio_snapshots in access exclusive mode")
        run = refresh(conn, "full")
        blocker.execute("rollback")
    assert run["status"] == "failed"
    assert "lock timeout" in run["error"]
    # The failure is recorded and the lock released: the next refresh runs.
    assert refresh(conn)["status"] == "succeeded"


def test_killed_refresh_leaves_previous_results_and_is_reaped_then_repaired(priced, db_url) -> None:
    conn, pid = priced
    before = snapshots(conn, pid)
    conn.execute(
        "update market.prices set close = 13 where symbol = 'AAA' and price_date = '2025-01-08'"
    )
    blocker = psycopg.connect(db_url)
    worker = _blocked_refresh(db_url, blocker, mode="incremental")
    run_id, backend_pid = _running_refresh(db_url)
    with CrashWatch(db_url) as crash:
        os.kill(backend_pid, signal.SIGKILL)  # kill -9 of the refreshing backend
        worker.join(30)
        with contextlib.suppress(psycopg.Error):
            blocker.close()  # the postmaster ended every backend, this one too
        # Reconnect only once the postmaster has ended every backend and restarted.
        fresh = crash.wait_restarted()
    with fresh:
        # Readers see the previous results, complete.
        assert snapshots(fresh, pid) == before
        assert fresh.execute("select count(*) from ops.dirty_symbols").fetchone()[0] == 1
        assert fresh.execute("select ops.reap()").fetchone()[0] == 1
        status, error = fresh.execute(
            "select status, error from ops.runs where run_id = %s", [run_id]
        ).fetchone()
        assert status == "failed" and error.startswith(f"reaped: backend {backend_pid}")
        assert refresh(fresh)["status"] == "succeeded"
        assert snapshots(fresh, pid)["2025-01-08"]["market_value"] == 130


def test_reaper_leaves_live_runs_alone(priced, db_url) -> None:
    conn, _ = priced
    with psycopg.connect(db_url) as blocker:
        worker = _blocked_refresh(db_url, blocker)
        assert conn.execute("select ops.reap()").fetchone()[0] == 0
        blocker.execute("rollback")
    worker.join(30)


def test_stale_heartbeat_without_backend_is_reaped(conn) -> None:
    run_id = conn.execute(
        "insert into ops.runs (kind, status, backend_pid, heartbeat_at)"
        " values ('ingest_prices', 'running', null, now() - interval '1 hour') returning run_id"
    ).fetchone()[0]
    assert conn.execute("select ops.reap()").fetchone()[0] == 1
    status, error = conn.execute(
        "select status, error from ops.runs where run_id = %s", [run_id]
    ).fetchone()
    assert status == "failed" and error.startswith("reaped: no heartbeat since")


def test_schedule_install_is_idempotent_and_removable(use_db, cron_url) -> None:
    try:
        first = schedule.install(use_db)
        second = schedule.install(use_db)
        names = sorted(job["jobname"] for job in second)
        assert [job["jobname"] for job in first] == names
        dbname = psycopg.conninfo.conninfo_to_dict(use_db)["dbname"]
        assert names == sorted(f"{dbname}:{j.suffix}" for j in schedule.jobs())
        refresh_job = next(job for job in second if job["jobname"].endswith(":refresh"))
        assert refresh_job["command"] == "CALL ops.refresh()"
        assert refresh_job["schedule"] == schedule.NIGHTLY_REFRESH
        # the cron history is kept as long as ops.settings run_details_keep says, as
        # ops.housekeeping keeps it: the job is written from the setting
        purge = next(job for job in second if job["jobname"].endswith(":purge-cron-history"))
        assert purge["command"].endswith("< now() - '14 days'::interval")
        with psycopg.connect(use_db, autocommit=True) as conn:
            conn.execute("update ops.settings set value = '3 days' where key = 'run_details_keep'")
            try:
                third = schedule.install(use_db)
            finally:
                conn.execute(
                    "update ops.settings set value = '14 days' where key = 'run_details_keep'"
                )
        purge = next(job for job in third if job["jobname"].endswith(":purge-cron-history"))
        assert purge["command"].endswith("< now() - '3 days'::interval")
    finally:
        assert schedule.remove(use_db) == len(schedule.jobs())
    assert schedule.status(use_db) == []


def test_cli_refresh_and_status(priced, use_db) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["refresh", "--full", "--json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    assert run["status"] == "succeeded"
    steps = [step["step"] for step in run["steps"]]
    assert steps.index("int_prices_filled_daily") < steps.index("fct_portfolio_snapshots")
    result = runner.invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["last_runs"][0]["status"] == "succeeded"
    assert str(info["freshness"]["refreshed_through"]) == "2025-01-08"
    assert runner.invoke(cli, ["refresh", "--full", "--portfolio", "1"]).exit_code == 2


def test_cli_refresh_failure_exits_1_without_traceback(use_db) -> None:
    result = CliRunner().invoke(cli, ["refresh"])
    assert result.exit_code == 1
    assert "ingest prices first" in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- runs that report themselves

FOLIO = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parents[1]


def _folio(db_url: str, *args: str) -> subprocess.Popen:
    """`folio ARGS` as a separate client process (its own connection, its own output)."""
    env = dict(os.environ, DATABASE_URL=db_url, COLUMNS="100", FOLIO_RECONNECT_TIMEOUT="120")
    return subprocess.Popen(
        [*FOLIO, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _run_by_pid(conn: psycopg.Connection, backend_pid: int, after: int):
    return conn.execute(
        "select run_id, status from ops.runs where kind = 'refresh' and backend_pid = %s"
        " and run_id > %s order by run_id desc limit 1",
        [backend_pid, after],
    ).fetchone()


def _refresh_backend(db_url: str, after: int) -> tuple[int, int] | None:
    """(run_id, backend_pid) of a running refresh newer than `after`."""
    with psycopg.connect(db_url) as watcher:
        return watcher.execute(
            "select run_id, backend_pid from ops.runs where kind = 'refresh'"
            " and status = 'running' and run_id > %s order by run_id limit 1",
            [after],
        ).fetchone()


def _max_run(conn: psycopg.Connection) -> int:
    return conn.execute("select coalesce(max(run_id), 0) from ops.runs").fetchone()[0]


@pytest.fixture
def bigger(conn):
    """20 symbols x the 2024 sessions, 30 portfolios x 4 positions: a full refresh of it
    takes well over 100 ms."""
    conn.execute(
        """
        insert into market.symbols (symbol)
        select 'S' || n from generate_series(1, 20) as n
        union all select '^GSPC'
        on conflict do nothing
        """
    )
    conn.execute(
        """
        insert into market.prices (symbol, price_date, close, source)
        select symbols.symbol, days.session_date,
            round((50 + 10 * sin(days.session_idx / 7.0 + symbols.n))::numeric, 4), 'csv'
        from (
            select 'S' || n as symbol, n from generate_series(1, 20) as n
            union all select '^GSPC', 0
        ) as symbols
        cross join market.trading_days as days
        where days.calendar = 'XNYS' and days.session_date between '2024-01-02' and '2025-01-08'
        """
    )
    for p in range(30):
        pid = add_portfolio(conn, name=f"big{p}", email=f"u{p}@example.com")
        for k in range(4):
            add_position(conn, pid, f"S{(p + k) % 20 + 1}", 10 + k, "2024-01-03", 50)
    first = refresh(conn, "full")
    assert first["status"] == "succeeded", first
    return conn, pid


def _all_snapshots(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select portfolio_id, session_idx, market_value from analytics.fct_portfolio_snapshots"
        " order by 1, 2"
    ).fetchall()


def test_statement_timeout_ends_a_big_refresh_failed_on_the_cli_path(bigger, use_db) -> None:
    conn, _ = bigger
    before = _all_snapshots(conn)
    assert len(before) > 5000
    conn.execute(
        "update market.prices set close = close + 1 where symbol = 'S1' and price_date = '2024-06-03'"
    )
    conn.execute("update ops.settings set value = '100ms' where key = 'refresh_statement_timeout'")
    result = CliRunner().invoke(cli, ["refresh", "--full", "--json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    run = json.loads(result.output[: result.output.rindex("}") + 1])
    assert run["status"] == "failed"
    assert "statement timeout" in run["error"] and "100ms" in run["error"]
    assert f"refresh run {run['run_id']} failed" in result.output
    # Nothing was published and the correction is still queued.
    assert _all_snapshots(conn) == before
    assert conn.execute("select count(*) from ops.dirty_symbols").fetchone()[0] == 1
    conn.execute("update ops.settings set value = '45min' where key = 'refresh_statement_timeout'")
    assert refresh(conn)["status"] == "succeeded"
    assert _all_snapshots(conn) != before


@pytest.mark.slow
def test_pg_cron_runs_the_refresh_job_in_the_database_and_its_statement_timeout_bites(
    bigger, other_db_url, cron_url
) -> None:
    """pg_cron 1.4 starts jobs by the minute (no seconds schedules), so one wait serves two
    databases' jobs scheduled together. In one, a refresh job succeeds. In the other the job
    runs as a non-superuser role whose setting in that database pg_cron's background worker
    arms for its whole CALL (ops.apply_refresh_timeout): a full refresh longer than the
    timeout fails, nothing is published, the correction stays queued."""
    conn, _ = bigger
    before = _all_snapshots(conn)
    conn.execute(
        "update market.prices set close = close + 1 where symbol = 'S1' and price_date = '2024-06-03'"
    )
    dbname = conn.info.dbname
    role = schedule.JOB_ROLE  # the role foliodb schedules its jobs as (foliodb/schedule.py)
    assert role == "folio_refresh"

    def finished_run(c: psycopg.Connection, after: int):
        return c.execute(
            "select status, error from ops.runs where kind = 'refresh' and run_id > %s"
            " and status <> 'running'",
            [after],
        ).fetchone()

    with (
        psycopg.connect(other_db_url, autocommit=True) as small,
        psycopg.connect(cron_url, autocommit=True) as cron,
    ):
        _priced(small)
        small_db = small.info.dbname
        try:
            conn.execute(
                "update ops.settings set value = '100ms' where key = 'refresh_statement_timeout'"
            )
            assert conn.execute("select ops.apply_refresh_timeout(%s)", [role]).fetchone()[0] == (
                "100ms"
            )
            with pytest.raises(psycopg.errors.RaiseException, match="superuser"):
                conn.execute("select ops.apply_refresh_timeout(current_user)")
            last, last_small = _max_run(conn), _max_run(small)
            jobs = {
                name: cron.execute(
                    "select cron.schedule_in_database(%s, '* * * * *', %s, %s, %s)",
                    [f"{db}:test-{name}", command, db, role],
                ).fetchone()[0]
                for name, command, db in (
                    ("timeout", "CALL ops.refresh('full')", dbname),
                    ("refresh", "CALL ops.refresh()", small_db),
                )
            }
            try:
                try:
                    succeeded = _wait_for(lambda: finished_run(small, last_small), 130, every=1)
                    failed = _wait_for(lambda: finished_run(conn, last), 130, every=1)
                except AssertionError as exc:
                    details = cron.execute(
                        "select jobid, status, return_message from cron.job_run_details"
                        " where jobid = any(%s)",
                        [list(jobs.values())],
                    ).fetchall()
                    raise AssertionError(f"no cron run recorded; cron says {details}") from exc
                cron_status = _wait_for(
                    lambda: cron.execute(
                        "select status from cron.job_run_details where jobid = %s"
                        " and status in ('succeeded', 'failed') order by start_time desc limit 1",
                        [jobs["refresh"]],
                    ).fetchone(),
                    timeout=20,
                )
            finally:
                for jobid in jobs.values():
                    cron.execute("select cron.unschedule(%s::bigint)", [jobid])
        finally:
            for c in (conn, small):
                _wait_for(
                    lambda c=c: (
                        not c.execute(
                            "select exists (select from pg_stat_activity where usename = %s"
                            " and datname = current_database())",
                            [role],
                        ).fetchone()[0]
                    ),
                    timeout=60,
                )
            # the role's timeout in this database goes with the database (dropped after the test)
            conn.execute(f"alter role {role} in database {dbname} reset statement_timeout")
    assert succeeded == ("succeeded", None)
    assert cron_status == ("succeeded",)
    assert failed[0] == "failed"
    assert "statement timeout" in failed[1]
    assert _all_snapshots(conn) == before
    assert conn.execute("select count(*) from ops.dirty_symbols").fetchone()[0] == 1


def test_lock_timeout_exits_1_and_two_clients_each_print_their_own_run(priced, use_db) -> None:
    conn, _ = priced
    db_url = use_db
    # Long enough for the second client (in this process: no start-up to wait for) to run
    # while the first still waits.
    conn.execute("update ops.settings set value = '10s' where key = 'refresh_lock_timeout'")
    after = _max_run(conn)
    with psycopg.connect(db_url) as blocker:
        blocker.execute("begin")
        blocker.execute("lock table analytics.fct_portfolio_snapshots in access exclusive mode")
        first = _folio(db_url, "refresh", "--full", "--json")
        first_run, _ = _wait_for(lambda: _refresh_backend(db_url, after), timeout=60)
        # A second client while the first waits on the lock: skipped, and it says so.
        result = CliRunner().invoke(cli, ["refresh", "--json"])
        assert result.exit_code == 0, result.output
        second = json.loads(result.stdout)
        assert second["status"] == "skipped" and second["run_id"] > first_run
        assert second["message"] == f"another refresh is running (run {first_run})"
        assert f"refresh run {second['run_id']} skipped" in result.stderr
        # The first fails on its lock timeout: exit 1, its own run printed, not the newer one.
        code, out, err = _finish(first)
        blocker.execute("rollback")
    assert code == 1, (out, err)
    assert "Traceback" not in err
    run = json.loads(out)
    assert run["run_id"] == first_run and run["status"] == "failed"
    assert "lock timeout" in run["error"]
    assert f"refresh run {first_run} failed" in err


# ---------------------------------------------------------------- the dbt path


def _lock_holder(conn: psycopg.Connection) -> int | None:
    row = conn.execute(
        "select pid from pg_locks where locktype = 'advisory' and granted"
        " and classid = 0 and objid = 7261002 and database ="
        " (select oid from pg_database where datname = current_database())"
    ).fetchone()
    return row[0] if row else None


def test_dbt_and_in_database_refresh_at_once_one_is_skipped(priced, db_url) -> None:
    conn, _ = priced
    # An in-database refresh running: the dbt path is skipped, naming it, and installs nothing.
    with psycopg.connect(db_url) as blocker:
        worker = _blocked_refresh(db_url, blocker)
        running_id = _running_refresh(db_url)[0]
        from foliodb.refresh import run_refresh

        run = run_refresh(db_url, full=True, via="dbt")
        assert run["status"] == "skipped"
        assert run["message"] == f"another refresh is running (run {running_id})"
        blocker.execute("rollback")
    worker.join(60)
    # The dbt path running (it holds the lock from before dbt starts until its publish ends):
    # the in-database refresh (what pg_cron runs) is skipped.
    after = _max_run(conn)
    proc = _folio(db_url, "refresh", "--via", "dbt", "--full", "--json")
    holder = _wait_for(lambda: _lock_holder(conn), timeout=120)
    cron_like = refresh(conn)
    assert cron_like["status"] == "skipped", cron_like
    code, out, err = _finish(proc, timeout=600)
    assert code == 0, (out, err)
    dbt_run = json.loads(out)
    assert dbt_run["status"] == "succeeded" and dbt_run["dbt_tests"] == "passed"
    assert dbt_run["run_id"] > after and dbt_run["run_id"] != cron_like["run_id"]
    assert _run_by_pid(conn, holder, after)[0] == dbt_run["run_id"]


def test_readers_polling_during_a_dbt_build_never_see_two_runs_marts(priced, db_url) -> None:
    conn, pid = priced
    conn.execute(
        "update market.prices set close = 13 where symbol = 'AAA' and price_date = '2025-01-08'"
    )
    seen: list[tuple] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def poll() -> None:
        with psycopg.connect(db_url, autocommit=True) as reader:
            while not stop.is_set():
                try:
                    # one statement, one snapshot: the latest snapshot (fct_portfolio_snapshots),
                    # the MAX chart's end (fct_chart_caches) and the app view over both
                    seen.append(
                        reader.execute(
                            """
                            select
                                (select snapshots.market_value
                                 from analytics.fct_portfolio_snapshots as snapshots
                                 where snapshots.portfolio_id = %(pid)s
                                 order by snapshots.session_idx desc limit 1),
                                (select caches.end_value from analytics.fct_chart_caches as caches
                                 where caches.portfolio_id = %(pid)s and caches.period = 'MAX'),
                                (select dashboard.market_value from app.portfolio_dashboard as dashboard
                                 where dashboard.portfolio_id = %(pid)s)
                            """,
                            {"pid": pid},
                        ).fetchone()
                    )
                except psycopg.Error as exc:  # e.g. an app view missing mid-build
                    errors.append(exc)
                    return
                time.sleep(0.01)

    reader = threading.Thread(target=poll, daemon=True)
    reader.start()
    try:
        from foliodb.refresh import run_refresh

        run = run_refresh(db_url, full=True, via="dbt")
    finally:
        stop.set()
        reader.join(30)
    assert run["status"] == "succeeded"
    assert errors == []
    assert len(seen) > 10
    assert {row for row in seen} <= {(120, 120, 120), (130, 130, 130)}
    assert seen[0] == (120, 120, 120) and seen[-1] == (130, 130, 130)


@pytest.mark.parametrize("delay", [0.0, 2.0, 5.0, 9.0])
def test_killed_dbt_build_leaves_the_in_database_refresh_working(priced, db_url, delay) -> None:
    conn, pid = priced
    before = snapshots(conn, pid)
    from foliodb import models

    dbt = subprocess.Popen(
        [models.dbt_executable(), "run"],
        cwd=ROOT,
        env=models.dbt_env(db_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Once dbt is connected, let it get as far as `delay` takes it, then kill -9.
        _wait_for(
            lambda: (
                conn.execute(
                    "select exists (select from pg_stat_activity where application_name = 'dbt'"
                    " and datname = current_database())"
                ).fetchone()[0]
                or dbt.poll() is not None
            ),
            timeout=120,
            every=0.05,
        )
        time.sleep(delay)
    finally:
        dbt.kill()
        dbt.wait(30)
    # Its backends end when they see the client gone (their transactions roll back).
    _wait_for(
        lambda: (
            not conn.execute(
                "select exists (select from pg_stat_activity where application_name = 'dbt'"
                " and datname = current_database())"
            ).fetchone()[0]
        ),
        timeout=60,
    )
    assert conn.execute("select ops.reap()").fetchone()[0] == 0  # dbt left no ledger run
    run = refresh(conn, "full")
    assert run["status"] == "succeeded", run
    assert _values(snapshots(conn, pid)) == _values(before)
    assert conn.execute("select count(*) from ops.runs where status = 'running'").fetchone()[0] == 0


def test_dbt_full_refresh_of_one_model_leaves_its_dependents_working(priced, db_url) -> None:
    """`--full-refresh` of the snapshots table alone: the views built on it (the app views,
    which this run does not select) and its refresh function stay; rows stay readable."""
    conn, pid = priced
    from foliodb import models

    def dependents() -> list[str]:
        return [
            row[0]
            for row in conn.execute(
                "select distinct views.relname::text from pg_depend as dep"
                " join pg_rewrite as rules on rules.oid = dep.objid"
                " join pg_class as views on views.oid = rules.ev_class"
                " where dep.refobjid = 'analytics.fct_portfolio_snapshots'::regclass"
                " and views.oid <> dep.refobjid order by 1"
            ).fetchall()
        ]

    def dashboard():
        return conn.execute(
            "select market_value from app.portfolio_dashboard where portfolio_id = %s", [pid]
        ).fetchone()

    views_before, table_before = (
        dependents(),
        conn.execute("select 'analytics.fct_portfolio_snapshots'::regclass::oid").fetchone()[0],
    )
    assert views_before and dashboard() == (120,)  # 10 AAA x 12 on 2025-01-08
    done = subprocess.run(
        [models.dbt_executable(), "run", "--full-refresh", "--select", "fct_portfolio_snapshots"],
        cwd=ROOT,
        env=models.dbt_env(db_url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert (
        conn.execute("select 'analytics.fct_portfolio_snapshots'::regclass::oid").fetchone()[0]
        == table_before
    )
    assert dependents() == views_before
    assert dashboard() == (120,)
    conn.execute(
        "update market.prices set close = 13 where symbol = 'AAA' and price_date = '2025-01-08'"
    )
    assert refresh(conn, "full")["status"] == "succeeded"
    assert dashboard() == (130,)


def _values(rows: dict[str, dict]) -> dict[str, dict]:
    """Snapshots without the run that computed them."""
    return {
        day: {k: v for k, v in row.items() if k != "computed_by_run"} for day, row in rows.items()
    }


# ---------------------------------------------------------------- clients that lose the server


def _blocked_cli_refresh(db_url: str, blocker: psycopg.Connection, *args: str):
    """`folio refresh ARGS` in its own process, waiting on a lock `blocker` holds."""
    blocker.execute("begin")
    blocker.execute("lock table analytics.fct_portfolio_snapshots in access exclusive mode")
    with psycopg.connect(db_url, autocommit=True) as probe:
        after = _max_run(probe)
    proc = _folio(db_url, "refresh", *args)
    run_id, backend_pid = _wait_for(lambda: _refresh_backend(db_url, after), timeout=60)
    return proc, run_id, backend_pid


def test_client_whose_backend_is_killed_reports_its_run_reaped(priced, db_url) -> None:
    blocker = psycopg.connect(db_url)
    proc, run_id, backend_pid = _blocked_cli_refresh(db_url, blocker, "--full", "--json")
    with CrashWatch(db_url) as crash:
        os.kill(backend_pid, signal.SIGKILL)
        code, out, err = _finish(proc)
        with contextlib.suppress(psycopg.Error):
            blocker.close()
        crash.wait_restarted().close()
    assert code == 1, (out, err)
    assert "Traceback" not in err
    run = json.loads(out)
    assert run["run_id"] == run_id and run["status"] == "failed"
    assert run["error"].startswith(f"reaped: backend {backend_pid}")
    assert f"refresh run {run_id} failed" in err
    assert "lost the connection to the server" in err


def test_client_interrupted_reports_its_cancelled_run(priced, db_url) -> None:
    with psycopg.connect(db_url) as blocker:
        proc, run_id, _ = _blocked_cli_refresh(db_url, blocker, "--full")
        proc.send_signal(signal.SIGTERM)
        code, out, err = _finish(proc)
        blocker.execute("rollback")
    assert code == 1, (out, err)
    assert "Traceback" not in err
    assert f"refresh interrupted: run {run_id} is failed" in err
    assert "canceling statement due to user request" in err
    with psycopg.connect(db_url) as check:
        status = check.execute("select status from ops.runs where run_id = %s", [run_id]).fetchone()
    assert status[0] == "failed"


def test_postmaster_killed_while_the_client_waits_reports_its_runs_final_state(
    priced, db_url
) -> None:
    blocker = psycopg.connect(db_url)
    proc, run_id, _ = _blocked_cli_refresh(db_url, blocker, "--full", "--json")
    with CrashWatch(db_url) as crash:
        crash.kill_postmaster()  # the waiting backend exits on the postmaster's death
        with contextlib.suppress(psycopg.Error):
            blocker.close()
        fresh = crash.restart_postmaster()
        code, out, err = _finish(proc)
    with fresh:
        final = fresh.execute(
            "select status, error from ops.runs where run_id = %s", [run_id]
        ).fetchone()
    # Whether the waiting backend saw the postmaster die first (then it is reaped) or got its
    # lock when the blocker's backend went and finished (then it committed): the client
    # reports exactly what ops.runs holds, and exits by it.
    assert "Traceback" not in err
    run = json.loads(out)
    assert run["run_id"] == run_id
    assert (run["status"], run["error"]) == final
    assert final[0] in ("failed", "succeeded")
    assert code == (0 if final[0] == "succeeded" else 1), (out, err)
    if final[0] == "failed":
        assert final[1].startswith("reaped: backend")


def test_postmaster_killed_mid_refresh_client_reports_the_committed_success(priced, db_url) -> None:
    """A backend busy computing outlives its postmaster, commits and answers: the client
    must then report `succeeded` (exit 0), reading it back after the restart if need be."""
    conn, _ = priced
    # A first model step that computes for a few seconds (no waits: it does not notice the
    # postmaster's death until it is done, then the run commits).
    conn.execute(
        """
        create function analytics.refresh__busy() returns bigint language sql as $$
            select count(*) from generate_series(1, 30000000) as n where n % 7 = 0
        $$
        """
    )
    conn.execute("grant execute on function analytics.refresh__busy() to folio_refresh")
    conn.execute(
        "insert into ops.model_steps (step_no, model, refresh_function)"
        " select min(step_no) - 1, 'busy', 'analytics.refresh__busy' from ops.model_steps"
    )
    after = _max_run(conn)
    proc = _folio(db_url, "refresh", "--json")
    run_id, _ = _wait_for(lambda: _refresh_backend(db_url, after), timeout=60, every=0.02)
    with CrashWatch(db_url) as crash:
        crash.kill_postmaster()
        with contextlib.suppress(psycopg.Error):
            conn.close()
        # The old backend finishes its CALL, then exits; only then does the server start again.
        crash.restart_postmaster().close()
        code, out, err = _finish(proc)
    assert code == 0, (out, err)
    assert "Traceback" not in err
    run = json.loads(out)
    assert run["run_id"] == run_id and run["status"] == "succeeded"
    assert "busy" in [step["step"] for step in run["steps"]]


# ---------------------------------------------------------------- imports and their refresh

IMPORT_CSV = b"symbol,quantity,entry_date,entry_price\nAAA,5,2025-01-06,10\n"


def _import(db_url: str, data: bytes = IMPORT_CSV, wait: float = 60, name: str = "late"):
    from foliodb import portfolio_io
    from foliodb.db import connect
    from foliodb.security import REFRESH
    from ingest.prices import fetch_for_import

    # the session `folio portfolio import` runs it on
    with connect(db_url, role=REFRESH, autocommit=True) as ledger:
        return portfolio_io.import_portfolio(
            ledger,
            data,
            "late@example.com",
            name,
            url=db_url,
            price_source="demo",
            refresh_wait=wait,
            fetch_prices=fetch_for_import,
        )


def _import_row(conn: psycopg.Connection, run_id: int):
    return conn.execute(
        "select status::text, message, error, details ->> 'refresh' from ops.runs"
        " where run_id = %s",
        [run_id],
    ).fetchone()


def test_import_during_a_full_refresh_waits_and_returns_with_its_snapshots(priced, db_url) -> None:
    conn, _ = priced
    results: list = []
    with psycopg.connect(db_url) as blocker:
        worker = _blocked_refresh(db_url, blocker)
        full_run = _running_refresh(db_url)[0]
        importer = threading.Thread(target=lambda: results.append(_import(db_url)), daemon=True)
        importer.start()
        # Its own refresh was skipped behind the full one: it waits for it...
        _wait_for(
            lambda: conn.execute(
                "select exists (select from ops.runs where kind = 'refresh'"
                " and target like 'portfolio:%%' and status = 'skipped')"
            ).fetchone()[0],
            timeout=60,
        )
        blocker.execute("rollback")
    worker.join(60)
    importer.join(120)
    (result,) = results
    # ...and then refreshes: the snapshots are readable when the import returns.
    assert result.status == "succeeded", result.message
    assert result.refresh["status"] == "succeeded" and result.refresh["run_id"] > full_run
    values = {day: row["market_value"] for day, row in snapshots(conn, result.portfolio_id).items()}
    assert values == {"2025-01-06": 50, "2025-01-07": 55, "2025-01-08": 60}
    status, message, _, state = _import_row(conn, result.run_id)
    assert (status, state) == ("succeeded", "done")
    assert f"refreshed (run {result.refresh['run_id']})" in message


def test_import_queued_behind_a_long_refresh_says_so(priced, db_url) -> None:
    conn, _ = priced
    with psycopg.connect(db_url) as blocker:
        worker = _blocked_refresh(db_url, blocker)
        full_run = _running_refresh(db_url)[0]
        result = _import(db_url, wait=1.0)
        blocker.execute("rollback")
    worker.join(60)
    assert result.status == "partial"
    assert f"another refresh is running (run {full_run})" in result.message
    assert "queued" in result.message
    status, message, error, state = _import_row(conn, result.run_id)
    assert (status, error, state) == ("partial", None, "pending")
    # Written and queued: the next refresh values it.
    queued = conn.execute(
        "select count(*) from ops.dirty_portfolios where portfolio_id = %s", [result.portfolio_id]
    ).fetchone()[0]
    assert queued >= 1
    assert refresh(conn)["status"] == "succeeded"
    assert len(snapshots(conn, result.portfolio_id)) == 3


def test_retry_of_a_written_import_resumes_and_other_positions_are_refused_saying_why(
    priced, db_url
) -> None:
    conn, _ = priced
    with psycopg.connect(db_url) as blocker:
        worker = _blocked_refresh(db_url, blocker)
        first = _import(db_url, wait=0.5)
        blocker.execute("rollback")
    worker.join(60)
    assert first.status == "partial"
    # The same file again: no "already has a portfolio", the import resumes and refreshes.
    again = _import(db_url)
    assert again.status == "succeeded" and again.portfolio_id == first.portfolio_id
    assert f"written by import run {first.run_id}; resumed" in again.message
    assert len(snapshots(conn, first.portfolio_id)) == 3
    assert (
        conn.execute(
            "select count(*) from core.positions where portfolio_id = %s", [first.portfolio_id]
        ).fetchone()[0]
        == 1
    )
    # Other positions under that name: refused, and the message says what is there.
    from foliodb.errors import FolioError

    with pytest.raises(FolioError) as refused:
        _import(db_url, b"symbol,quantity,entry_date,entry_price\nAAA,6,2025-01-06,10\n")
    text = str(refused.value)
    assert f"portfolio_id {first.portfolio_id}" in text
    assert f"written by import run {again.run_id}, succeeded; refresh done" in text


def test_reaped_import_whose_portfolio_was_written_says_so(priced) -> None:
    conn, pid = priced
    # Two imports whose client died: one after writing its portfolio, one before.
    written, unwritten = (
        conn.execute(
            "insert into ops.runs (kind, target, backend_pid, details) values"
            " ('import', 'x', 2147483000, %s) returning run_id",
            [psycopg.types.json.Jsonb(details)],
        ).fetchone()[0]
        for details in ({"portfolio_id": pid, "refresh": "pending"}, {"positions": 1})
    )
    assert conn.execute("select ops.reap()").fetchone()[0] == 2
    row = _import_row(conn, written)
    assert row[0] == "partial" and row[3] == "pending"
    assert (
        row[1] == f"portfolio {pid} written; refresh pending (queued: the next refresh values it)"
    )
    assert row[2].startswith("reaped: backend 2147483000")
    assert _import_row(conn, unwritten)[0] == "failed"
