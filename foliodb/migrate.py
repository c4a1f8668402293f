"""Versioned SQL migrations and re-runnable routines.

- ``sql/migrations/NNNN_title.sql``: applied once each, in order, each in its own transaction,
  recorded in ``ops.schema_migrations`` with a SHA-256 checksum. An applied file that was
  edited afterwards is refused: write a new migration instead.
- ``sql/routines/*.sql``: ``create or replace`` functions, procedures and triggers, applied
  every time, in name order, in one transaction.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from foliodb import config
from foliodb.errors import FolioError

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
LOCK_KEY = 7_261_001  # advisory lock: one migrator at a time

LEDGER_DDL = """
create schema if not exists ops;
create table if not exists ops.schema_migrations (
    version text primary key,
    filename text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
);
"""


def sql_dir() -> Path:
    return config.project_root() / "sql"


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass
class MigrateResult:
    applied: list[str] = field(default_factory=list)
    already: int = 0
    routines: int = 0


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir() / "migrations"
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = MIGRATION_NAME.match(path.name)
        if not m:
            raise FolioError(f"{path}: migration files are named NNNN_short_title.sql")
        found.append(Migration(m.group(1), path))
    versions = [m.version for m in found]
    dupes = {v for v in versions if versions.count(v) > 1}
    if dupes:
        raise FolioError(f"two migrations share version {', '.join(sorted(dupes))}")
    return found


def routines(directory: Path | None = None) -> list[Path]:
    return sorted((directory or sql_dir() / "routines").glob("*.sql"))


def applied(conn: psycopg.Connection) -> dict[str, str]:
    conn.execute(LEDGER_DDL)
    rows = conn.execute("select version, checksum from ops.schema_migrations").fetchall()
    return dict(rows)


def pending(conn: psycopg.Connection) -> list[Migration]:
    done = applied(conn)
    return [m for m in discover() if m.version not in done]


def check_edited(migrations: list[Migration], done: dict[str, str]) -> None:
    for m in migrations:
        if m.version in done and done[m.version] != m.checksum:
            raise FolioError(
                f"{m.path.name} was applied with checksum {done[m.version][:12]}… but the file "
                f"now has {m.checksum[:12]}…: applied migrations must not be edited. Revert the "
                "file and put the change in a new migration."
            )


def migrate(url: str | None = None) -> MigrateResult:
    """Apply pending migrations, then every routine file. Safe to run any number of times.

    A URL, not a connection: migrations run on a session of their own as the login that owns
    the objects (the admin), holding the migration lock for the whole run."""
    result = MigrateResult()
    with psycopg.connect(url or config.database_url(), autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", [LOCK_KEY])
        try:
            conn.execute("set client_min_messages = warning")
            done = applied(conn)
            migrations = discover()
            check_edited(migrations, done)
            for m in migrations:
                if m.version in done:
                    result.already += 1
                    continue
                with conn.transaction():
                    try:
                        conn.execute(m.path.read_text())
                    except psycopg.Error as exc:
                        raise FolioError(f"{m.path.name} failed: {exc}") from exc
                    conn.execute(
                        "insert into ops.schema_migrations (version, filename, checksum)"
                        " values (%s, %s, %s)",
                        [m.version, m.path.name, m.checksum],
                    )
                result.applied.append(m.path.name)
            with conn.transaction():
                for path in routines():
                    try:
                        conn.execute(path.read_text())
                    except psycopg.Error as exc:
                        raise FolioError(f"{path.relative_to(sql_dir())} failed: {exc}") from exc
                    result.routines += 1
        finally:
            conn.execute("select pg_advisory_unlock(%s)", [LOCK_KEY])
    return result


def status(conn: psycopg.Connection) -> tuple[int, int]:
    """(applied, pending) migration counts; raises if an applied file was edited."""
    done = applied(conn)
    migrations = discover()
    check_edited(migrations, done)
    return len(done), len([m for m in migrations if m.version not in done])
