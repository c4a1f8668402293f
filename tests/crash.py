"""Waiting, with a bound, until a crashed server has really restarted.

After kill -9 of a backend the postmaster ends every other backend and reinitializes shared
memory; until it has, a new connection may be accepted and then killed with the rest. So a
test that crashes the server first holds a session advisory lock on a marker connection:
the lock lives in shared memory, which survives until the crash restart reinitializes it. The
server has restarted once a fresh connection succeeds AND no longer sees the marker's lock.

    with CrashWatch(db_url) as crash:
        os.kill(backend_pid, signal.SIGKILL)
        fresh = crash.wait_restarted()       # an autocommit connection to db_url

For a killed postmaster, ``crash.restart_postmaster()`` starts it again with the project's
own code (``cluster.up()``, retried until the old backends are gone) and then waits the same
way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

import psycopg

from foliodb import cluster

RESTART_PATIENCE = 120.0


class CrashWatch:
    def __init__(self, db_url: str, patience: float = RESTART_PATIENCE):
        self.db_url = db_url
        self.patience = patience
        # a key of this watch alone: parallel tests hold their own
        self.key = int(uuid.uuid4().int % (2**31 - 1)) + 1
        self.marker = psycopg.connect(db_url, autocommit=True)
        self.marker_pid = self.marker.info.backend_pid
        self.marker.execute("select pg_advisory_lock(%s, %s)", [7_261_098, self.key])

    def __enter__(self) -> CrashWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.marker.close()

    def _marker_held(self, conn: psycopg.Connection) -> bool:
        row = conn.execute(
            "select exists (select from pg_locks where locktype = 'advisory'"
            " and classid = %s and objid = %s and pid = %s)",
            [7_261_098, self.key, self.marker_pid],
        ).fetchone()
        return bool(row[0])

    def wait_restarted(self) -> psycopg.Connection:
        """A fresh autocommit connection, once the crash restart has happened."""
        deadline = time.monotonic() + self.patience
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                conn = psycopg.connect(self.db_url, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.2)
                continue
            try:
                if not self._marker_held(conn):
                    return conn
            except psycopg.OperationalError as exc:  # killed by the restart itself
                last = exc
            with contextlib.suppress(Exception):
                conn.close()
            time.sleep(0.2)
        raise AssertionError(f"the server did not restart within {self.patience} s ({last})")

    # ------------------------------------------------------------------ the postmaster

    @staticmethod
    def postmaster_pid() -> int:
        """The pid of THIS project's postmaster (its data directory's postmaster.pid)."""
        pid_file = Path(cluster.paths().data) / "postmaster.pid"
        return int(pid_file.read_text().splitlines()[0])

    def kill_postmaster(self) -> int:
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def restart_postmaster(self) -> psycopg.Connection:
        """Start the killed postmaster again (cluster.up(); it refuses while backends of the
        old one still hold its shared memory) and wait until it serves."""
        deadline = time.monotonic() + self.patience
        while True:
            try:
                cluster.up()
                break
            except Exception as exc:  # noqa: BLE001 - old backends still exiting
                if time.monotonic() > deadline:
                    raise AssertionError(f"the postmaster did not start again: {exc}") from exc
                time.sleep(0.5)
        return self.wait_restarted()
