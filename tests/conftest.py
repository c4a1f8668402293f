"""Fixtures: a real PostgreSQL 15 + pg_cron, started by the project's own code.

Each test that needs a database gets a fresh one, cloned from a migrated template
(``create database … template …`` copies files: tens of milliseconds). The template is
keyed by a hash of sql/ and dbt_project/, so it is rebuilt only when they change, and it is
built under an advisory lock so parallel pytest processes share it.

Time is an input: the suite pins "today" (FOLIO_TODAY, default PINNED_TODAY) for itself, for the
CLI and dbt it runs (through PGOPTIONS, see foliodb.clock) and for every test database (the
database setting foliodb.now, which pg_cron's jobs read too). Run it on another date with
``FOLIO_TODAY=2027-01-04 make test``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

# Pin the clock before foliodb is imported (importing it exports the clock to libpq).
PINNED_TODAY = "2026-12-01"
os.environ.setdefault("FOLIO_TODAY", PINNED_TODAY)

from foliodb import clock, cluster, config, models, security  # noqa: E402
from ingest import calendar  # noqa: E402

clock.export()

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_LOCK = 7_261_099


def _tree_hash() -> str:
    # The calendar's extent follows "today": a template per pinned date.
    tree = models.definition_hash(extra=[Path(__file__)])
    return hashlib.sha256(f"{tree} {clock.now().isoformat()}".encode()).hexdigest()[:12]


def build_database(url: str) -> None:
    """Everything a foliodb database holds before data: migrations, calendar, dbt models."""
    calendar.prepare(url)
    if not os.environ.get("FOLIO_TEST_SKIP_MODELS"):
        models.install(url)
    # A sequence hands out up to 32 values per WAL record; a database cloned from this one
    # would, after a crash, replay the copied page and hand the same values out again.
    # setval logs the exact state, so clones start from a logged sequence.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            do $$
            declare
                seq record;
            begin
                for seq in select schemaname, sequencename, last_value from pg_sequences
                           where last_value is not null
                loop
                    perform setval(format('%I.%I', seq.schemaname, seq.sequencename), seq.last_value);
                end loop;
            end
            $$
            """
        )


@pytest.fixture(scope="session")
def server() -> str:
    """The server's maintenance URL; starts the embedded cluster if needed."""
    cluster.up()
    return cluster.admin_url()


@pytest.fixture(scope="session")
def template_db(server: str) -> str:
    # FOLIO_TEST_SKIP_MODELS=1: a template without the dbt models, for tests of sql/ and ingest/.
    suffix = "_nomodels" if os.environ.get("FOLIO_TEST_SKIP_MODELS") else ""
    name = f"folio_tpl_{_tree_hash()}{suffix}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute("select pg_advisory_lock(%s)", [TEMPLATE_LOCK])
        try:
            row = admin.execute(
                "select datistemplate from pg_database where datname = %s", [name]
            ).fetchone()
            if row is None or not row[0]:
                if row is not None:
                    admin.execute(
                        sql.SQL("drop database {} with (force)").format(sql.Identifier(name))
                    )
                # Drop templates of older trees, keeping the few newest: parallel test runs
                # on an edited tree may still be cloning them.
                for (old,) in admin.execute(
                    "select datname from pg_database where datname like 'folio\\_tpl\\_%%'"
                    " and datname not like '%%\\_building' and (datname like '%%\\_nomodels') = %s"
                    " order by oid desc offset 3",
                    [bool(suffix)],
                ).fetchall():
                    admin.execute(
                        sql.SQL("alter database {} is_template false").format(sql.Identifier(old))
                    )
                    admin.execute(
                        sql.SQL("drop database {} with (force)").format(sql.Identifier(old))
                    )
                building = f"{name}_building"
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(
                        sql.Identifier(building)
                    )
                )
                admin.execute(sql.SQL("create database {}").format(sql.Identifier(building)))
                build_database(config.with_dbname(server, building))
                admin.execute(
                    sql.SQL("alter database {} rename to {}").format(
                        sql.Identifier(building), sql.Identifier(name)
                    )
                )
                admin.execute(
                    sql.SQL("alter database {} is_template true").format(sql.Identifier(name))
                )
        finally:
            admin.execute("select pg_advisory_unlock(%s)", [TEMPLATE_LOCK])
    return name


@contextlib.contextmanager
def fresh_database(server: str, template_db: str) -> Iterator[str]:
    """A database cloned from the migrated template, dropped on leaving."""
    name = f"folio_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    pin_clock(server, name)
    # a clone starts with PostgreSQL's database privileges: give it foliodb's, as migrate does
    security.apply_database_privileges(config.with_dbname(server, name))
    try:
        yield config.with_dbname(server, name)
    finally:
        _drop_database(server, name)


@pytest.fixture
def db_url(server: str, template_db: str) -> Iterator[str]:
    """A fresh database cloned from the migrated template, dropped after the test."""
    with fresh_database(server, template_db) as url:
        yield url


@pytest.fixture
def other_db_url(server: str, template_db: str) -> Iterator[str]:
    """A second fresh database, for a test that needs two (e.g. two pg_cron jobs at once)."""
    with fresh_database(server, template_db) as url:
        yield url


def pin_clock(server: str, name: str) -> None:
    """Every session of the database reads the pinned clock, pg_cron's background jobs included."""
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("alter database {} set foliodb.now = {}").format(
                sql.Identifier(name), sql.Literal(clock.now().isoformat())
            )
        )


def _drop_database(server: str, name: str, patience: float = 60.0) -> None:
    """Drop a test database; waits out a crash recovery (a test may kill -9 a backend)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test's own database."""
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def use_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point foliodb (CLI, modules) at the test's database through DATABASE_URL."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    return db_url


@pytest.fixture(scope="session")
def cron_url(server: str) -> str:
    """The database holding pg_cron's metadata (cron.database_name)."""
    with psycopg.connect(server) as admin:
        cron_db = admin.execute("select current_setting('cron.database_name')").fetchone()[0]
    cluster.ensure_database(cron_db)
    url = config.with_dbname(server, cron_db)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create extension if not exists pg_cron")
    return url
