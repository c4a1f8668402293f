"""The `folio` command: thin click commands over the foliodb modules."""

from __future__ import annotations

import sys
from importlib.metadata import version

import click

from cli import base
from cli.common import keep_examples_everywhere
from foliodb import clock


@base.group()
@click.version_option(version("foliodb"), "--version", prog_name="folio")
def cli() -> None:
    """foliodb: portfolio analytics computed inside Postgres.

    Prices come in through `folio ingest`; snapshots, chart caches, leaderboards and
    exposures are computed in the database by `folio refresh` and by pg_cron. Apps read the
    `app` schema.

    The database is DATABASE_URL if set, else the embedded cluster under .folio/
    (`folio db up`).

    Example:

        folio db up && folio db migrate && folio status

    FOLIO_TODAY=YYYY-MM-DD pins the clock (the CLI and the database read it).
    """
    try:
        clock.pinned()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _register() -> None:
    from cli import db as db_commands

    cli.add_command(db_commands.db)
    for module_name in (
        "ingest",
        "refresh",
        "status",
        "schedule",
        "show",
        "portfolio",
        "activities",
        "factors",
        "bench",
        "demo",
    ):
        module = __import__(f"cli.{module_name}", fromlist=["register"])
        module.register(cli)
    keep_examples_everywhere(cli)


_register()

if __name__ == "__main__":
    sys.exit(cli())
