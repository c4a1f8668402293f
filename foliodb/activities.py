"""The transactions ledger from Python: read an activity file, import it, list and export it.

The rules of an activity live once, in the database: ``core.import_activities``
(``sql/routines/50_activities.sql``) validates the whole file, names every bad line and field,
writes all or nothing and adds nothing twice. This module only reads the file into canonical rows
(each with its line) and hands them over; a parser of another tracker's export
(``foliodb.activity_formats``, when present) yields the same canonical rows.

foliodb's own CSV format (UTF-8, a header, one activity per line)::

    activity_date,activity_type,symbol,quantity,unit_price,amount,fee,currency,notes,external_id
    2025-01-06,DEPOSIT,,,,10000,,USD,,
    2025-01-06,BUY,VTI,10,290.50,,1.00,USD,,b-1
"""

from __future__ import annotations

import csv
import importlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from foliodb.errors import FolioError
from foliodb.portfolio_io import (
    Issue,
    ValidationError,
    control_character_issues,
    map_header,
    read_csv_records,
)

COLUMNS = (
    "activity_date",
    "activity_type",
    "symbol",
    "quantity",
    "unit_price",
    "amount",
    "fee",
    "currency",
    "notes",
    "source",
    "external_id",
)
REQUIRED = ("activity_date", "activity_type")
FORMATS = ("foliodb", "ghostfolio", "wealthfolio", "pp")
EXPORT_COLUMNS = (*COLUMNS, "activity_id")


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


def read_foliodb_csv(data: bytes, label: str) -> list[dict[str, str]]:
    """foliodb's activity CSV as canonical rows (texts as typed, each with its line)."""
    records = read_csv_records(data, label)
    if not records:
        raise ValidationError(label, [Issue(None, None, "the file is empty: expected a header")])
    header_line, header = records[0]
    mapping, issues = map_header(header, header_line, COLUMNS, REQUIRED)
    if issues:
        raise ValidationError(label, issues)
    rows = []
    for line, fields in records[1:]:
        if len(fields) > len(header):
            issues.append(
                Issue(line, None, f"{len(fields)} fields, the header has {len(header)} columns")
            )
            continue
        values = {name: fields[idx].strip() for name, idx in mapping.items() if idx < len(fields)}
        issues.extend(control_character_issues(line, values, frozenset({"notes"})))
        rows.append({"line": str(line), **{k: v for k, v in values.items() if v != ""}})
    if issues:
        raise ValidationError(label, issues)
    if not rows:
        raise ValidationError(label, [Issue(None, None, "no activities: only a header")])
    return rows


def read_activities(path: Path, fmt: str = "foliodb") -> list[dict[str, Any]]:
    """The canonical rows of an activity file in one of FORMATS."""
    data = path.read_bytes()
    if fmt == "foliodb":
        return read_foliodb_csv(data, str(path))
    try:
        formats = importlib.import_module("foliodb.activity_formats")
    except ImportError as exc:
        raise FolioError(
            f"the {fmt} format is not available yet in this installation (foliodb.activity_formats)"
        ) from exc
    rows = []
    for row in formats.parse(fmt, data, str(path)):  # canonical rows, with their line
        rows.append({key: _text(value) for key, value in dict(row).items() if value is not None})
    return rows


def _text(value: Any) -> Any:
    return value if isinstance(value, str) else str(value)


def import_activities(
    conn: psycopg.Connection, email: str, portfolio: str, rows: list[dict[str, Any]], label: str
) -> ActivityImport:
    """Write the rows through core.import_activities, in the caller's transaction."""
    try:
        pid, added, present = conn.execute(
            "select * from core.import_activities(%s, %s, %s::jsonb)",
            [email, portfolio, json.dumps(rows)],
        ).fetchone()
    except psycopg.errors.InvalidParameterValue as exc:
        primary = exc.diag.message_primary or str(exc)
        raise FolioError(f"{label}: {primary}") from exc
    return ActivityImport(pid, added, present)


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
            quantity, unit_price, amount, fee, currency, notes, source, external_id
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
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[name] is None else _plain(row[name]) for name in COLUMNS])
    return buffer.getvalue()


def _plain(value: Any) -> str:
    if hasattr(value, "normalize") and hasattr(value, "as_tuple"):  # Decimal
        text = format(value.normalize(), "f")
        return text
    return str(value)
