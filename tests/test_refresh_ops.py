"""Operating the refresh: concurrency, crashes, the reaper, pg_cron, the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import cli
from foliodb import schedule
from tests.builders import add_portfolio, add_position, add_prices, refresh, snapshots


@pytest.fixture
def priced(conn):
    add_prices(conn, "^GSPC", {"2025-01-06": 100, "2025-01-07": 101, "2025-01-08": 102})
    add_prices(conn, "AAA", {"2025-01-06": 10, "2025-01-07": 11, "2025-01-08": 12})
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, "2025-01-06", 10)
    assert refresh(conn)["status"] == "succeeded"
    return conn, pid


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
    os.kill(backend_pid, signal.SIGKILL)  # kill -9 of the refreshing backend
    worker.join(30)
    with contextlib.suppress(psycopg.Error):
        blocker.close()  # the postmaster ended every backend, this one too
    # The postmaster restarts every backend after a crash: reconnect once it accepts again.

    def reconnect():
        try:
            return psycopg.connect(db_url, autocommit=True)
        except psycopg.OperationalError:
            return None

    fresh = _wait_for(reconnect, timeout=60, every=0.5)
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


@pytest.mark.slow
def test_pg_cron_runs_the_refresh_job_in_the_database(priced, db_url, cron_url) -> None:
    conn, _ = priced
    dbname = conn.info.dbname
    job = f"{dbname}:test-refresh"
    with psycopg.connect(cron_url, autocommit=True) as cron:
        cron.execute(
            "select cron.schedule_in_database(%s, '* * * * *', 'CALL ops.refresh()', %s, %s)",
            [job, dbname, schedule.JOB_ROLE],
        )
        try:
            last = conn.execute("select max(run_id) from ops.runs").fetchone()[0]

            def cron_run():
                return conn.execute(
                    "select status, error from ops.runs where kind = 'refresh' and run_id > %s"
                    " and status <> 'running'",
                    [last],
                ).fetchone()

            status, error = _wait_for(cron_run, timeout=130, every=1)
            assert (status, error) == ("succeeded", None)
            details = cron.execute(
                "select status from cron.job_run_details join cron.job using (jobid)"
                " where jobname = %s order by start_time desc limit 1",
                [job],
            ).fetchone()
            assert details[0] == "succeeded"
        finally:
            cron.execute("delete from cron.job where jobname = %s", [job])


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
