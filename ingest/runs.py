"""The ledger end of an ingest run, shared by prices and FX rates (ops.runs rows)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg.types.json import Jsonb


def row_counts(inserted: int, updated: int, unchanged: int, quarantined: int) -> str:
    return (
        f"{inserted} inserted, {updated} updated, {unchanged} unchanged, {quarantined} quarantined"
    )


def outcome(
    failures: dict[str, str], attempted: int, done: str, rows: str
) -> tuple[str, str, str | None]:
    """(status, message, error) of a run that tried ``attempted`` symbols, pairs or files:
    succeeded with ``done`` when nothing failed, failed (the message is the error) when all
    did, else partial keeping the rest (``rows``). The first ten failures are named."""
    listed = "; ".join(f"{k}: {v}" for k, v in list(failures.items())[:10])
    more = f"; … and {len(failures) - 10} more" if len(failures) > 10 else ""
    if not failures:
        return "succeeded", done, None
    if len(failures) >= attempted:
        message = f"all {len(failures)} failed: {listed}{more}"
        return "failed", message, message
    return (
        "partial",
        f"{len(failures)} of {attempted} failed: {listed}{more}; kept the rest ({rows})",
        None,
    )


def end_run(
    conn: psycopg.Connection,
    run_id: int | None,
    status: str,
    message: str | None,
    error: str | None,
    rows_written: int,
    details: dict,
) -> None:
    """Ends the run's ops.runs row (ops.end_run), in its own transaction."""
    with conn.transaction():
        conn.execute(
            "select ops.end_run(%s, %s, %s, %s, %s, %s)",
            [run_id, status, message, error, rows_written, Jsonb(details)],
        )


@contextlib.contextmanager
def exclusive(conn: psycopg.Connection, lock: int) -> Iterator[bool]:
    """Holds the advisory lock ``lock`` (one run of a kind at a time) for the block when it is
    free, yielding True; yields False at once when another session holds it. Released after
    the block (a lost connection took it along)."""
    if not conn.execute("select pg_try_advisory_lock(%s)", [lock]).fetchone()[0]:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(psycopg.Error):  # connection gone: its lock went with it
            conn.execute("select pg_advisory_unlock(%s)", [lock])


def record_skipped(conn: psycopg.Connection, kind: str, source: str, what: str) -> tuple[int, str]:
    """The lock was held (:func:`exclusive`): a ``skipped`` run of ``kind`` naming the running
    one, in its own transaction; returns its id and message ("another … is running (run N)")."""
    holder = conn.execute(
        "select max(run_id) from ops.runs where kind = %s and status = 'running'", [kind]
    ).fetchone()[0]
    message = f"another {what} is running" + (f" (run {holder})" if holder else "")
    with conn.transaction():
        run_id = conn.execute(
            "select ops.record_run(%s, %s, 'skipped', %s)", [kind, source, message]
        ).fetchone()[0]
    return run_id, message
