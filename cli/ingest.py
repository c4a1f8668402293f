"""`folio ingest …`: prices and the trading calendar into the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import click
import psycopg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli import base
from cli.common import emit_json, err, out, require_file
from foliodb.db import connect
from foliodb.errors import FolioError
from foliodb.security import INGEST


@base.group()
def ingest() -> None:
    """Bring market data in: daily prices and the exchange calendar.

    Prices are fetched in bulk (yfinance), read from CSV files, or generated (demo), then
    COPY-loaded, validated in the database and upserted. Runs are recorded in ops.runs.

    Example:

        folio ingest calendar && folio ingest prices --source demo
    """


def _comma_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """A comma-separated list (--symbols, --pairs); the ingest checks the items (exit 2
    naming the option)."""
    return None if value is None else value.split(",")


def _paths_and_source(what: str) -> Callable[[Callable], Callable]:
    """PATHS and --source (yfinance, csv or demo), as the prices and fx commands take them;
    ``what`` is the help of --source."""

    def decorate(command: Callable) -> Callable:
        command = click.option(
            "--source",
            type=click.Choice(["yfinance", "csv", "demo"]),
            default="yfinance",
            show_default=True,
            help=what,
        )(command)
        return click.argument("paths", nargs=-1, type=click.Path(dir_okay=False))(command)

    return decorate


def _timeout_option(more: str = "") -> Callable[[Callable], Callable]:
    """--timeout: seconds per request to Yahoo (FOLIO_YF_TIMEOUT, else 10)."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        show_default="FOLIO_YF_TIMEOUT, else 10",
        help=f"Seconds each request to Yahoo may take{more}.",
    )


def _require_paths(source: str, paths: tuple[str, ...]) -> None:
    """Files with --source csv and only then, each readable (exit 2 otherwise)."""
    if source == "csv" and not paths:
        raise click.UsageError("--source csv needs at least one PATH")
    if source != "csv" and paths:
        raise click.UsageError(f"PATHS are only read with --source csv (got {paths[0]!r})")
    for path in paths:
        require_file(path, "PATHS")


def _session() -> psycopg.Connection:
    """The session every `folio ingest` command loads on: folio_ingest (the role the commands
    declare), autocommit, so each chunk and each run row commits on its own."""
    return connect(role=INGEST, autocommit=True)


@ingest.command("prices", role=INGEST)
@_paths_and_source("Where prices come from. demo: synthetic, deterministic prices (no network).")
@click.option(
    "--symbols",
    callback=_comma_list,
    metavar="A,B,…",
    help="Only these symbols (default: held, options' underlyings, benchmarks, factor ETFs, universe).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 500),
    default=50,
    show_default=True,
    help="Tickers per bulk request and per committed chunk.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="At most this many ticker requests per second (yfinance).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Download threads per chunk (yfinance).",
)
@_timeout_option("; an unreachable Yahoo fails the run at once")
@base.json_option("Print the summary as JSON.")
def prices(
    paths: tuple[str, ...],
    source: str,
    symbols: list[str] | None,
    chunk_size: int,
    rate: float,
    threads: int,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Fetch daily prices and load them (incremental, resumable, validated).

    Each symbol is fetched from a few sessions before its last stored date (new symbols:
    from a year before their earliest entry, else five years) through the last closed
    session. Chunks commit on their own: an interrupted run, started again, continues.
    Invalid rows go to market.quarantine; a changed past close queues a refresh.
    When Yahoo cannot be reached at all (no network), the run fails within --timeout
    seconds with that message, and no symbol is marked unknown or delisted.

    CSV files (--source csv PATH…) have a header row: symbol,date,close and optionally
    adj_close,volume; a file with any error loads nothing and the errors name the line
    and field.

    Example:

        folio ingest prices --symbols SPY,^GSPC --chunk-size 50 --rate 2

        folio ingest prices --source csv prices.csv

        folio ingest prices --source demo --json
    """
    from ingest.prices import ingest_prices

    _require_paths(source, paths)
    if source == "demo":
        err.print(
            "[yellow]demo source: prices are SYNTHETIC (seeded random walks), not market data[/]"
        )
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]} rows · {task.fields[errors]} errors"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as bar:
        task = bar.add_task(f"{source} prices", total=None, rows=0, errors=0)

        def on_progress(p) -> None:
            bar.update(task, completed=p.done, total=p.total, rows=p.rows, errors=p.errors)

        with _session() as conn:
            summary = ingest_prices(
                conn,
                source=source,
                symbols=symbols,
                paths=list(paths) or None,
                progress=on_progress,
                chunk_size=chunk_size,
                rate=rate,
                threads=threads,
                timeout=timeout,
            )
    if as_json:
        emit_json(summary.to_dict())
    else:
        _print_summary(summary)
    if summary.status == "failed" or (source == "csv" and summary.failures):
        raise FolioError(summary.message)
    if summary.status == "partial":
        err.print(f"[yellow]partial:[/] {summary.message}")
    if summary.status == "skipped":
        err.print(f"skipped: {summary.message}")


def _print_summary(summary) -> None:
    title = f"ingest {summary.source} · run {summary.run_id} · {summary.status}"
    if summary.synthetic:
        title += " · SYNTHETIC demo prices"
    table = Table(title=title, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("through session", str(summary.last_closed))
    table.add_row("symbols fetched", str(summary.symbols_fetched))
    table.add_row("symbols already current", str(summary.symbols_current))
    table.add_row("rows inserted", str(summary.rows_inserted))
    table.add_row("rows updated", str(summary.rows_updated))
    table.add_row("rows unchanged", str(summary.rows_unchanged))
    table.add_row("rows quarantined", str(summary.rows_quarantined))
    table.add_row("moves flagged", str(summary.rows_flagged))
    table.add_row("splits written", str(summary.splits_written))
    table.add_row("dividends written", str(summary.dividends_written))
    table.add_row("actions quarantined", str(summary.actions_quarantined))
    table.add_row("symbols queued for refresh", str(len(summary.dirty)))
    table.add_row("seconds", f"{summary.elapsed_s:.1f}")
    out.print(table)
    if summary.failures or summary.skipped:
        failures = Table(title="failures")
        failures.add_column("symbol / file", style="bold", overflow="fold")
        failures.add_column("reason", overflow="fold")  # long tokens fold, never "…"
        for name, reason in summary.failures.items():
            failures.add_row(name, reason)
        for name, reason in summary.skipped.items():
            failures.add_row(name, f"skipped ({reason}); name it with --symbols to retry")
        out.print(failures)


@ingest.command("calendar", role=INGEST)
@click.option(
    "--calendar",
    "calendar_name",
    default="XNYS",
    show_default=True,
    help="exchange_calendars code.",
)
@click.option(
    "--through",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Last date to fill (default: the end of next year).",
)
@base.json_option("Print the result as JSON.")
def calendar_cmd(calendar_name: str, through: dt.datetime | None, as_json: bool) -> None:
    """Fill market.trading_days with exchange sessions (special closures included).

    Sessions from 2000-01-03 on, numbered by session_idx; re-running adds only what is
    missing. `folio db migrate` also runs this.

    Example:

        folio ingest calendar --through 2030-12-31
    """
    from ingest import calendar

    through_date = through.date() if through else None
    if through_date and through_date < calendar.CALENDAR_START:
        raise click.BadParameter(f"must be after {calendar.CALENDAR_START}", param_hint="--through")
    with _session() as conn:
        added = calendar.ensure_calendar(conn, calendar_name, through_date)
        last = calendar.calendar_through(conn, calendar_name)
        closed = calendar.last_closed_session(conn, calendar_name)
    result = {
        "calendar": calendar_name,
        "sessions_added": added,
        "through": last,
        "last_closed": closed,
    }
    if as_json:
        emit_json(result)
        return
    out.print(
        f"{calendar_name}: {added} sessions added; filled through {last}; "
        f"last closed session {closed}"
    )


@ingest.command("fx", role=INGEST)
@_paths_and_source("Where rates come from (demo: SYNTHETIC rates, not market data).")
@click.option(
    "--pairs",
    callback=_comma_list,
    metavar="EURUSD=X,…",
    help="Only these pairs (default: every currency portfolios need, and their bases, against USD).",
)
@_timeout_option()
@base.json_option("Print the summary as JSON.")
def fx_cmd(
    paths: tuple[str, ...],
    source: str,
    pairs: list[str] | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Fetch daily FX rates and load them (checked and quarantined as prices are).

    A pair such as EURUSD=X is the price of 1 EUR in USD (JPY=X: 1 USD in JPY). Each pair
    is fetched from a few sessions before its last stored rate (a new pair: from a year
    before it is first needed) through the last closed session. A changed past rate queues
    the portfolios converting it. CSV files (--source csv PATH…) have a header row
    pair,date,rate; a file with any error loads nothing and the errors name line and field.

    Example:

        folio ingest fx

        folio ingest fx --pairs EURUSD=X,GBPUSD=X --json

        folio ingest fx --source csv rates.csv

        folio ingest fx --source demo
    """
    from ingest.fx import ingest_fx

    _require_paths(source, paths)
    with _session() as conn:
        summary = ingest_fx(
            conn, source=source, pairs=pairs, paths=list(paths) or None, timeout=timeout
        )
    if as_json:
        emit_json(summary.to_dict())
    else:
        table = Table(
            title=f"ingest fx {source} · run {summary.run_id} · {summary.status}"
            + (" · SYNTHETIC rates, not market data" if summary.synthetic else ""),
            show_header=False,
        )
        table.add_column("what", style="bold")
        table.add_column("value", justify="right")
        table.add_row("through session", str(summary.last_closed))
        table.add_row("pairs fetched", str(summary.pairs_fetched))
        table.add_row("pairs already current", str(summary.pairs_current))
        table.add_row("rows inserted", str(summary.rows_inserted))
        table.add_row("rows updated", str(summary.rows_updated))
        table.add_row("rows unchanged", str(summary.rows_unchanged))
        table.add_row("rows quarantined", str(summary.rows_quarantined))
        table.add_row("rows on no session (left out)", str(summary.rows_off_session))
        out.print(table)
        for name, reason in summary.failures.items():
            err.print(f"[red]{name}[/]: {reason}")
    if summary.status == "failed" or (source == "csv" and summary.failures):
        raise FolioError(summary.message or "the FX ingest failed")
    if summary.status == "partial":
        err.print(f"[yellow]partial:[/] {summary.message}")
    if summary.status == "skipped":
        err.print(f"skipped: {summary.message}")


@ingest.command("currencies", role=INGEST)
@click.argument("assignments", nargs=-1, metavar="[SYMBOL=CURRENCY]...")
@base.json_option("Print the changed symbols as JSON.")
def currencies_cmd(assignments: tuple[str, ...], as_json: bool) -> None:
    """Set symbols' trading currencies: as given, or from yfinance's metadata.

    With SYMBOL=CURRENCY arguments (an operator's word), those; without, every symbol that
    matters (held, benchmarks, factors) is looked up in yfinance (Ticker.fast_info
    'currency'; London listings say GBp, pence). A currency must be one of
    market.currencies. A changed currency queues the symbol's holders.

    Example:

        folio ingest currencies VOD.L=GBp SAP.DE=EUR

        folio ingest currencies --json
    """
    from ingest.fx import set_symbol_currencies, yfinance_currencies

    given: dict[str, str] = {}
    for text in assignments:
        symbol, sep, currency = text.partition("=")
        if not sep or not symbol.strip() or not currency.strip():
            raise click.BadParameter(
                f"expected SYMBOL=CURRENCY such as VOD.L=GBp, got {text!r}",
                param_hint="SYMBOL=CURRENCY",
            )
        given[symbol.strip().upper()] = currency.strip()
    with _session() as conn:
        changed = set_symbol_currencies(conn, given or None, lookup=yfinance_currencies)
    if as_json:
        emit_json([{"symbol": s, "currency": c, "previous": p} for s, c, p in changed])
        return
    if not changed:
        out.print("no trading currency changed")
    for symbol, currency, previous in changed:
        out.print(f"{symbol}: {previous} → {currency}")


def register(cli: click.Group) -> None:
    cli.add_command(ingest)
