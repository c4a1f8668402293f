"""Running the refresh: `call ops.refresh(...)`, directly or after dbt installed the models.

There is one publish: ``ops.refresh`` takes the advisory lock, commits its ledger row, runs the
refresh functions dbt installs in one transaction and hands back its run id. Both ways of
running it here (``via='db'``, what pg_cron runs, and ``via='dbt'``: ``dbt run`` installs the
models' tables and refresh functions, then the same ``call``, then ``dbt test``) report that
run and no other.

A client that loses the server mid-run (its backend killed, the postmaster killed or
restarted) reconnects, polling with a bound, and reads its run's final state from ops.runs:
the row was committed before the work started. Interrupting the client (Ctrl-C, SIGTERM)
cancels the run in the server, which ends it ``failed``, and reports that too.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from foliodb import models
from foliodb.db import connect
from foliodb.errors import FolioError

RUN_COLUMNS = "run_id, kind, target, status, started_at, finished_at, rows, error, message, details"

# How long a client that lost the server keeps trying to reconnect (seconds).
RECONNECT_PATIENCE = 120.0
RECONNECT_EVERY = 0.5


def reconnect_patience() -> float:
    text = os.environ.get("FOLIO_RECONNECT_TIMEOUT")
    return float(text) if text else RECONNECT_PATIENCE


class RefreshInterrupted(FolioError):
    """The client was interrupted; carries the run's final state when it could be read."""

    def __init__(self, message: str, run: dict[str, Any] | None = None):
        super().__init__(message)
        self.run = run


def read_run(conn: psycopg.Connection, run_id: int) -> dict[str, Any]:
    """One refresh run's ledger row with its steps."""
    row = conn.execute(
        f"select {RUN_COLUMNS},"
        " round(extract(epoch from finished_at - started_at)::numeric * 1000, 1) as duration_ms"
        " from ops.runs where run_id = %s",
        [run_id],
    ).fetchone()
    if row is None:
        raise FolioError(f"refresh run {run_id} has no ledger row")
    row["steps"] = conn.execute(
        "select step, rows, duration_ms from ops.run_steps where run_id = %s order by step_no",
        [row["run_id"]],
    ).fetchall()
    return row


def _own_run_id(conn: psycopg.Connection, after_run_id: int, backend_pid: int) -> int | None:
    """The run a lost CALL started: the newest refresh row its backend wrote."""
    row = conn.execute(
        "select max(run_id) as run_id from ops.runs"
        " where kind = 'refresh' and run_id > %s and backend_pid = %s",
        [after_run_id, backend_pid],
    ).fetchone()
    return row["run_id"] if row else None


CANCELLED_BY_CLIENT = (
    "canceling statement due to user request (the client was interrupted before the run's"
    " steps began)"
)


def _fail_own_run(
    conn: psycopg.Connection, after_run_id: int, backend_pid: int, error: str
) -> int | None:
    """End failed, with ``error``, the run this session's CALL left running; its id (None: the
    CALL opened no run). A run the server already ended is left as it is."""
    run_id = _own_run_id(conn, after_run_id, backend_pid)
    if run_id is not None:
        conn.execute(
            "select ops.end_run(runs.run_id, 'failed', p_error => %s)"
            " from ops.runs where runs.run_id = %s and runs.status = 'running'",
            [error, run_id],
        )
    return run_id


def models_installed(conn: psycopg.Connection) -> bool:
    row = conn.execute("select exists (select from ops.model_steps) as installed").fetchone()
    return bool(row["installed"] if isinstance(row, dict) else row[0])


def _connect(url: str | None) -> psycopg.Connection:
    """A session of the refresh client's own (a URL: it reconnects, see :func:`run_refresh`)."""
    # The refresh runs with the refresh role's privileges only (foliodb.db.connect: role).
    return connect(url, role="folio_refresh", autocommit=True, row_factory=dict_row)


def _reconnect(url: str | None, patience: float) -> psycopg.Connection:
    """A fresh connection, polling until the server accepts one (a crash restart takes a few
    seconds; a postmaster someone has to start again, longer). A URL: a new session is the
    point."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn = psycopg.connect(url or _default_url(), autocommit=True, row_factory=dict_row)
            conn.execute("select 1 from ops.runs limit 1")
            return conn
        except psycopg.Error as exc:
            if time.monotonic() > deadline:
                raise FolioError(
                    f"lost the connection to the server and could not reconnect in "
                    f"{patience:.0f} s ({str(exc).strip()})"
                ) from exc
            time.sleep(RECONNECT_EVERY)


def _default_url() -> str:
    from foliodb import config

    return config.database_url()


def _settle(
    url: str | None,
    run_id: int | None,
    after_run_id: int,
    backend_pid: int,
    patience: float,
) -> dict[str, Any] | None:
    """After the CALL's connection was lost or abandoned: reconnect, find the run, wait (bounded)
    until it is no longer running, and return its row (None: the run never started). A URL:
    the session it reads on is a new one."""
    deadline = time.monotonic() + patience
    while True:
        conn = _reconnect(url, max(deadline - time.monotonic(), 1.0))
        try:
            with conn:
                if run_id is None:
                    run_id = _own_run_id(conn, after_run_id, backend_pid)
                    if run_id is None:
                        return None
                run = read_run(conn, run_id)
                if run["status"] != "running":
                    return run
                # Its backend may be gone (killed, crash restart): the reaper closes such runs.
                conn.execute("select ops.reap()")
                run = read_run(conn, run_id)
                if run["status"] != "running" or time.monotonic() > deadline:
                    return run
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
        time.sleep(RECONNECT_EVERY)


def call_refresh(
    url: str | None,
    mode: str,
    portfolio_id: int | None = None,
    *,
    patience: float | None = None,
    conn: psycopg.Connection | None = None,
) -> dict[str, Any]:
    """`call ops.refresh(mode, portfolio_id)` and return that run's ledger row.

    The session's statement_timeout is set from ops.settings before the CALL: a setting made
    inside the running CALL would arm no timer. ``conn`` (closed afterwards): a session to
    run it on, e.g. one holding the refresh lock already.
    """
    patience = reconnect_patience() if patience is None else patience
    conn = conn if conn is not None else _connect(url)
    backend_pid = conn.info.backend_pid
    run_id: int | None = None
    lost: BaseException | None = None
    try:
        after = conn.execute("select coalesce(max(run_id), 0) as n from ops.runs").fetchone()["n"]
        conn.execute(
            "select set_config('statement_timeout',"
            " coalesce(ops.setting('refresh_statement_timeout'), '0'), false)"
        )
        try:
            row = conn.execute("call ops.refresh(%s, %s, null)", [mode, portfolio_id]).fetchone()
            run_id = row["p_run_id"]
            return read_run(conn, run_id)
        except psycopg.OperationalError as exc:  # the server went away mid-run
            lost = exc
        except psycopg.Error as exc:
            # The server refused or ended the CALL outside the run's own error handling (a
            # bad argument; a timeout that fired before the run's block): close it here, on
            # the connection whose backend would otherwise keep the run "running".
            error = (exc.diag.message_primary if exc.diag else None) or str(exc).strip()
            run_id = _fail_own_run(conn, after, backend_pid, error)
            if run_id is None:
                raise FolioError(f"refresh refused: {error}") from exc
            return read_run(conn, run_id)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM turned into it by the CLI
            lost = exc
            # psycopg cancelled the CALL. Inside the run's block the server ends the run failed
            # itself; a cancel that landed between the run's commit and its block (a window of
            # microseconds) left it "running" on this still-open session: close it here, with
            # the same reason, rather than leave it to the reaper.
            with contextlib.suppress(psycopg.Error, KeyboardInterrupt):
                if not conn.closed:
                    _fail_own_run(conn, after, backend_pid, CANCELLED_BY_CLIENT)
    finally:
        with contextlib.suppress(Exception):  # a broken connection may fail to close; it is gone
            conn.close()
    # psycopg cancelled the running query on KeyboardInterrupt; the run ends failed in the
    # server. A lost server is waited for, with a bound.
    interrupted = isinstance(lost, KeyboardInterrupt)
    run = _settle(url, run_id, after, backend_pid, min(patience, 30.0) if interrupted else patience)
    reason = (
        "interrupted"
        if interrupted
        else f"lost the connection to the server ({str(lost).strip().splitlines()[0]})"
    )
    if run is None:
        raise FolioError(f"refresh {reason} before its run started: nothing was changed")
    run["client_note"] = f"{reason}; reconnected and read run {run['run_id']} from ops.runs"
    if interrupted:
        raise RefreshInterrupted(
            f"refresh interrupted: run {run['run_id']} is {run['status']}"
            + (f" ({run['error']})" if run.get("error") else ""),
            run,
        )
    return run


def run_refresh(
    url: str | None = None,
    full: bool = False,
    portfolio_id: int | None = None,
    via: str = "db",
) -> dict[str, Any]:
    """Refresh and return the ledger row of this run (status succeeded / failed / skipped).

    ``via='db'``: ``call ops.refresh`` (installing the models through dbt first if they are
    missing). ``via='dbt'``: ``dbt run`` installs (or updates) the models' tables and refresh
    functions, ``call ops.refresh`` publishes, then ``dbt test`` checks the published rows
    (its outcome in ``dbt_tests``).

    A URL, not a connection: this client opens its own sessions as folio_refresh because it
    must reconnect after a server restart (and dbt, a subprocess, connects by itself).
    """
    if full and portfolio_id is not None:
        raise FolioError("choose --full or --portfolio, not both")
    if via not in ("db", "dbt"):
        raise FolioError(f"unknown --via {via!r}: use db or dbt")
    if via == "dbt" and portfolio_id is not None:
        raise FolioError("--via dbt refreshes everything or the queue, not one portfolio")
    mode = "full" if full else "portfolio" if portfolio_id is not None else "incremental"
    if via == "db":
        with _connect(url) as conn:
            installed = models_installed(conn)
        if not installed:
            models.install(url)
        return call_refresh(url, mode, portfolio_id)
    # dbt: take the refresh lock for the whole run (a concurrent refresh, pg_cron's included,
    # is skipped, and so is this one if another holds it), install, then publish on the same
    # session (ops.refresh takes the lock again there).
    conn = _connect(url)
    try:
        skipped = conn.execute("select ops.refresh_lock(%s) as run_id", [f"dbt:{mode}"]).fetchone()[
            "run_id"
        ]
        if skipped is not None:
            run = read_run(conn, skipped)
            conn.close()
            return run
        models.install(url, lock_holder=conn.info.backend_pid)
    except BaseException:
        conn.close()
        raise
    run = call_refresh(url, mode, conn=conn)
    run["via"] = "dbt"
    if run["status"] == "succeeded":
        try:
            models.run_dbt(["test", "--quiet"], url)
            run["dbt_tests"] = "passed"
        except FolioError as exc:
            run["dbt_tests"] = str(exc)
    return run
