"""`folio schedule`: the pg_cron jobs."""

from __future__ import annotations

import re

import click
import psycopg
from rich.table import Table

from cli import base
from cli.common import emit_json, err, out
from foliodb import schedule as schedule_module
from foliodb.security import ADMIN


@base.group()
def schedule() -> None:
    """The in-database schedule (pg_cron): nightly refresh, reaper, housekeeping.

    Example:

        folio schedule install && folio schedule status
    """


def _short_name(jobname: str) -> str:
    """``foliodb:refresh`` → ``refresh``: every job of a database shares the prefix."""
    return jobname.partition(":")[2] or jobname


def _print_jobs(jobs: list[dict]) -> None:
    """The jobs at 80 columns: short names and the schedule in the table, commands below it."""
    prefixes = sorted({job["jobname"].partition(":")[0] for job in jobs})
    title = "pg_cron jobs (schedules in UTC)"
    if prefixes:
        title = f"pg_cron jobs of {', '.join(prefixes)} (schedules in UTC)"
    table = Table(title=title)
    table.add_column("job", no_wrap=True)
    table.add_column("schedule", no_wrap=True)
    table.add_column("last run")
    table.add_column("status", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    for job in jobs:
        table.add_row(
            _short_name(job["jobname"]),
            job["schedule"],
            f"{job['last_start']:%Y-%m-%d %H:%M}" if job["last_start"] else "never",
            job["last_status"] or "",
            str(job["last_seconds"] or ""),
        )
    out.print(table)
    for job in jobs:
        where = "" if job["database"] in prefixes else f" (in database {job['database']})"
        out.print(f"  {_short_name(job['jobname'])}: {job['command']}{where}", highlight=False)


# one field of a cron expression: *, a number or a range, each with an optional /step, in a list
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES = ("minute", "hour", "day of month", "month", "day of week")


def _cron(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A five-field cron expression (minute hour day month weekday, UTC), else exit 2."""
    fields = value.split()
    example = "e.g. '15 22 * * 1-5' (22:15 UTC, Monday to Friday)"
    if len(fields) != 5:
        raise click.BadParameter(
            f"{value!r} is not a cron expression: expected 5 fields"
            f" (minute hour day-of-month month day-of-week), got {len(fields)}; {example}"
        )
    for text, (low, high), name in zip(fields, _CRON_RANGES, _CRON_NAMES, strict=True):
        numbers = [int(n) for n in re.findall(r"\d+", text.split("/")[0])] if text else []
        if not _CRON_FIELD.match(text) or any(not low <= n <= high for n in numbers):
            raise click.BadParameter(
                f"{value!r}: the {name} field {text!r} is not valid"
                f" (*, a number {low}-{high}, a range a-b, lists a,b and steps /n); {example}"
            )
    return " ".join(fields)


@schedule.command(role=ADMIN)
@click.option(
    "--refresh-at",
    default=schedule_module.NIGHTLY_REFRESH,
    show_default=True,
    callback=_cron,
    help="cron expression (UTC) of the nightly refresh.",
)
@base.json_option("Print the jobs as JSON.")
def install(refresh_at: str, as_json: bool) -> None:
    """Register the jobs (idempotent: running it again updates them).

    The nightly refresh runs `CALL ops.refresh()` inside PostgreSQL: no Python, no
    connection from outside. The reaper fails runs whose backend died; housekeeping
    purges old run details.

    Example:

        folio schedule install --refresh-at '15 22 * * 1-5'
    """
    try:
        jobs = schedule_module.install(refresh_schedule=refresh_at)
    except psycopg.errors.InvalidParameterValue as exc:  # what pg_cron itself refuses
        raise click.BadParameter(str(exc).strip(), param_hint="--refresh-at") from exc
    if as_json:
        emit_json(jobs)
    else:
        _print_jobs(jobs)


@schedule.command(role=ADMIN)
@base.json_option("Print the jobs as JSON.")
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


@schedule.command(role=ADMIN)
def remove() -> None:
    """Unschedule every job of this database.

    Example:

        folio schedule remove
    """
    removed = schedule_module.remove()
    err.print(f"removed {removed} jobs")


def register(cli: click.Group) -> None:
    cli.add_command(schedule)
