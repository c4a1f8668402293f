"""pg_cron jobs of a foliodb database.

pg_cron keeps its jobs in one database per server (``cron.database_name``); foliodb registers
its jobs there with ``cron.schedule_in_database`` so they run in the foliodb database. Job
names start with the database name, so several databases on one server (tests, staging)
keep separate jobs. Schedules are UTC: pg_cron 1.4 has no time zones.

Every job runs as ``folio_refresh`` (``cron.job.username``), never as a superuser: pg_cron's
background worker logs in as that role, which may run the refresh and nothing more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from foliodb import config
from foliodb.db import connect
from foliodb.errors import FolioError

log = logging.getLogger(__name__)

# 22:15 UTC on weekdays: after the US close in winter (21:00 UTC) and in summer (20:00 UTC).
NIGHTLY_REFRESH = "15 22 * * 1-5"
REAPER = "*/5 * * * *"
HOUSEKEEPING = "30 4 * * *"
# The role every job runs as (sql/routines/90_grants.sql gives it what the jobs need).
JOB_ROLE = "folio_refresh"


@dataclass(frozen=True)
class Job:
    suffix: str
    schedule: str
    command: str
    in_cron_database: bool = False


def jobs(refresh_schedule: str = NIGHTLY_REFRESH) -> list[Job]:
    return [
        # exactly `CALL proc()`: the only form in which pg_cron lets a procedure COMMIT
        Job("refresh", refresh_schedule, "CALL ops.refresh()"),
        Job("reap", REAPER, "select ops.reap()"),
        Job("housekeeping", HOUSEKEEPING, "select ops.housekeeping()"),
        # ops.housekeeping purges the history when pg_cron lives in the foliodb database;
        # this job does it in the cron database, keeping it as long (the setting
        # run_details_keep, filled in by install)
        Job(
            "purge-cron-history",
            HOUSEKEEPING,
            "delete from cron.job_run_details where end_time < now() - {keep}::interval",
            in_cron_database=True,
        ),
    ]


def _cron_conn(url: str | None) -> tuple[psycopg.Connection, str]:
    """A connection to the cron database, and the name of the foliodb database. A URL, not a
    connection: pg_cron's metadata lives in another database (``cron.database_name``), so a
    new session there is the point; :func:`install`, :func:`remove` and :func:`status` take
    the foliodb database's URL for it."""
    target = url or config.database_url()
    with connect(target) as conn:
        dbname = conn.info.dbname
        cron_db = conn.execute("select current_setting('cron.database_name', true)").fetchone()[0]
    if not cron_db:
        raise FolioError("pg_cron is not loaded on this server (shared_preload_libraries)")
    cron = connect(config.with_dbname(target, cron_db), autocommit=True, row_factory=dict_row)
    has_ext = cron.execute(
        "select exists (select from pg_extension where extname = 'pg_cron')"
    ).fetchone()
    if not list(has_ext.values())[0]:
        cron.execute("create extension if not exists pg_cron")
    return cron, dbname


def job_name(dbname: str, suffix: str) -> str:
    return f"{dbname}:{suffix}"


def install(
    url: str | None = None, refresh_schedule: str = NIGHTLY_REFRESH
) -> list[dict[str, Any]]:
    """Register (or update) every job; idempotent. A URL: the jobs go to pg_cron's database
    (see :func:`_cron_conn`)."""
    with connect(url, autocommit=True) as conn:
        keep = conn.execute("select ops.setting('run_details_keep')").fetchone()[0]
        cron, dbname = _cron_conn(url)
        with cron:
            cron_db = cron.info.dbname
            for job in jobs(refresh_schedule):
                command = sql.SQL(job.command).format(keep=sql.Literal(keep)).as_string(cron)
                name = job_name(dbname, job.suffix)
                # a job of the same name under another role (older foliodb: the superuser) goes
                for row in cron.execute(
                    "select jobid from cron.job where jobname = %s and username <> %s",
                    [name, JOB_ROLE],
                ).fetchall():
                    cron.execute("select cron.unschedule(%s::bigint)", [row["jobid"]])
                cron.execute(
                    "select cron.schedule_in_database(%s, %s, %s, %s, %s)",
                    [
                        name,
                        job.schedule,
                        command,
                        cron_db if job.in_cron_database else dbname,
                        JOB_ROLE,
                    ],
                )
            refresh_role = cron.execute(
                "select username from cron.job where jobname = %s", [job_name(dbname, "refresh")]
            ).fetchone()["username"]
        apply_refresh_timeout(conn, refresh_role)
    return status(url)


def apply_refresh_timeout(conn: psycopg.Connection, role: str) -> str | None:
    """pg_cron's worker arms statement_timeout from the job role's settings (a SET inside the
    CALL arms nothing): copy ops.settings refresh_statement_timeout onto that role in this
    database. A superuser's setting would bind every superuser session, so it is left alone
    (with a warning): schedule the refresh as a non-superuser role. On the caller's ``conn``
    to the foliodb database (the admin's: `alter role … in database …`)."""
    is_super = conn.execute("select rolsuper from pg_roles where rolname = %s", [role]).fetchone()
    if is_super is None or is_super[0]:
        log.warning(
            "the refresh job runs as %s, a superuser: refresh_statement_timeout does not"
            " apply to pg_cron's refresh (schedule it as a non-superuser role)",
            role,
        )
        return None
    return conn.execute("select ops.apply_refresh_timeout(%s)", [role]).fetchone()[0]


def remove(url: str | None = None) -> int:
    """Unregister this database's jobs; how many. A URL: pg_cron's database (:func:`_cron_conn`)."""
    cron, dbname = _cron_conn(url)
    with cron:
        rows = cron.execute(
            "select jobid from cron.job where jobname like %s", [f"{dbname}:%"]
        ).fetchall()
        for row in rows:
            cron.execute("select cron.unschedule(%s::bigint)", [row["jobid"]])
    return len(rows)


def status(url: str | None = None) -> list[dict[str, Any]]:
    """This database's jobs and each one's last run. A URL: pg_cron's database
    (:func:`_cron_conn`)."""
    cron, dbname = _cron_conn(url)
    with cron:
        return cron.execute(
            """
            select job.jobid, job.jobname, job.schedule, job.command, job.database,
                job.username, job.active,
                last.status as last_status, last.start_time as last_start,
                round(extract(epoch from last.end_time - last.start_time)::numeric, 3) as last_seconds,
                last.return_message as last_message
            from cron.job
            left join lateral (
                select * from cron.job_run_details as details
                where details.jobid = job.jobid order by details.start_time desc nulls last limit 1
            ) as last on true
            where job.jobname like %s
            order by job.jobname
            """,
            [f"{dbname}:%"],
        ).fetchall()
