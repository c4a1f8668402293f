"""`folio portfolio …`: import, export and edit portfolios."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import psycopg
from rich.table import Table

from cli import base
from cli.common import emit_json, err, out, require_file
from foliodb import portfolio_edit, portfolio_io
from foliodb.db import connect
from foliodb.errors import FolioError
from foliodb.security import REFRESH, WRITER
from ingest.prices import fetch_for_import

SOURCES = ("yfinance", "demo")


def _parsed(parse: Callable[[str], Any], what: str) -> Callable[..., Any]:
    """A click callback: the option's value parsed by ``parse``, or a usage error (exit 2)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        parsed = parse(value)
        if parsed is None:
            raise click.BadParameter(f"{value!r} is not {what}")
        return parsed

    return callback


_date = _parsed(portfolio_io.parse_date, "an ISO date (YYYY-MM-DD)")
_number = _parsed(portfolio_io.parse_number, "a number")


def _edit_session() -> psycopg.Connection:
    """The connection an edit runs on: its checks read as the operator's refresh role, and the
    library writes as the app writer acting for the owner inside it (foliodb.db.acting_as)."""
    return connect(role=REFRESH)


def _refresh_after(portfolio_ids: list[int], refresh: bool) -> None:
    """Run the refresh now for the touched portfolios, when asked and available."""
    if not refresh:
        err.print("queued for the next refresh (`folio refresh`, or the nightly pg_cron job)")
        return
    with connect(role=REFRESH, autocommit=True) as conn:  # waits for a running refresh on it
        for pid in portfolio_ids:
            outcome = portfolio_io.run_portfolio_refresh(conn, pid)
            status = outcome.get("status", "?")
            err.print(f"portfolio {pid} refreshed: {status} (run {outcome.get('run_id')})")
            if status == "failed":
                raise FolioError(
                    f"the refresh of portfolio {pid} failed: {outcome.get('error') or outcome}"
                )


@base.group()
def portfolio() -> None:
    """Portfolios: import a CSV file, export it, list positions, value and edit them.

    CSV columns: symbol, quantity, entry_date, entry_price, investment_class (PUBLIC,
    OPTIONS or PRIVATE; default PUBLIC), exit_date, exit_price, notes. OPTIONS symbols are
    OCC symbols (AAPL240119C00150000).

    Example:

        folio portfolio import examples/reference_portfolio.csv --user ann@example.com --name Reference --source demo
    """


@portfolio.command("import", role=WRITER)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--user", "email", required=True, help="Owner's email (created if missing).")
@click.option("--name", required=True, help="Portfolio name, unique per user.")
@click.option("--public", "is_public", is_flag=True, help="List it in the leaderboards.")
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    default=lambda: os.environ.get("FOLIO_PRICE_SOURCE", "yfinance"),
    show_default="FOLIO_PRICE_SOURCE, else yfinance",
    help="Where missing prices come from (demo: synthetic, no network).",
)
@click.option("--no-backfill", is_flag=True, help="Only write; the next refresh values it.")
@base.json_option("Print the result as JSON.")
def import_cmd(
    file: Path,
    email: str,
    name: str,
    is_public: bool,
    source: str,
    no_backfill: bool,
    as_json: bool,
) -> None:
    """Import a portfolio CSV file, then backfill its history at once.

    The whole file is validated first; every problem is printed with its line and field and
    nothing is written. Then user, portfolio and positions are written in one transaction,
    prices are fetched for symbols that have none, and that portfolio alone is refreshed.
    The import is recorded in ops.runs (kind 'import'): succeeded, or failed with the reason.

    Example:

        folio portfolio import examples/reference_portfolio.csv --user ann@example.com --name Reference --source demo --json
    """
    require_file(file, "FILE")
    # the ledger, the lookups and the backfill's reads as the operator's refresh role; the
    # library writes as the app writer acting for the owner on it (foliodb.db.acting_as)
    with connect(role=REFRESH, autocommit=True) as conn:
        result = portfolio_io.import_portfolio(
            conn,
            file,
            email,
            name,
            is_public=is_public,
            backfill=not no_backfill,
            price_source=source,
            fetch_prices=fetch_for_import,
        )
    if as_json:
        emit_json(result.as_dict())
        return
    table = Table(title=f"import of {file.name}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("status", result.status)
    table.add_row("portfolio_id", str(result.portfolio_id))
    table.add_row("positions", str(result.positions))
    table.add_row("prices fetched", ", ".join(result.symbols_ingested) or "-")
    table.add_row("no prices (fallback)", ", ".join(result.symbols_failed) or "-")
    if result.refresh is not None:
        table.add_row(
            "refresh", f"{result.refresh.get('status')} (run {result.refresh.get('run_id')})"
        )
    table.add_row("import run", str(result.run_id))
    table.add_row("time", f"{result.timings_ms.get('total', 0):.0f} ms")
    out.print(table)


@portfolio.command("export", role=REFRESH)
@click.argument("portfolio_ref", metavar="PORTFOLIO")
@click.option("--user", "email", help="Owner's email, when several portfolios share the name.")
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
def export_cmd(portfolio_ref: str, email: str | None, out_file: Path | None) -> None:
    """Write a portfolio's positions in the import CSV format (id or name).

    Soft-deleted positions are left out; importing the output gives the same positions.

    Example:

        folio portfolio export 1 --out reference.csv
    """
    with connect() as conn:
        text = portfolio_io.export_portfolio(conn, portfolio_ref, email=email)
    if out_file is None:
        click.echo(text, nl=False)
        return
    out_file.write_text(text, encoding="utf-8")
    err.print(f"wrote {text.count(chr(10)) - 1} positions to {out_file}")


def _qty(value: Decimal) -> str:
    text = f"{value:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@portfolio.command("positions", role=REFRESH)
@click.argument("portfolio_ref", metavar="PORTFOLIO")
@click.option("--user", "email", help="Owner's email, when several portfolios share the name.")
@click.option("--all", "include_deleted", is_flag=True, help="Include soft-deleted positions.")
@base.json_option("Print the positions as JSON.")
def positions_cmd(
    portfolio_ref: str, email: str | None, include_deleted: bool, as_json: bool
) -> None:
    """List a portfolio's positions with their ids (id or name).

    The ids are what `folio portfolio value`, `close` and `delete` take. PRIVATE and
    OPTIONS positions show their last manual valuation.

    Example:

        folio portfolio positions 37
        folio portfolio positions "Reference ETF portfolio" --all --json
    """
    with connect() as conn:
        data = portfolio_edit.list_positions(
            conn, portfolio_ref, email=email, include_deleted=include_deleted
        )
    if as_json:
        emit_json(data)
        return
    table = Table(
        title=f"positions of {data['portfolio_name']} (portfolio {data['portfolio_id']})",
        caption="entry and exit: date, then price per unit",
    )
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("symbol", no_wrap=True)
    table.add_column("class", no_wrap=True)
    table.add_column("quantity", justify="right", no_wrap=True)
    table.add_column("entry", no_wrap=True)
    table.add_column("exit", no_wrap=True)
    table.add_column("state / last valuation", overflow="fold")
    for row in data["positions"]:
        state = row["state"]
        if row["last_valuation_date"] is not None:
            state += f"\n{row['last_valuation_date']}: {_qty(row['last_valuation'])}"
        table.add_row(
            str(row["position_id"]),
            row["symbol"],
            row["investment_class"],
            _qty(row["quantity"]),
            f"{row['entry_date']}\n{_qty(row['entry_price'])}",
            f"{row['exit_date']}\n{_qty(row['exit_price'])}"
            if row["exit_price"] is not None
            else str(row["exit_date"] or ""),
            state,
        )
    out.print(table)
    if not data["positions"]:
        err.print("no positions" + ("" if include_deleted else " (--all shows deleted ones)"))


@portfolio.command("value", role=WRITER)
@click.argument("position_id", type=int, required=False)
@click.option("--date", "valuation_date", callback=_date, help="Valuation date (YYYY-MM-DD).")
@click.option("--value", callback=_number, help="Total value of the position on that date.")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file of position_id,date,value rows.",
)
@click.option("--refresh", is_flag=True, help="Refresh the portfolio now.")
def value_cmd(
    position_id: int | None,
    valuation_date: dt.date | None,
    value: Decimal | None,
    csv_file: Path | None,
    refresh: bool,
) -> None:
    """Record manual valuations of PRIVATE positions (or marks of OPTIONS positions).

    A PRIVATE position is valued by its last valuation on or before each day, else at cost.
    A second value for the same position and date replaces the first.

    Example:

        folio portfolio value 14 --date 2025-06-30 --value 275,000 --refresh
        folio portfolio value --csv valuations.csv
    """
    if csv_file is not None:
        if position_id is not None or valuation_date or value is not None:
            raise click.UsageError("give either --csv FILE or POSITION_ID --date --value, not both")
        valuations = portfolio_edit.parse_valuations_csv(csv_file)
        source = str(csv_file)
    else:
        if position_id is None or valuation_date is None or value is None:
            raise click.UsageError("give POSITION_ID --date D --value V (or --csv FILE)")
        valuation, issues = portfolio_edit.parse_valuation(
            {
                "position_id": str(position_id),
                "date": valuation_date.isoformat(),
                "value": str(value),
            }
        )
        if issues:
            raise portfolio_io.ValidationError("valuation", issues)
        assert valuation is not None
        valuations = [valuation]
        source = "valuation"
    with _edit_session() as conn:
        touched = portfolio_edit.set_valuations(conn, valuations, source=source)
    err.print(f"{len(valuations)} valuation(s) recorded for portfolio(s) {touched}")
    _refresh_after(touched, refresh)


@portfolio.command("add", role=WRITER)
@click.argument("portfolio_ref", metavar="PORTFOLIO")
@click.option("--symbol", required=True, help="Ticker, OCC symbol or private asset id.")
@click.option("--quantity", required=True, help="Units (contracts for OPTIONS).")
@click.option("--entry-date", required=True, help="YYYY-MM-DD.")
@click.option("--entry-price", required=True, help="Price per unit paid.")
@click.option(
    "--class",
    "investment_class",
    default="PUBLIC",
    show_default=True,
    help="PUBLIC, OPTIONS or PRIVATE.",
)
@click.option("--exit-date", help="YYYY-MM-DD, if already closed.")
@click.option("--exit-price", help="Price per unit received.")
@click.option("--notes")
@click.option("--user", "email", help="Owner's email, when several portfolios share the name.")
@click.option("--refresh", is_flag=True, help="Refresh the portfolio now.")
def add_cmd(portfolio_ref: str, email: str | None, refresh: bool, **fields: str | None) -> None:
    """Add one position to a portfolio, validated like an import line.

    Example:

        folio portfolio add 1 --symbol VTI --quantity 10 --entry-date 2025-03-03 --entry-price 290.10 --refresh
    """
    values = {k: v for k, v in fields.items() if v is not None}
    with _edit_session() as conn:
        pid, position_id = portfolio_edit.add_position(conn, portfolio_ref, values, email=email)
    click.echo(position_id)
    err.print(f"position {position_id} added to portfolio {pid}")
    _refresh_after([pid], refresh)


@portfolio.command("close", role=WRITER)
@click.argument("position_id", type=int)
@click.option("--date", "exit_date", required=True, callback=_date, help="Exit date (YYYY-MM-DD).")
@click.option("--price", "exit_price", callback=_number, help="Exit price per unit.")
@click.option("--refresh", is_flag=True, help="Refresh the portfolio now.")
def close_cmd(
    position_id: int, exit_date: dt.date, exit_price: Decimal | None, refresh: bool
) -> None:
    """Close a position: it is held until (not including) the exit date.

    Without --price the exit is valued at that day's price by the usual rule.

    Example:

        folio portfolio close 12 --date 2025-06-02 --price 101.25 --refresh
    """
    with _edit_session() as conn:
        pid = portfolio_edit.close_position(conn, position_id, exit_date, exit_price)
    err.print(f"position {position_id} closed on {exit_date}")
    _refresh_after([pid], refresh)


@portfolio.command("set", role=WRITER)
@click.argument("portfolio_ref", metavar="PORTFOLIO")
@click.option("--user", "email", help="Owner's email, when several portfolios share the name.")
@click.option(
    "--base-currency",
    help="The currency its values are reported in (ISO 4217, e.g. EUR); not while its "
    "activities are in another one.",
)
@click.option(
    "--public/--private", "is_public", default=None, help="Ranked on the leaderboards or not."
)
@click.option("--benchmark", "benchmark_symbol", help="Benchmark symbol (with stored prices).")
@click.option(
    "--cost-method",
    type=click.Choice(["fifo", "average"]),
    help="How a sell's cost is matched to the buys of its ledger.",
)
@click.option("--refresh", is_flag=True, help="Refresh the portfolio now.")
@base.json_option("Print the settings as JSON.")
def set_cmd(
    portfolio_ref: str, email: str | None, refresh: bool, as_json: bool, **settings: Any
) -> None:
    """Change a portfolio's settings (id or name); each option left out is kept.

    A change is queued: the next refresh recomputes the portfolio's whole history.

    Example:

        folio portfolio set Depot --base-currency EUR --cost-method average --refresh
    """
    if all(value is None for value in settings.values()):
        raise click.UsageError(
            "nothing to change: give --base-currency, --public/--private, --benchmark "
            "or --cost-method"
        )
    with _edit_session() as conn:
        after = portfolio_edit.set_portfolio(conn, portfolio_ref, settings, email=email)
    if as_json:
        emit_json(after)
    else:
        table = Table(title=f"portfolio {after['portfolio_id']} ({after['name']})")
        table.add_column("setting")
        table.add_column("value")
        for name in portfolio_edit.SETTINGS:
            table.add_row(name, str(after[name]))
        out.print(table)
    _refresh_after([after["portfolio_id"]], refresh)


@portfolio.command("delete", role=WRITER)
@click.argument("position_id", type=int)
@click.option("--refresh", is_flag=True, help="Refresh the portfolio now.")
def delete_cmd(position_id: int, refresh: bool) -> None:
    """Soft-delete a position: kept in the table, ignored by every analytic.

    Example:

        folio portfolio delete 12 --refresh
    """
    with _edit_session() as conn:
        pid = portfolio_edit.delete_position(conn, position_id)
    err.print(f"position {position_id} deleted")
    _refresh_after([pid], refresh)


def register(cli: click.Group) -> None:
    cli.add_command(portfolio)
