"""`folio exposures`: a portfolio's factor exposures and risk figures."""

from __future__ import annotations

import click
from rich.table import Table

from cli import base
from cli.common import emit_json, out
from foliodb import factors as factors_module
from foliodb.db import connect
from foliodb.security import REFRESH


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "" if value is None else fmt.format(value)


def _pct(value: float | None) -> str:
    # no space before %: a table cell or a title never breaks a number from its unit
    return _num(None if value is None else 100 * value, "{:.1f}%")


def exposures_table(data: dict) -> Table:
    """The exposures table (shared with `folio show`); it reads at 80 columns."""
    shares = data["shares"]
    table = Table(
        title=f"factor exposures · portfolio {data['portfolio_id']} · as of {data['as_of_date']}",
        caption=(
            f"share of value: public {_pct(shares['public'])} · options {_pct(shares['options'])}"
            f" · private {_pct(shares['private'])} · without exposures {_pct(shares['missing'])}"
        ),
    )
    table.add_column("factor")
    table.add_column("proxy")
    table.add_column("exposure", justify="right")
    table.add_column("covered", justify="right")
    # a long list wraps at its commas; a symbol longer than the column folds, never "…"
    table.add_column("missing symbols", overflow="fold")
    for row in data["factors"]:
        table.add_row(
            row["factor"] + (" (beta)" if row["is_market"] else ""),
            row["proxy_symbol"],
            _num(row["exposure"], "{:+.3f}"),
            _pct(row["covered_share"]),
            ", ".join(row["missing_symbols"]),
        )
    return table


RISK_LEGEND = (
    "vol: annualized volatility · max dd: maximum drawdown · best/worst: best and worst day"
    " · beta, corr: to the benchmark · * younger than the period"
)


def risk_table(rows: list[dict]) -> Table:
    """The risk table, one row per chart period (shared with `folio show`).

    Eight short numeric columns (abbreviated, with the legend as the caption) so it reads at
    80 columns; the drawdowns' dates are in :func:`drawdown_table`.
    """
    table = Table(title="risk by period", caption=RISK_LEGEND)
    table.add_column("period", no_wrap=True)
    for name in ("vol", "max dd", "Sharpe", "beta", "corr", "best", "worst"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row["period"] + (" *" if row["is_partial"] else ""),
            _pct(row["annualized_volatility"]),
            _pct(row["max_drawdown"]),
            _num(row["sharpe_ratio"]),
            _num(row["benchmark_beta"]),
            _num(row["benchmark_correlation"]),
            _pct(row["best_day_return"]),
            _pct(row["worst_day_return"]),
        )
    # a risk-free proxy without data means a rate of 0: say so under the table
    notes = dict.fromkeys(row["risk_free_note"] for row in rows if row.get("risk_free_note"))
    if notes:
        table.caption = "; ".join(notes)
    return table


def drawdown_table(rows: list[dict]) -> Table:
    """Each period's maximum drawdown with its peak and trough sessions."""
    table = Table(title="risk dates by period: drawdown peak and trough, best and worst day")
    table.add_column("period", no_wrap=True)
    table.add_column("max dd", justify="right", no_wrap=True)
    table.add_column("peak", no_wrap=True)
    table.add_column("trough", no_wrap=True)
    table.add_column("best day", no_wrap=True)
    table.add_column("worst day", no_wrap=True)
    for row in rows:
        table.add_row(
            row["period"] + (" *" if row["is_partial"] else ""),
            _pct(row["max_drawdown"]),
            str(row["drawdown_peak_date"] or ""),
            str(row["drawdown_trough_date"] or ""),
            str(row.get("best_day_date") or ""),
            str(row.get("worst_day_date") or ""),
        )
    return table


@base.command(role=REFRESH)
@click.argument("portfolio_ref", metavar="PORTFOLIO")
@click.option(
    "--risk/--no-risk", default=True, show_default=True, help="Show the risk figures too."
)
@base.json_option("Print JSON instead of tables.")
def exposures(portfolio_ref: str, risk: bool, as_json: bool) -> None:
    """A portfolio's factor exposures (market beta and styles) and risk figures (id or name).

    Exposures are market-value-weighted over the PUBLIC positions whose symbols have published
    exposures, as of the last refresh; OPTIONS and PRIVATE shares are shown, and PUBLIC symbols
    without exposures are listed. Risk: annualized volatility, maximum drawdown, Sharpe ratio,
    beta and correlation to the benchmark, best and worst day, per chart period (* = the
    portfolio is younger than the period). Method: docs/factors.md.

    Example:

        folio exposures 42
        folio exposures "Retirement" --json
    """
    with connect() as conn:
        data = factors_module.portfolio_exposures(conn, portfolio_ref)
        risk_rows = factors_module.portfolio_risk(conn, data["portfolio_id"]) if risk else None
    if as_json:
        emit_json({**data, "risk": risk_rows} if risk else data)
        return
    out.print(exposures_table(data))
    if risk_rows:
        out.print(risk_table(risk_rows))
        out.print(drawdown_table(risk_rows))


def register(cli: click.Group) -> None:
    cli.add_command(exposures)
