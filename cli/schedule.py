"""`folio schedule`: the pg_cron jobs."""

from __future__ import annotations

import click
from rich.table import Table

from cli.common import CONTEXT_SETTINGS, emit_json, err, friendly, out
from foliodb import schedule as schedule_module


@click.group(context_settings=CONTEXT_SETTINGS)
def schedule() -> None:
    """The in-database schedule (pg_cron): nightly refresh, reaper, housekeeping.

    Example:

        folio schedule install && folio schedule status
    """


def _print_jobs(jobs: list[dict]) -> None:
    table = Table(title="pg_cron jobs (UTC)")
    for column in ("job", "schedule", "command", "database", "last run", "status", "seconds"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            job["jobname"],
            job["schedule"],
            job["command"],
            job["database"],
            f"{job['last_start']:%Y-%m-%d %H:%M}" if job["last_start"] else "never",
            job["last_status"] or "",
            str(job["last_seconds"] or ""),
        )
    out.print(table)


@schedule.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--refresh-at",
    default=schedule_module.NIGHTLY_REFRESH,
    show_default=True,
    help="cron expression (UTC) of the nightly refresh.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
@friendly
def install(refresh_at: str, as_json: bool) -> None:
    """Register the jobs (idempotent: running it again updates them).

    The nightly refresh runs `CALL ops.refresh()` inside PostgreSQL: no Python, no
    connection from outside. The reaper fails runs whose backend died; housekeeping
    purges old run details.

    Example:

        folio schedule install --refresh-at '15 22 * * 1-5'
    """
    jobs = schedule_module.install(refresh_schedule=refresh_at)
    if as_json:
        emit_json(jobs)
    else:
        _print_jobs(jobs)


@schedule.command(context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
@friendly
def status(as_json: bool) -> None:
    """The jobs and their last runs.

    Example:

        folio schedule status
    """
    jobs = schedule_module.status()
    if as_json:
        emit_json(jobs)
    else:
        _print_jobs(jobs)


@schedule.command(context_settings=CONTEXT_SETTINGS)
@friendly
def remove() -> None:
    """Unschedule every job of this database.

    Example:

        folio schedule remove
    """
    removed = schedule_module.remove()
    err.print(f"removed {removed} jobs")


def register(cli: click.Group) -> None:
    cli.add_command(schedule)
