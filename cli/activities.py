"""`folio activities …`: import, list and export a portfolio's transactions ledger."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from cli import base
from cli.common import emit_json, err, out, require_file
from foliodb import activities as ledger
from foliodb import activity_formats
from foliodb.db import acting_as, connect
from foliodb.portfolio_io import user_id_of
from foliodb.security import REFRESH, WRITER


@base.group()
def activities() -> None:
    """The transactions ledger: buys, sells, dividends, fees, cash flows, splits.

    foliodb's CSV columns: activity_date, activity_type (BUY, SELL, DIVIDEND, INTEREST, FEE,
    TAX, DEPOSIT, WITHDRAWAL, TRANSFER_IN, TRANSFER_OUT, SPLIT), symbol, quantity, unit_price,
    amount, fee, currency (the portfolio's base currency), fx_rate, notes, source, external_id. docs/semantics.md, "Activities",
    says what each type does.

    Example:

        folio activities import examples/ledger.csv --user ann@example.com --portfolio Brokerage
    """


@activities.command("import", role=WRITER)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--user", "email", required=True, help="Owner's email (created if missing).")
@click.option("--portfolio", "name", required=True, help="Portfolio name (created if missing).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(ledger.FORMATS),
    default="foliodb",
    show_default=True,
    help="The file's format.",
)
@click.option(
    "--base-currency",
    help="Base currency of a portfolio the import creates (default USD; ISO 4217, e.g. EUR). "
    "An existing portfolio keeps its own (`folio portfolio set` changes it).",
)
@base.json_option("Print the result as JSON.")
def import_cmd(
    file: Path, email: str, name: str, fmt: str, base_currency: str | None, as_json: bool
) -> None:
    """Import an activity file into a portfolio: validated whole, all or nothing.

    Every problem is printed with its line and field and nothing is written; selling more
    than is held is refused with the quantity held. Rows already imported (same source and
    external_id; a row without an id is identified by its fields) are not added again. The
    portfolio is queued for the next refresh.

    Example:

        folio activities import examples/ledger.csv --user ann@example.com --portfolio Brokerage --json
        folio activities import export.csv --format pp --user erik@example.com --portfolio Depot --base-currency EUR
    """
    require_file(file, "FILE")
    if not name.strip():
        raise click.BadParameter("must not be blank", param_hint="--portfolio")
    # one session: the owner and the portfolio's base currency (a format's rate may depend on
    # it) are looked up as the operator's refresh role; the write is the app writer's, acting
    # for the owner when the owner exists (as `folio portfolio import`)
    with connect(role=REFRESH) as conn:
        owner_id = user_id_of(conn, email)
        base = ledger.base_currency_of(conn, email, name, base_currency)
        rows = ledger.read_activities(file, fmt, base)
        with acting_as(conn, WRITER, owner_id):
            result = ledger.import_activities(conn, email, name, rows, str(file), base_currency)
    if as_json:
        emit_json(result.as_dict())
        return
    out.print(
        f"portfolio {result.portfolio_id}: {result.added} activities added, "
        f"{result.already_present} already present"
    )
    err.print("queued for the next refresh (`folio refresh`, or the nightly pg_cron job)")


@activities.command("list", role=REFRESH)
@click.argument("portfolio_ref", metavar="PORTFOLIO")
@base.json_option("Print the activities as JSON.")
def list_cmd(portfolio_ref: str, as_json: bool) -> None:
    """List a portfolio's activities with their ids (id or name), in date order.

    Example:

        folio activities list Brokerage
        folio activities list 12 --json
    """
    with connect() as conn:
        pid = ledger.portfolio_id(conn, portfolio_ref)
        rows = ledger.list_activities(conn, pid)
    if as_json:
        emit_json(rows)
        return
    table = Table(title=f"activities of portfolio {pid}")
    for column in ("id", "date", "type", "symbol", "quantity", "price", "amount", "fee"):
        table.add_column(
            column,
            justify="right" if column not in ("type", "symbol") else "left",
            overflow="fold",  # a long symbol or number wraps whole, never cut with …
        )
    for row in rows:
        table.add_row(
            str(row["activity_id"]),
            str(row["activity_date"]),
            row["activity_type"],
            row["symbol"] or "",
            *(
                "" if row[key] is None else activity_formats.decimal_text(row[key])
                for key in ("quantity", "unit_price", "amount", "fee")
            ),
        )
    out.print(table)


@activities.command("export", role=REFRESH)
@click.argument("portfolio_ref", metavar="PORTFOLIO")
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
def export_cmd(portfolio_ref: str, out_file: Path | None) -> None:
    """Write a portfolio's activities in foliodb's CSV format (id or name).

    Importing the output into the same portfolio adds nothing (the ids are kept).

    Example:

        folio activities export Brokerage --out brokerage.csv
    """
    with connect() as conn:
        rows = ledger.list_activities(conn, ledger.portfolio_id(conn, portfolio_ref))
    text = ledger.export_csv(rows)
    if out_file is None:
        click.echo(text, nl=False)
        return
    out_file.write_text(text, encoding="utf-8")
    err.print(f"wrote {len(rows)} activities to {out_file}")


def register(cli: click.Group) -> None:
    cli.add_command(activities)
