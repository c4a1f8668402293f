"""`folio status`: freshness, the last run of each kind, the refresh queue, quarantine."""

from __future__ import annotations

import datetime as dt

import click
from rich.table import Table

from cli import base
from cli.common import emit_json, out
from foliodb import status as status_module
from foliodb.db import connect
from foliodb.security import REFRESH


def _when(value: dt.datetime | None) -> str:
    return "" if value is None else f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


@base.command(role=REFRESH)
@base.json_option("Print JSON instead of tables.")
def status(as_json: bool) -> None:
    """Price freshness, the last run of each kind, the dirty queue and quarantined rows.

    Each run's note (its message or error) is printed whole, below the table of runs.

    Example:

        folio status
        folio status --json
    """
    with connect() as conn:
        info = status_module.gather(conn)
    if as_json:
        emit_json(info)
        return
    fresh = info["freshness"] or {}
    table = Table(title=f"freshness ({info['calendar']})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("last closed session", str(fresh.get("last_closed_session")))
    table.add_row("latest price", str(fresh.get("latest_price_date")))
    table.add_row(
        "symbols current / behind",
        f"{fresh.get('symbols_current', 0)} / {fresh.get('symbols_behind', 0)}",
    )
    table.add_row("analytics through", str(fresh.get("refreshed_through")))
    table.add_row("refreshed at", _when(fresh.get("refreshed_at")))
    out.print(table)

    runs = Table(title="last runs (notes below)")
    for column, justify in (
        ("kind", "left"),
        ("run", "right"),
        ("status", "left"),
        ("started (UTC)", "left"),
        ("seconds", "right"),
        ("rows", "right"),
    ):
        runs.add_column(column, justify=justify, no_wrap=column != "started (UTC)")
    for run in info["last_runs"]:
        runs.add_row(
            run["kind"],
            str(run["run_id"]),
            run["status"],
            f"{run['started_at'].astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}",
            str(run["seconds"]),
            f"{run['rows']:,}" if run["rows"] is not None else "",
        )
    out.print(runs)
    for run in info["last_runs"]:
        if run["note"]:
            out.print(f"  {run['kind']} (run {run['run_id']}): {run['note']}", highlight=False)

    queue = Table(title="dirty queue")
    for column in ("queue", "entries", "oldest from"):
        queue.add_column(column)
    for row in info["queue"]:
        queue.add_row(row["queue"], str(row["entries"]), str(row["oldest_from"] or ""))
    out.print(queue)

    if info["quarantine"]:
        quarantine = Table(title="quarantined price rows")
        quarantine.add_column("reason", overflow="fold")
        quarantine.add_column("rows", justify="right", no_wrap=True)
        quarantine.add_column("latest (UTC)")
        for row in info["quarantine"]:
            quarantine.add_row(row["reason"], f"{row['rows']:,}", _when(row["latest"]))
        out.print(quarantine)


def register(cli: click.Group) -> None:
    cli.add_command(status)
