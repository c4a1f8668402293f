"""`folio demo`: the whole story on synthetic data."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import click
from rich.table import Table

from cli import base
from cli.activities import list_cmd as activities_list
from cli.common import emit_json, err, out
from cli.db import status as db_status
from cli.factors import exposures
from cli.show import _money, _pct, leaderboard, show
from foliodb import config
from foliodb.security import ADMIN
from ingest import demo as demo_module

# (what it shows, the command): each command line runs as printed, from where `folio demo` ran
EXPLORE: list[tuple[str, str]] = [
    ("the dashboard above, and the same for scripts", "{folio} show {pid}"),
    ("", "{folio} show {pid} --json"),
    (
        "its positions with their ids (for value, close, delete)",
        "{folio} portfolio positions {pid}",
    ),
    (
        "who leads this year, who is too young to rank",
        "{folio} leaderboard --period YTD --excluded",
    ),
    ("the whole history as a chart", "{folio} chart {pid} --period MAX --out {chart_dir}max.png"),
    ("factor exposures and risk per period", "{folio} exposures {pid}"),
    ("freshness, last runs, the refresh queue", "{folio} status"),
    ("the pg_cron jobs (the nightly refresh runs in the database)", "{folio} schedule status"),
    (
        "what an app reads: one indexed lookup",
        "{folio} db psql -x -c 'select * from app.portfolio_dashboard where portfolio_id = {pid}'",
    ),
]


def folio_command(cwd: Path | None = None) -> str:
    """How to type `folio` so that it runs from ``cwd``, as printed.

    ``folio`` when it is on PATH (an activated venv, an installed package); else the
    wrapper at the repository root: ``./folio`` from the root, its full path elsewhere;
    else this interpreter's own ``folio`` script.
    """
    here = Path(cwd or Path.cwd()).resolve()
    mine = Path(sys.prefix) / "bin" / "folio"
    on_path = shutil.which("folio")
    if on_path and mine.exists() and Path(on_path).resolve() == mine.resolve():
        return "folio"
    wrapper = config.project_root() / "folio"
    if wrapper.is_file() and os.access(wrapper, os.X_OK):
        return "./folio" if wrapper.parent.resolve() == here else shlex.quote(str(wrapper))
    return shlex.quote(str(mine)) if mine.exists() else "folio"


def explore_hints(pid: int | str, chart_dir: Path | None = None, cwd: Path | None = None) -> str:
    """The "Explore further" lines: a comment saying what each shows, then the command."""
    here = Path(cwd or Path.cwd()).resolve()
    where = ""
    if chart_dir is not None:
        chart_dir = Path(chart_dir).resolve()
        where = (
            os.path.relpath(chart_dir, here) if chart_dir.is_relative_to(here) else str(chart_dir)
        )
        where = "" if where == "." else shlex.quote(where + os.sep)
    values = {"folio": folio_command(here), "pid": pid, "chart_dir": where}
    lines = ["Explore further (each line runs as printed, from this directory):"]
    for what, command in EXPLORE:
        if what:
            lines.append(f"  # {what}")
        lines.append("  " + command.format(**values))
    return "\n".join(lines)


@base.command(role=ADMIN)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the chart PNG (default .folio/demo).",
)
@base.json_option("Print what was done as JSON.")
@click.pass_context
def demo(ctx: click.Context, out_dir: Path | None, as_json: bool) -> None:
    """Demo prices, a few dozen users and portfolios, a refresh, the schedule, then a
    dashboard, a leaderboard and a chart PNG.

    Prices are synthetic (deterministic, NOT market data). Running it again reuses what
    exists and refreshes only what changed.

    Example:

        folio db up && folio db migrate && folio demo
    """
    result = demo_module.run_demo(out_dir=out_dir, log=lambda msg: err.print(f"[dim]· {msg}"))
    if as_json:
        emit_json(result)
        return
    summary = Table(title="folio demo", show_header=False)
    summary.add_column("what", style="bold")
    summary.add_column("value", overflow="fold")
    summary.add_row(
        "portfolios",
        f"{result['portfolios']} demo ({result['public_portfolios']} public)"
        + (
            f", {result['created_portfolios']} created now"
            if result["created_portfolios"]
            else ", reused"
        )
        + (
            f" + reference portfolio {result['reference_portfolio_id']}"
            if result["reference_portfolio_id"]
            else ""
        ),
    )
    prices = result["prices"]
    summary.add_row(
        "demo prices",
        f"{prices['status']}: {prices['rows_inserted']:,} rows, {prices['symbols_fetched']} symbols fetched",
    )
    run = result["refresh"]
    summary.add_row(
        "refresh",
        f"run {run['run_id']} {run['status']} ({run['target']}) in {run['duration_ms'] or 0:,.0f} ms",
    )
    scheduled = result["schedule"]
    summary.add_row(
        "schedule",
        (
            "pg_cron jobs " + ", ".join(name.partition(":")[2] or name for name in scheduled)
            if isinstance(scheduled, list)
            else scheduled
        ),
    )
    summary.add_row("took", f"{result['timings_ms']['total'] / 1000:.1f} s")
    out.print(summary)
    pid = str(result["featured_portfolio_id"])
    ctx.invoke(show, portfolio=pid, as_json=False)
    try:
        ctx.invoke(exposures, portfolio_ref=pid, risk=True, as_json=False)
    except click.ClickException as exc:  # exposures need enough history; the demo goes on
        err.print(f"exposures: {exc.message}")
    ctx.invoke(leaderboard, period="1Y", limit=10, excluded=False, as_json=False)
    ledger_id = str(result["ledger_portfolio_id"])
    out.print(
        "\n[bold]A ledger portfolio[/]: DEMO.SPLIT split 4:1 on its ex-date (units ×4, cost per"
        " unit ÷4, value continuous), its dividends paid to cash, a partial sell (FIFO), cash"
    )
    ctx.invoke(show, portfolio=ledger_id, as_json=False)
    holdings = Table(title=f"holdings of portfolio {ledger_id}")
    for column in ("symbol", "units", "cost", "value", "gain", "weight", "day"):
        holdings.add_column(
            column, justify="left" if column == "symbol" else "right", overflow="fold"
        )
    for row in result["ledger"]["holdings"]:
        holdings.add_row(
            row["symbol"],
            f"{row['quantity']:,.4g}",
            _money(row["cost_basis"]),
            _money(row["market_value"]),
            _money(row["unrealized_pnl"]),
            _pct(row["weight"]),
            _money(row["day_change"]),
        )
    out.print(holdings)
    ctx.invoke(activities_list, portfolio_ref=ledger_id, as_json=False)
    euro_id = str(result["euro_portfolio_id"])
    fx = result["fx_rates"]
    out.print(
        f"\n[bold]A EUR portfolio[/] (base currency EUR): a ledger buying two USD ETFs and a"
        f" London ETF quoted in pence (ISF.L, GBp = GBP / 100) with EUR, each buy stating the"
        f" rate it was settled at, valued in EUR at SYNTHETIC demo FX rates (EURUSD=X,"
        f" GBPUSD=X; source 'demo', not market data: {fx['status']},"
        f" {fx['rows_inserted']:,} rows)"
    )
    ctx.invoke(show, portfolio=euro_id, as_json=False)
    out.print(euro_holdings_table(result["euro"]["holdings"], euro_id))
    out.print(
        "[dim]rate: EUR per unit of the whole currency (per GBP for GBp: value EUR ="
        " local value / 100 × rate); rule: session (the day's rate), last_rate, activity, none"
    )
    data = result["dashboard"]
    out.print(
        f"chart: {result['chart']}  ({data['portfolio_name']} 1Y"
        f" {_pct(next(p['twr'] for p in data['periods'] if p['period'] == '1Y'))})"
    )
    ctx.invoke(db_status, as_json=False)
    click.echo(explore_hints(pid, Path(result["chart"]).parent))


def euro_holdings_table(rows: list[dict], pid: str) -> Table:
    """Holdings in the base currency beside their local value, the rate and its rule."""
    table = Table(title=f"holdings of portfolio {pid} in EUR, converted from their currency")
    for column in ("symbol", "units", "local value", "rate", "rule", "value EUR", "weight"):
        table.add_column(
            column, justify="left" if column in ("symbol", "rule") else "right", overflow="fold"
        )
    for row in rows:
        table.add_row(
            row["symbol"],
            f"{row['quantity']:,.4g}",
            f"{_money(row['local_market_value'])} {row['trading_currency']}",
            "n/a" if row["fx_rate"] is None else f"{row['fx_rate']:.4f}",
            row["fx_rule"],
            _money(row["market_value"]),
            _pct(row["weight"]),
        )
    return table


def register(cli: click.Group) -> None:
    cli.add_command(demo)
