"""The transactions ledger from Python: read an activity file, import it, list and export it.

The rules of an activity live once, in the database: ``core.import_activities``
(``sql/routines/50_activities.sql``) validates the whole file, names every bad line and field,
writes all or nothing and adds nothing twice. The files are read by
``foliodb.activity_formats`` (foliodb's CSV, Ghostfolio, Wealthfolio, Portfolio Performance:
docs/activities.md), which yields canonical rows; this module hands them over and lists and
exports what is stored.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from foliodb import activity_formats
from foliodb.errors import FolioError

FORMATS = activity_formats.FORMATS
TRADES = ("BUY", "SELL", "TRANSFER_IN", "TRANSFER_OUT")


@dataclass
class ActivityImport:
    portfolio_id: int
    added: int
    already_present: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "portfolio_id": self.portfolio_id,
            "added": self.added,
            "already_present": self.already_present,
        }


def read_activities(
    path: Path, fmt: str | None = "foliodb", base_currency: str | None = None
) -> list[dict[str, Any]]:
    """The canonical rows of an activity file in one of FORMATS (detected when ``fmt`` is
    None), as the SQL import takes them: texts, each with its line. The database keeps one
    figure of each: a trade of securities is worth quantity × unit_price, so a file's amount
    for it (the readers fill it in) is not handed over; an income or cash event is its amount,
    so the shares and the per-share figure a tracker records beside it are not either.
    ``base_currency``: that of the portfolio the rows go into (a format's rate may depend on
    it: Wealthfolio's fxRate)."""
    rows = []
    for line, row in activity_formats.read_activities(path, fmt, base_currency):
        record = activity_formats.activity_as_json(line, row)
        kind = record["activity_type"]
        if kind in TRADES and record.get("symbol") and record.get("quantity"):
            record["amount"] = None
        elif kind not in (*TRADES, "SPLIT") and record.get("amount"):
            record["quantity"] = record["unit_price"] = None
        rows.append({key: str(value) for key, value in record.items() if value is not None})
    return rows


def import_activities(
    conn: psycopg.Connection,
    email: str,
    portfolio: str,
    rows: list[dict[str, Any]],
    label: str,
    base_currency: str | None = None,
) -> ActivityImport:
    """Write the rows through core.import_activities, in the caller's transaction;
    ``base_currency``: that of a portfolio the import creates (an existing one must be in it)."""
    try:
        pid, added, present = conn.execute(
            "select * from core.import_activities(%s, %s, %s::jsonb, %s)",
            [email, portfolio, json.dumps(rows), base_currency],
        ).fetchone()
    except psycopg.errors.InvalidParameterValue as exc:
        primary = exc.diag.message_primary or str(exc)
        raise FolioError(f"{label}: {primary}") from exc
    return ActivityImport(pid, added, present)


def base_currency_of(
    conn: psycopg.Connection, email: str, portfolio: str, default: str | None = None
) -> str:
    """The base currency of the user's portfolio of that name; for one not created yet,
    ``default`` (an import's --base-currency), else USD."""
    row = conn.execute(
        "select portfolios.base_currency from core.portfolios as portfolios"
        " inner join core.users as users on users.user_id = portfolios.user_id"
        " where lower(users.email) = lower(%s) and portfolios.name = %s",
        [email.strip(), portfolio.strip()],
    ).fetchone()
    return row[0] if row else (default or "USD").strip().upper()


def portfolio_id(conn: psycopg.Connection, portfolio: str) -> int:
    """A portfolio by id or by name (a name must be unambiguous)."""
    if portfolio.isdigit():
        row = conn.execute(
            "select portfolio_id from core.portfolios where portfolio_id = %s", [int(portfolio)]
        ).fetchone()
        if row:
            return row[0]
    ids = [
        r[0]
        for r in conn.execute(
            "select portfolio_id from core.portfolios where name = %s order by portfolio_id",
            [portfolio],
        )
    ]
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise FolioError(f"no portfolio {portfolio!r} (give its id or its name)")
    raise FolioError(f"{len(ids)} portfolios are named {portfolio!r}: give the id ({ids})")


def list_activities(conn: psycopg.Connection, pid: int) -> list[dict[str, Any]]:
    """The portfolio's activities in date order, with their ids."""
    cur = conn.execute(
        """
        select activity_id, activity_date, activity_type::text as activity_type, symbol,
            quantity, unit_price, amount, fee, currency, notes, source, external_id, fx_rate
        from core.activities
        where portfolio_id = %s
        order by activity_date, activity_id
        """,
        [pid],
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def export_csv(rows: list[dict[str, Any]]) -> str:
    """The activities in foliodb's CSV format (importable again: same ids, nothing added)."""
    buffer = io.StringIO()
    activity_formats.write_foliodb_csv(rows, buffer)
    return buffer.getvalue()
