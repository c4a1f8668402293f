"""Running the refresh: in the database (`call ops.refresh`) or through dbt.

Both execute the same SQL: the refresh functions dbt installs from the models. The
in-database path is what pg_cron runs nightly; it publishes in one transaction.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from foliodb import models
from foliodb.db import connect
from foliodb.errors import FolioError

RUN_COLUMNS = "run_id, kind, target, status, started_at, finished_at, rows, error, message, details"


def _last_run(conn: psycopg.Connection, min_run_id: int) -> dict[str, Any]:
    row = conn.execute(
        f"select {RUN_COLUMNS},"
        " round(extract(epoch from finished_at - started_at)::numeric * 1000, 1) as duration_ms"
        " from ops.runs where kind = 'refresh' and run_id > %s order by run_id desc limit 1",
        [min_run_id],
    ).fetchone()
    if row is None:
        raise FolioError("the refresh left no ledger row")
    row["steps"] = conn.execute(
        "select step, rows, duration_ms from ops.run_steps where run_id = %s order by step_no",
        [row["run_id"]],
    ).fetchall()
    return row


def models_installed(conn: psycopg.Connection) -> bool:
    row = conn.execute("select exists (select from ops.model_steps) as installed").fetchone()
    return bool(row["installed"] if isinstance(row, dict) else row[0])


def run_refresh(
    url: str | None = None,
    full: bool = False,
    portfolio_id: int | None = None,
    via: str = "db",
) -> dict[str, Any]:
    """Refresh and return the ledger row of the run (status succeeded / failed / skipped).

    ``via='db'`` calls ``ops.refresh`` (installing the models through dbt first if they are
    missing); ``via='dbt'`` runs ``dbt build`` (models, their refresh functions and the dbt
    tests).
    """
    if full and portfolio_id is not None:
        raise FolioError("choose --full or --portfolio, not both")
    mode = "full" if full else "portfolio" if portfolio_id is not None else "incremental"
    with connect(url, role="folio_refresh", autocommit=True, row_factory=dict_row) as conn:
        before = conn.execute("select coalesce(max(run_id), 0) as n from ops.runs").fetchone()["n"]
        if via == "dbt":
            if portfolio_id is not None:
                raise FolioError("--via dbt refreshes everything or the queue, not one portfolio")
            dbt_mode = "full" if full else "incremental"
            try:
                models.run_dbt(["build", "--vars", json.dumps({"refresh_mode": dbt_mode})], url)
            except FolioError:
                run = _last_run(conn, before)
                if run["status"] == "running":
                    conn.execute("select ops.dbt_close(false, 'dbt build failed')")
                raise
            return _last_run(conn, before)
        if via != "db":
            raise FolioError(f"unknown --via {via!r}: use db or dbt")
        if not models_installed(conn):
            models.install(url)
            if not full and portfolio_id is None:
                return _last_run(conn, before)  # installing ran a full build
        conn.execute("call ops.refresh(%s, %s)", [mode, portfolio_id])
        return _last_run(conn, before)
