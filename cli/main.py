"""The `folio` command: thin click commands over the foliodb modules."""

from __future__ import annotations

import sys
from importlib.metadata import version

import click

from cli.common import (  # noqa: F401
    CONTEXT_SETTINGS,
    emit_json,
    err,
    friendly,
    keep_examples_everywhere,
    out,
)
from foliodb import clock


@click.group(context_settings=CONTEXT_SETTINGS)
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
        try:
            module = __import__(f"cli.{module_name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"cli.{module_name}":
                raise
            continue
        module.register(cli)
    keep_examples_everywhere(cli)


_register()

if __name__ == "__main__":
    sys.exit(cli())
