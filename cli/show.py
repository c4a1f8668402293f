"""`folio show`, `folio leaderboard` and `folio chart`: what people look at."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from cli import base
from cli.common import emit_json, err, out
from foliodb import serving
from foliodb.security import READER

PERIOD = click.option(
    "--period",
    default="1Y",
    show_default=True,
    help=f"One of {', '.join(serving.PERIODS)}.",
    callback=lambda _ctx, _param, value: serving.check_period(value),
)


# the sparkline's width: the returns table then needs 75 columns, so it reads at 80
SPARK_WIDTH = 16


def _pct(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "[dim]n/a"
    colour = "green" if value > 0 else "red" if value < 0 else "white"
    return f"[{colour}]{value * 100:+.{digits}f}%"


def _money(value) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def fx_counts(data: dict) -> str | None:
    """How the holdings in other currencies were converted into the base at as of (the
    snapshot's counts per rule); None when nothing needed converting."""
    keys = ("n_fx_session", "n_fx_last_rate", "n_fx_activity", "n_fx_none")
    counts = [data.get(k) or 0 for k in keys]
    if not any(counts):
        return None
    session, last_rate, activity, none = counts
    return (
        f"rate on the session {session} · last rate {last_rate}"
        f" (oldest {data.get('max_fx_stale_sessions') or 0} sessions)\n"
        f"an activity's rate {activity} · no rate {none}"
        + (" [yellow](left out of the value)" if none else "")
    )


@base.command(role=READER)
@click.argument("portfolio")
@base.json_option("Print the dashboard as JSON.")
def show(portfolio: str, as_json: bool) -> None:
    """A portfolio's dashboard: value, valuation fallbacks, and every period against its benchmark.

    PORTFOLIO is an id or a unique name. Read from app.portfolio_dashboard and
    app.chart_points (the read contract), one indexed lookup each.

    Example:

        folio show 42
        folio show "Retirement" --json
    """
    with serving.open_reader() as conn:
        data = serving.dashboard(conn, portfolio)
    if as_json:
        emit_json(data)
        return
    head = Table(
        title=f"{data['portfolio_name']} (portfolio {data['portfolio_id']})", show_header=False
    )
    head.add_column("what", style="bold")
    head.add_column("value", overflow="fold")
    if not data["has_analytics"]:
        head.add_row("status", "not computed yet: run `folio refresh`")
    head.add_row("as of", f"{data['as_of']}" + ("  [yellow](stale)" if data["is_stale"] else ""))
    base_currency = data.get("base_currency") or "USD"
    head.add_row("market value", f"{_money(data['market_value'])} {base_currency}")
    head.add_row("cost basis", _money(data["cost_basis"]))
    head.add_row("unrealized P&L", _money(data["unrealized_pnl"]))
    head.add_row("positions held", str(data["positions_held"]))
    ledger_figures = (
        ("cash", "cash_balance"),
        ("income to date", "income_to_date"),
        ("fees and taxes to date", "costs_to_date"),
        ("realized gain to date", "realized_gain_to_date"),
    )
    if any(data.get(key) for _, key in ledger_figures):  # a ledger's (positions have none)
        for label, key in ledger_figures:
            head.add_row(label, _money(data.get(key)))
    head.add_row(
        "valued by",
        f"close {data['n_close']} · stale close {data['n_stale']}"
        f" (oldest {data['max_stale_sessions']} sessions)\n"
        f"entry price {data['n_entry']} · manual {data['n_manual']}",
    )
    converted = fx_counts(data)
    if converted:
        head.add_row("converted by", converted)
    head.add_row("benchmark", data["benchmark_symbol"])
    head.add_row("public", "yes" if data["is_public"] else "no")
    if data["is_refresh_pending"]:
        head.add_row("refresh", "[yellow]changes queued for the next refresh")
    out.print(head)

    periods = Table(title="returns (time-weighted) vs benchmark")
    for column, justify in (
        ("period", "left"),
        ("since", "left"),
        ("return", "right"),
        ("benchmark", "right"),
        ("excess", "right"),
        ("chart", "left"),
    ):
        periods.add_column(column, justify=justify, no_wrap=True)
    for period in data["periods"]:
        since = str(period["start_date"] or "")
        if period["is_partial"]:
            since += " *"
        periods.add_row(
            period["period"],
            since,
            _pct(period["twr"]),
            _pct(period["benchmark_return"]),
            _pct(period["excess_return"]),
            serving.sparkline(period["cum_returns"], width=SPARK_WIDTH),
        )
    out.print(periods)
    if any(p["is_partial"] for p in data["periods"]):
        out.print("[dim]* younger than the period: measured from the portfolio's first session")


@base.command(role=READER)
@PERIOD
@click.option("--limit", default=20, show_default=True, type=int, help="At least 1.")
@click.option(
    "--excluded", is_flag=True, help="Also list the portfolios left out, with the reason."
)
@base.json_option("Print the leaderboard as JSON.")
def leaderboard(period: str, limit: int, excluded: bool, as_json: bool) -> None:
    """Public portfolios ranked by time-weighted return over a period.

    Ties share a rank (1, 2, 2, 4); portfolios younger than the period are left out and
    listed with --excluded. Read from app.leaderboards.

    Example:

        folio leaderboard --period 1Y --limit 10
        folio leaderboard --period YTD --excluded --json
    """
    with serving.open_reader() as conn:
        board = serving.leaderboard(conn, period, limit=limit, include_excluded=excluded)
    if as_json:
        emit_json(board)
        return
    table = Table(title=f"leaderboard {board['period']}: {board['n_ranked']} ranked")
    for column, justify in (
        ("rank", "right"),
        ("portfolio", "left"),
        ("id", "right"),
        ("return", "right"),
        ("benchmark", "right"),
        ("relative", "right"),
        ("percentile", "right"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    for row in board["ranked"]:
        table.add_row(
            str(row["rank"]),
            row["portfolio_name"],
            str(row["portfolio_id"]),
            _pct(row["period_twr"]),
            _pct(row["benchmark_return"]),
            _pct(row["relative_return"]),
            f"{row['percentile']:.0f}",
        )
    out.print(table)
    if board["excluded"]:
        left_out = Table(title="left out")
        for column in ("portfolio", "id", "reason", "history from"):
            left_out.add_column(column, overflow="fold")
        for row in board["excluded"]:
            left_out.add_row(
                row["portfolio_name"],
                str(row["portfolio_id"]),
                row["exclusion_reason"],
                str(row["start_date"]),
            )
        out.print(left_out)
    elif board["n_excluded"]:
        err.print(f"{board['n_excluded']} portfolio(s) left out (history shorter): --excluded")


@base.command(role=READER)
@click.argument("portfolio")
@PERIOD
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("chart.png"),
    show_default=True,
    help="Image to write: .png or .svg (its directory must exist).",
)
@base.json_option("Print the points as JSON (PNG still written).")
def chart(portfolio: str, period: str, out_path: Path, as_json: bool) -> None:
    """Draw a portfolio's cumulative return against its benchmark over a period (PNG or SVG).

    The suffix of --out picks the format; a directory that does not exist is refused, not
    created. The x axis shows sessions only; the legend sits below the plot.

    Example:

        folio chart 42 --period 1Y --out chart.png
        folio chart "Retirement" --period MAX --out max.svg --json
    """
    serving.chart_format(out_path)
    if not out_path.parent.is_dir():
        raise click.BadParameter(
            f"directory {str(out_path.parent)!r} does not exist (create it first)",
            param_hint="--out",
        )
    with serving.open_reader() as conn:
        data = serving.chart(conn, portfolio, period)
    path = serving.render_chart(data, out_path)
    if as_json:
        emit_json({**data, "out": str(path)})
        return
    out.print(
        f"wrote {path} ({len(data['points'])} points, {data['start_date']} → {data['end_date']}):"
        f" {data['portfolio_name']} {_pct(data['twr'])} vs {data['benchmark_symbol']}"
        f" {_pct(data['benchmark_return'])}"
    )


def register(cli: click.Group) -> None:
    cli.add_command(show)
    cli.add_command(leaderboard)
    cli.add_command(chart)
