"""`folio refresh` and `folio status`."""

from __future__ import annotations

import signal
import threading

import click
from rich.table import Table

from cli import base
from cli.common import emit_json, err, out
from foliodb import models as models_module
from foliodb import refresh as refresh_module
from foliodb import serving
from foliodb.errors import FolioError
from foliodb.security import OWNER, REFRESH


@base.command(role=REFRESH)
@click.option("--full", is_flag=True, help="Rebuild every portfolio's whole history.")
@click.option("--portfolio", "portfolio_id", type=int, help="Refresh one portfolio, whole history.")
@click.option(
    "--via",
    type=click.Choice(["db", "dbt"]),
    default="db",
    show_default=True,
    help="db: call ops.refresh() in the database (what pg_cron runs); dbt: dbt installs the"
    " models, the same call publishes, then dbt test.",
)
@base.json_option("Print the ledger row as JSON.")
def refresh(full: bool, portfolio_id: int | None, via: str, as_json: bool) -> None:
    """Recompute what changed: queued portfolios and symbols, and new sessions.

    The refresh runs inside PostgreSQL (`call ops.refresh`), publishes in one transaction and
    writes a ledger row (ops.runs) with per-step rows and durations. This command prints that
    run, its own, and exits by it: 0 succeeded, 0 with a warning when skipped (another refresh
    was running), 1 failed (with the error). If the server is lost mid-run it reconnects and
    reports the run's final state.

    Example:

        folio refresh                 # the queue and new sessions
        folio refresh --full          # everything
        folio refresh --portfolio 42  # one portfolio
        folio refresh --via dbt       # dbt installs the models, ops.refresh publishes, dbt test
    """
    if full and portfolio_id is not None:
        raise click.UsageError("choose --full or --portfolio, not both")
    if portfolio_id is not None:  # a missing portfolio is an error, not a no-op
        with serving.open_reader() as conn:
            serving.require_portfolio(conn, portfolio_id)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        run = refresh_module.run_refresh(full=full, portfolio_id=portfolio_id, via=via)
    except refresh_module.RefreshInterrupted as exc:
        if exc.run is not None:
            _print_run(exc.run, as_json)
        raise
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    _print_run(run, as_json)
    if run.get("client_note"):
        err.print(f"note: {run['client_note']}")
    if run["status"] == "failed":
        raise FolioError(f"refresh run {run['run_id']} failed: {run['error']}")
    if run["status"] == "running":
        raise FolioError(
            f"refresh run {run['run_id']} is still running in the server; see `folio status`"
        )
    if run["status"] == "skipped":
        err.print(f"refresh run {run['run_id']} skipped: {run['message']}")
    if run["status"] == "partial":  # portfolios isolated by the refresh (docs/semantics.md)
        err.print(f"partial: {run['message']}\n{run['error']}")
    if run.get("dbt_tests") not in (None, "passed"):
        raise FolioError(f"refresh run {run['run_id']} succeeded, but {run['dbt_tests']}")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM: stop like Ctrl-C (the run is cancelled in the server and reported)."""
    raise KeyboardInterrupt


def _print_run(run: dict, as_json: bool) -> None:
    if as_json:
        emit_json(run)
        return
    table = Table(title=f"refresh run {run['run_id']} ({run['target']}): {run['status']}")
    table.add_column("step")
    table.add_column("rows", justify="right")
    table.add_column("ms", justify="right")
    for step in run["steps"]:
        table.add_row(step["step"], f"{step['rows'] or 0:,}", f"{step['duration_ms']:,.1f}")
    table.add_row("[bold]total", f"{run['rows'] or 0:,}", f"{run['duration_ms'] or 0:,.1f}")
    out.print(table)


@base.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]},
    add_help_option=False,
    role=OWNER,
)
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def dbt(dbt_args: tuple[str, ...]) -> None:
    """Run dbt against foliodb's database (the connection comes from DATABASE_URL or .folio).

    Example:

        folio dbt build --select fct_portfolio_snapshots
        folio dbt docs generate
    """
    if not dbt_args or dbt_args[0] in ("-h", "--help"):
        click.echo(click.get_current_context().get_help())
        return
    models_module.run_dbt(list(dbt_args), quiet=False)


def register(cli: click.Group) -> None:
    cli.add_command(refresh)
    cli.add_command(dbt)
