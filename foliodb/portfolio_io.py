"""Portfolio CSV files: parse and validate, import (with the instant backfill), export.

The format (one position per line; header names are case-insensitive)::

    symbol,quantity,entry_date,entry_price,investment_class,exit_date,exit_price,notes
    VUG,"2,031",2025-01-06,492.16,PUBLIC,,,
    AAPL240119C00150000,2,2023-11-01,4.10,OPTIONS,,,covered
    ACME-SEED,1,2024-03-01,250000,PRIVATE,,,SAFE note

symbol, quantity, entry_date and entry_price are required; investment_class defaults to
PUBLIC. The whole file is validated before anything is written and every problem is reported
with its line and field; any problem means nothing is written. Python reads the file, maps
its header and parses the fields; the rules of a position are the database's
(``core.import_problems``, sql/routines/30_portfolio_import.sql), asked before the write and
enforced again by the write itself (``core.import_portfolio``, one transaction).
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import heapq
import io
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

import psycopg
from psycopg.types.json import Jsonb

from foliodb import bounds, clock
from foliodb.db import acting_as, connect
from foliodb.errors import BadArgument, FolioError, odd_character, shown
from foliodb.refresh import run_refresh
from foliodb.security import REFRESH, WRITER

log = logging.getLogger(__name__)

COLUMNS = (
    "symbol",
    "quantity",
    "entry_date",
    "entry_price",
    "investment_class",
    "exit_date",
    "exit_price",
    "notes",
)
REQUIRED = ("symbol", "quantity", "entry_date", "entry_price")
CLASSES = ("PUBLIC", "OPTIONS", "PRIVATE")
# Names real exports use, for the "did you mean" of an unknown column.
ALIASES = {
    "ticker": "symbol",
    "security": "symbol",
    "qty": "quantity",
    "shares": "quantity",
    "units": "quantity",
    "date": "entry_date",
    "purchase_date": "entry_date",
    "buy_date": "entry_date",
    "open_date": "entry_date",
    "price": "entry_price",
    "cost": "entry_price",
    "purchase_price": "entry_price",
    "buy_price": "entry_price",
    "class": "investment_class",
    "asset_class": "investment_class",
    "type": "investment_class",
    "sell_date": "exit_date",
    "close_date": "exit_date",
    "sell_price": "exit_price",
    "close_price": "exit_price",
    "note": "notes",
    "comment": "notes",
    "comments": "notes",
}
NUMBER = re.compile(r"^[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?$|^[+-]?\.[0-9]+$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MAX_SHOWN = 50  # problems printed in one error message
WRITE_CHUNK = 5_000  # positions per statement of a portfolio write (and of its check)


@dataclass(frozen=True)
class Issue:
    """One problem in an input file: where (line, field) and what was expected."""

    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}" if self.line else None, self.field]
        prefix = ", ".join(p for p in where if p)
        return f"{prefix}: {self.message}" if prefix else self.message


class ValidationError(FolioError):
    """An input file with problems; nothing was written. ``issues`` holds the first
    MAX_SHOWN by line, ``total`` counts them all."""

    def __init__(self, source: str, issues: list[Issue], total: int | None = None):
        self.source = source
        self.issues = issues[:MAX_SHOWN]
        self.total = n = total if total is not None else len(issues)
        lines = [f"  {issue}" for issue in self.issues]
        if n > len(self.issues):
            lines.append(f"  … and {n - len(self.issues):,} more")
        plural = "s" if n > 1 else ""
        super().__init__(f"{source}: {n:,} problem{plural}, nothing written:\n" + "\n".join(lines))


class Issues:
    """The problems of a file as it streams: the MAX_SHOWN with the lowest line numbers are
    kept (in a heap), the others only counted, so memory does not grow with bad rows."""

    def __init__(self, limit: int = MAX_SHOWN) -> None:
        self.limit = limit
        self.total = 0
        self._heap: list[tuple[int, int, Issue]] = []  # (-line, -arrival, issue): max-heap

    def append(self, issue: Issue) -> None:
        self.total += 1
        key = (-(issue.line or 0), -self.total, issue)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, key)
        elif key[:2] > self._heap[0][:2]:  # earlier than the latest kept one
            heapq.heapreplace(self._heap, key)

    def extend(self, issues: Iterable[Issue]) -> None:
        for issue in issues:
            self.append(issue)

    def __bool__(self) -> bool:
        return self.total > 0

    def first(self) -> list[Issue]:
        return [item[2] for item in sorted(self._heap, key=lambda item: item[:2], reverse=True)]

    def error(self, source: str) -> ValidationError:
        return ValidationError(source, self.first(), self.total)


@dataclass(frozen=True)
class PositionRow:
    """A validated position of an input file."""

    line: int | None
    symbol: str
    quantity: Decimal
    entry_date: dt.date
    entry_price: Decimal
    investment_class: str = "PUBLIC"
    exit_date: dt.date | None = None
    exit_price: Decimal | None = None
    notes: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The element core.import_portfolio / core.add_positions take (numbers as exact text)."""
        return {
            "line": self.line,
            "symbol": self.symbol,
            "quantity": str(self.quantity),
            "entry_date": self.entry_date.isoformat(),
            "entry_price": str(self.entry_price),
            "investment_class": self.investment_class,
            "exit_date": self.exit_date.isoformat() if self.exit_date else None,
            "exit_price": str(self.exit_price) if self.exit_price is not None else None,
            "notes": self.notes,
        }


def today() -> dt.date:
    """Today by the project's clock (foliodb.clock: FOLIO_TODAY, else the real date in UTC)."""
    return clock.today()


# ---------------------------------------------------------------------------- reading files


def iter_csv_records(
    stream: BinaryIO, source: str, delimiter: str = ",", skipinitialspace: bool = True
) -> Iterator[tuple[int, list[str]]]:
    """(physical line where it starts, fields) of each non-blank record, read from a byte
    stream line by line (a BOM is dropped, UTF-8 required): a quoted value may span lines
    and keeps its line break (refused later as a bad value), and later records keep their
    physical line numbers. The positions and valuation files and the activity files read
    their CSV here."""

    def lines() -> Iterator[str]:
        for number, data in enumerate(stream, start=1):
            if number == 1 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            try:
                yield data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValidationError(
                    source,
                    [
                        Issue(
                            number,
                            None,
                            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as "
                            "CSV UTF-8",
                        )
                    ],
                ) from exc

    # skipinitialspace: `VUG, "1,355"` is a quoted value after a space, as spreadsheets write it.
    reader = csv.reader(lines(), delimiter=delimiter, skipinitialspace=skipinitialspace)
    previous_end = 0
    try:
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if all(not value.strip() for value in record):
                continue  # blank line, or a line of empty fields
            yield start, record
    except csv.Error as exc:
        raise ValidationError(
            source, [Issue(reader.line_num, None, f"unreadable CSV: {exc}")]
        ) from exc


def read_csv_records(data: bytes, source: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank record of a small file held in memory."""
    return list(iter_csv_records(io.BytesIO(data), source))


def control_character_issues(
    line: int | None, values: Mapping[str, str], free_text: frozenset[str] = frozenset()
) -> list[Issue]:
    """NUL and other control characters, each named with its field. Free-text fields (notes)
    may hold tabs and line breaks; no field may hold NUL or other control characters."""
    issues = []
    for name, value in values.items():
        text = value.replace("\t", "").replace("\n", "").replace("\r", "")
        probe = text if name in free_text else value
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in probe):
            odd = odd_character(probe) or "a control character"
            issues.append(Issue(line, name, f"{shown(value)} contains {odd}: expected plain text"))
    return issues


def _canonical(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def suggest(name: str, choices: Iterable[str]) -> str | None:
    """The column (or value) a mistyped name most likely meant."""
    choices = list(choices)
    if name in ALIASES and ALIASES[name] in choices:
        return ALIASES[name]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def map_header(header: list[str], line: int, columns: tuple[str, ...], required: tuple[str, ...]):
    """Column name → index, and the header's problems."""
    issues: list[Issue] = []
    mapping: dict[str, int] = {}
    if len(header) == 1 and ";" in header[0]:
        issues.append(
            Issue(
                line,
                None,
                f"the header is one column {shown(header[0].strip())}: separate fields with commas, "
                "not semicolons",
            )
        )
        return mapping, issues
    for idx, raw in enumerate(header):
        name = _canonical(raw)
        if not name:
            issues.append(Issue(line, f"column {idx + 1}", "has no name"))
            continue
        if name in mapping:
            issues.append(
                Issue(
                    line,
                    name,
                    f"duplicate column: {shown(name)} is both column {mapping[name] + 1} and "
                    f"column {idx + 1}",
                )
            )
            continue
        if name not in columns:
            hint = suggest(name, columns)
            did_you_mean = f"; did you mean {hint!r}?" if hint else ""
            issues.append(
                Issue(
                    line,
                    name,
                    f"unknown column {shown(raw.strip())}{did_you_mean} "
                    f"(expected {', '.join(columns)})",
                )
            )
            continue
        mapping[name] = idx
    if issues and any("semicolons" in i.message for i in issues):
        return mapping, issues
    for name in required:
        if name not in mapping:
            issues.append(Issue(line, name, f"missing required column {name!r}"))
    return mapping, issues


# ---------------------------------------------------------------------------- field parsers


def _ascii_upper(text: str) -> str:
    """Upper-cased when ASCII; anything else is left as typed (and refused as such)."""
    return text.upper() if text.isascii() else text


def parse_number(text: str) -> Decimal | None:
    """'1,355' → 1355, '-.5' → -0.5; None when it is not a plain number (ASCII digits only:
    '１２３', '٣' and '1_000', which Decimal would take, are not)."""
    text = text.strip()
    if not NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None


def parse_date(text: str) -> dt.date | None:
    text = text.strip()
    if not ISO_DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _number_problem(text: str, example: str) -> str:
    if re.match(r"^[+-]?[0-9]+(,[0-9]+)+(\.[0-9]+)?$", text):
        return (
            f"{shown(text)} is not a number: commas must separate groups of three digits "
            f"(1,355), and '.' marks decimals"
        )
    odd = odd_character(text)
    digits = f"; it contains {odd}, and numbers are written with ASCII digits 0-9" if odd else ""
    return f"{shown(text)} is not a number (expected e.g. {example}){digits}"


class _Row:
    """Collects the problems of one record while its fields are parsed."""

    def __init__(
        self,
        line: int | None,
        values: Mapping[str, str],
        issues: list[Issue],
        absent: frozenset[str],
    ):
        self.line = line
        self.values = values
        self.issues = issues
        self.absent = absent  # columns missing from the header: reported once, there

    def problem(self, field_name: str, message: str) -> None:
        if field_name not in self.absent:
            self.issues.append(Issue(self.line, field_name, message))

    def text(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    def number(self, name: str, required: bool, example: str) -> Decimal | None:
        text = self.text(name)
        if not text:
            if required:
                self.problem(name, f"required: a number such as {example}")
            return None
        value = parse_number(text)
        if value is None:
            self.problem(name, _number_problem(text, example))
        return value

    def date(self, name: str, required: bool, on: dt.date) -> dt.date | None:
        text = self.text(name)
        if not text:
            if required:
                self.problem(name, "required: an ISO date YYYY-MM-DD")
            return None
        value = parse_date(text)
        if value is None:
            self.problem(
                name, f"{shown(text)} is not an ISO date (expected YYYY-MM-DD, e.g. 2025-01-06)"
            )
        elif value > on:
            self.problem(name, f"{value} is in the future (today is {on})")
            return None
        elif (before := bounds.date_problem(value)) is not None:
            self.problem(name, before)
            return None
        return value


def validate_position(
    values: Mapping[str, str],
    line: int | None = None,
    on: dt.date | None = None,
    absent: frozenset[str] = frozenset(),
) -> tuple[PositionRow | None, list[Issue]]:
    """One position from its text fields: the row, or the problems (each field checked).

    ``absent``: columns the header lacks, whose problems were reported on the header line.
    """
    on = on or today()
    issues: list[Issue] = []
    row = _Row(line, values, issues, absent)

    # Case folding only after the text is known to be ASCII: Python (and PostgreSQL) upper-case
    # 'ſ' (U+017F) to 'S' and 'ı' to 'I', so 'ſpy' would silently become SPY.
    class_text = _ascii_upper(row.text("investment_class"))
    investment_class: str | None = class_text or "PUBLIC"
    if investment_class not in CLASSES:
        hint = suggest(class_text, CLASSES)
        did_you_mean = f"; did you mean {hint}?" if hint else ""
        odd = odd_character(class_text)
        row.problem(
            "investment_class",
            f"{shown(class_text)} is not an investment class (expected PUBLIC, OPTIONS or "
            f"PRIVATE){did_you_mean}" + (f"; it contains {odd}" if odd else ""),
        )
        investment_class = None

    # The symbol's rules (its format, OCC option symbols, one class per symbol, kinds already
    # stored) are the database's: core.import_problems reports them (database_issues).
    symbol = _ascii_upper(row.text("symbol"))
    if not symbol:
        row.problem("symbol", "required: a ticker, an OCC option symbol or a private asset id")

    quantity = row.number("quantity", True, "1,355 or 12.5")
    if quantity is not None:
        if quantity == 0:
            row.problem("quantity", "must not be zero")
        elif quantity < 0 and investment_class != "OPTIONS":
            row.problem(
                "quantity", f"{quantity} must be positive (only OPTIONS positions can be short)"
            )
        elif (too_far := bounds.QUANTITY.problem(quantity)) is not None:
            row.problem("quantity", too_far)

    entry_date = row.date("entry_date", True, on)

    entry_price = row.number("entry_price", True, "91.44")
    if entry_price is not None and entry_price <= 0:
        row.problem(
            "entry_price", "must not be negative" if entry_price < 0 else "must be greater than 0"
        )
    elif entry_price is not None and (too_far := bounds.PRICE.problem(entry_price)) is not None:
        row.problem("entry_price", too_far)

    exit_date = row.date("exit_date", False, on)
    if exit_date and entry_date and exit_date <= entry_date:
        row.problem("exit_date", f"{exit_date} is not after entry_date {entry_date}")
    exit_price = row.number("exit_price", False, "101.50")
    if exit_price is not None:
        if exit_price <= 0:
            row.problem(
                "exit_price", "must not be negative" if exit_price < 0 else "must be greater than 0"
            )
        elif (too_far := bounds.PRICE.problem(exit_price)) is not None:
            row.problem("exit_price", too_far)
        elif not row.text("exit_date"):
            row.problem("exit_price", "given without exit_date")

    if issues or absent & set(REQUIRED):
        return None, issues
    assert quantity is not None and entry_date is not None and entry_price is not None
    assert investment_class is not None
    return (
        PositionRow(
            line=line,
            symbol=symbol,
            quantity=quantity,
            entry_date=entry_date,
            entry_price=entry_price,
            investment_class=investment_class,
            exit_date=exit_date,
            exit_price=exit_price,
            notes=row.text("notes") or None,
        ),
        [],
    )


def parse_portfolio_csv(
    source: str | Path | bytes,
    name: str | None = None,
    on: dt.date | None = None,
    conn: psycopg.Connection | None = None,
) -> list[PositionRow]:
    """Validate a whole portfolio file; raise ValidationError listing its problems (the
    first MAX_SHOWN by line, and how many there are). A file is read as a stream of
    records, never decoded or listed whole.

    Python reads the file, maps the header and parses each field; the rules of a position
    (the symbol's format, OCC option symbols, one class per symbol, ...) are the database's
    (core.import_problems, sql/routines/30_portfolio_import.sql): with ``conn`` its problems
    are reported with their line and field, with those of the file."""
    if isinstance(source, bytes):
        return _parse_records(io.BytesIO(source), name or "<data>", on, conn)
    path = Path(source)
    label = name or str(path)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise FolioError(f"cannot read {path}: {exc.strerror}") from exc
    with stream:
        return _parse_records(stream, label, on, conn)


# "line 4 (quantity): ..." as core.import_problems words a problem
_PROBLEM = re.compile(r"^(line|position) ([0-9]+) \(([^)]*)\): (.*)$", re.DOTALL)


def database_issues(
    conn: psycopg.Connection,
    records: list[dict[str, Any]],
    absent: frozenset[str] = frozenset(),
    chunk: int = WRITE_CHUNK,
) -> list[Issue]:
    """The problems core.import_problems finds in positions given as text (each with its
    ``line``), as Issues; none for the columns the header lacks (reported there)."""
    issues = []
    for start in range(0, len(records), chunk):
        found = conn.execute(
            "select core.import_problems(%s)", [Jsonb(records[start : start + chunk])]
        ).fetchone()
        for text in found[0] if found else []:
            match = _PROBLEM.match(text)
            if match is None:  # pragma: no cover - every record carries its line
                issues.append(Issue(None, None, text))
            elif match.group(3) not in absent:
                line = int(match.group(2)) if match.group(1) == "line" else None
                issues.append(Issue(line, match.group(3), match.group(4)))
    return issues


def _parse_records(
    stream: BinaryIO, label: str, on: dt.date | None, conn: psycopg.Connection | None = None
) -> list[PositionRow]:
    records = iter_csv_records(stream, label)
    expected = ",".join(COLUMNS)
    first = next(records, None)
    if first is None:
        raise ValidationError(
            label, [Issue(1, None, f"the file is empty: expected a header line {expected}")]
        )
    header_line, header = first
    mapping, header_issues = map_header(header, header_line, COLUMNS, REQUIRED)
    issues = Issues()
    issues.extend(header_issues)
    absent = frozenset(c for c in REQUIRED if c not in mapping)
    rows: list[PositionRow] = []
    texts: list[dict[str, Any]] = []  # each readable record as text, for the database's check
    reported: set[tuple[int | None, str | None]] = set()
    any_record = False
    for line, record in records:
        any_record = True
        if len(record) > len(header) and any(v.strip() for v in record[len(header) :]):
            issues.append(
                Issue(
                    line,
                    None,
                    f"{len(record)} fields but the header has {len(header)} (a value with a "
                    'comma needs quotes: "1,355")',
                )
            )
            continue
        values = {col: record[idx] if idx < len(record) else "" for col, idx in mapping.items()}
        odd = control_character_issues(line, values, free_text=frozenset({"notes"}))
        if odd:
            issues.extend(odd)
            continue
        row, row_issues = validate_position(values, line, on, absent)
        issues.extend(row_issues)
        reported.update((issue.line, issue.field) for issue in row_issues)
        if conn is not None:
            texts.append({"line": line, **values})
        if row:
            rows.append(row)
    if not any_record:
        issues.append(
            Issue(header_line, None, "no positions: the file has a header but no data rows")
        )
    if conn is not None and texts:
        issues.extend(
            issue
            for issue in database_issues(conn, texts, absent)
            if (issue.line, issue.field) not in reported
        )
    if issues:
        raise issues.error(label)
    return rows


# ---------------------------------------------------------------------------- import


@dataclass
class ImportResult:
    """What `folio portfolio import` reports; mirrors the ops.runs row of the import."""

    run_id: int
    status: str
    portfolio_id: int | None
    positions: int
    symbols_ingested: list[str] = field(default_factory=list)
    symbols_failed: list[str] = field(default_factory=list)
    refresh: dict[str, Any] | None = None
    message: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _db_error(exc: psycopg.Error) -> FolioError:
    """A refusal by the database as an error a person can act on."""
    primary = exc.diag.message_primary if exc.diag else None
    return FolioError(primary or str(exc).strip())


def write_portfolio(
    conn: psycopg.Connection,
    email: str,
    name: str,
    is_public: bool,
    rows: list[PositionRow],
    chunk: int = WRITE_CHUNK,
) -> tuple[int, int]:
    """Write a validated portfolio through core.import_portfolio (the first ``chunk``
    positions) and core.add_positions (the rest, ``chunk`` at a time), in the caller's
    transaction: all or nothing, and no statement carries more than ``chunk`` positions.
    Returns (portfolio_id, statements)."""
    found = conn.execute(
        "select core.import_portfolio(%s, %s, %s, %s)",
        [email, name, is_public, Jsonb([r.as_json() for r in rows[:chunk]])],
    ).fetchone()
    assert found is not None
    portfolio_id, statements = found[0], 1
    for start in range(chunk, len(rows), chunk):
        conn.execute(
            "select core.add_positions(%s, %s)",
            [portfolio_id, Jsonb([r.as_json() for r in rows[start : start + chunk]])],
        )
        statements += 1
    return portfolio_id, statements


def portfolio_exists(conn: psycopg.Connection, email: str, name: str) -> int | None:
    row = conn.execute(
        "select p.portfolio_id from core.portfolios as p"
        " inner join core.users as u using (user_id)"
        " where lower(u.email) = lower(%s) and p.name = %s",
        [email.strip(), name.strip()],
    ).fetchone()
    return row[0] if row else None


def user_id_of(conn: psycopg.Connection, email: str) -> int | None:
    """The foliodb user with this email (case-insensitive), if there is one."""
    row = conn.execute(
        "select user_id from core.users where lower(email) = lower(%s)", [email.strip()]
    ).fetchone()
    return row[0] if row else None


def start_run(conn: psycopg.Connection, kind: str, target: str, details: dict[str, Any]) -> int:
    """Open a run in the ledger (ops.open_run)."""
    row = conn.execute("select ops.open_run(%s, %s, %s)", [kind, target, Jsonb(details)]).fetchone()
    assert row is not None
    return row[0]


def finish_run(
    conn: psycopg.Connection,
    run_id: int,
    status: str,
    *,
    message: str | None = None,
    error: str | None = None,
    rows: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """End a run (ops.end_run)."""
    conn.execute(
        "select ops.end_run(%s, %s, %s, %s, %s, %s)",
        [run_id, status, message, error, rows, Jsonb(details or {})],
    )


def heartbeat(conn: psycopg.Connection, run_id: int, details: dict[str, Any]) -> None:
    conn.execute("select ops.run_heartbeat(%s, p_details => %s)", [run_id, Jsonb(details)])


def import_portfolio(
    conn: psycopg.Connection,
    source: str | Path | bytes,
    email: str,
    name: str,
    *,
    is_public: bool = False,
    backfill: bool = True,
    price_source: str = "yfinance",
    url: str | None = None,
    refresh_wait: float | None = None,
    fetch_prices: PriceFetch | None = None,
) -> ImportResult:
    """Validate a portfolio file, write it in one transaction, then backfill its history.

    File problems raise ValidationError before anything is written. After validation an
    ops.runs row (kind 'import') records the import, never left 'running':

    - 'succeeded': written and refreshed (symbols whose prices could not be fetched are
      listed; they are valued by the fallback rule);
    - 'partial': written, but its refresh is pending (another refresh was still running after
      ``refresh_wait`` seconds: the message names it and the portfolio is queued) or failed
      (ImportIncomplete is raised, carrying the result);
    - 'failed': nothing written, with the reason.

    details.refresh says done / pending / failed. The row is written by a ledger connection
    held open for the whole import: its backend_pid is what the reaper checks, so a killed
    import is reaped ('partial' once the portfolio was written) and a live one is not. Importing
    the same positions under the same name again resumes a written import (no second write:
    prices and the refresh again); different positions are refused, naming the earlier import.

    ``conn``: the caller's connection, in autocommit (the ledger row commits at once), as the
    operator's refresh role (the CLI's): the ledger, the lookups and the backfill's reads run
    on it, and the write as the app writer acting for the owner (:func:`foliodb.db.acting_as`,
    transaction-local: ``conn`` comes back with its role and acting user unchanged). ``url``
    is for the sessions that must be new: the price fetcher's own (``fetch_prices``, as
    folio_ingest), the refresh client's (it reconnects after a server restart), and a fresh
    one to close the ledger row when ``conn`` was lost.
    """
    if not conn.autocommit:
        raise ValueError("import_portfolio needs an autocommit connection: its run row commits")
    ledger = conn
    t0 = time.perf_counter()
    label = "<data>" if isinstance(source, bytes) else str(source)
    email, name = email.strip(), name.strip()
    if not name:
        raise BadArgument("the portfolio name must not be blank", param_hint="--name")
    # the ledger and the lookups as the caller's role (ops.runs, core); the write as the app
    # writer, acting for the owner when the owner exists
    rows = parse_portfolio_csv(source, label, conn=ledger)
    timings = {"validate": _ms(t0)}
    positions_json = [r.as_json() for r in rows]
    fingerprint = positions_fingerprint(positions_json, is_public)
    existing = portfolio_exists(ledger, email, name)
    owner_id = user_id_of(ledger, email)
    resumed_from: int | None = None
    if existing is not None:
        # A retry of an import that was written (its refresh skipped, failed or killed):
        # the same positions again resume it; anything else is refused, saying why.
        previous = previous_import(ledger, existing)
        if (
            previous is None
            or previous["fingerprint"] != fingerprint
            or previous["status"] == "succeeded"
        ):
            raise FolioError(_exists_message(email, name, existing, previous, fingerprint))
        resumed_from = previous["run_id"]
    run_id = start_run(
        ledger,
        "import",
        f"{email}/{name}",
        {
            "file": label,
            "positions": len(rows),
            "fingerprint": fingerprint,
            "resumed_from": resumed_from,
        },
    )
    result = ImportResult(
        run_id=run_id, status="running", portfolio_id=existing, positions=len(rows)
    )
    try:
        t1 = time.perf_counter()
        if existing is None:
            try:
                with acting_as(ledger, WRITER, owner_id):
                    result.portfolio_id, _ = write_portfolio(ledger, email, name, is_public, rows)
            except psycopg.Error as exc:
                raise _db_error(exc) from exc
        timings["write"] = _ms(t1)
        heartbeat(ledger, run_id, {"portfolio_id": result.portfolio_id, "refresh": "pending"})
        if backfill:
            outcome = backfill_portfolio(
                ledger,
                result.portfolio_id,
                price_source,
                url=url,
                on_progress=lambda d: heartbeat(ledger, run_id, d),
                refresh_wait=refresh_wait,
                fetch_prices=fetch_prices,
            )
            result.symbols_ingested = outcome["symbols_ingested"]
            result.symbols_failed = outcome["symbols_failed"]
            result.refresh = outcome["refresh"]
            timings.update(outcome["timings_ms"])
        timings["total"] = _ms(t0)
        result.timings_ms = timings
        state = refresh_state(result.refresh) if backfill else "pending"
        result.message = _summary(result, backfill, resumed_from)
        # written and refreshed: succeeded; written, refresh pending or failed: partial
        result.status = "succeeded" if state == "done" or not backfill else "partial"
        finish_run(
            ledger,
            run_id,
            result.status,
            message=result.message,
            error=_refresh_error(result.refresh) if state == "failed" else None,
            rows=len(rows),
            details={**_run_details(result), "refresh": state},
        )
    except BaseException as exc:
        reason = str(exc) or type(exc).__name__
        details = _run_details(result)
        if result.portfolio_id is not None:
            # Written: the record says so, and what became of its refresh.
            result.status = "partial"
            details["refresh"] = "failed"
            result.message = (
                f"portfolio {result.portfolio_id} written; its refresh failed: {reason}"
                " (the next refresh values it; importing the same file again resumes)"
            )
            _record_failure(
                ledger, url, run_id, reason, details, status="partial", message=result.message
            )
        else:
            result.status = "failed"
            _record_failure(ledger, url, run_id, reason, details)
        if isinstance(exc, psycopg.Error):
            raise _db_error(exc) from exc
        raise
    if result.status == "partial" and refresh_state(result.refresh) == "failed":
        raise ImportIncomplete(result.message, result)
    return result


class ImportIncomplete(FolioError):
    """The portfolio was written but its refresh failed; carries the import's result."""

    def __init__(self, message: str, result: ImportResult):
        super().__init__(message)
        self.result = result


def positions_fingerprint(positions: list[dict[str, Any]], is_public: bool) -> str:
    """What a retry must repeat to resume an import: the positions and the visibility."""
    import hashlib

    text = json.dumps({"positions": positions, "is_public": is_public}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def previous_import(conn: psycopg.Connection, portfolio_id: int) -> dict[str, Any] | None:
    """The import run that wrote a portfolio (the newest one naming it)."""
    row = conn.execute(
        "select run_id, status::text, message, error, details ->> 'fingerprint',"
        " details ->> 'refresh'"
        " from ops.runs where kind = 'import' and details ->> 'portfolio_id' = %s"
        " order by run_id desc limit 1",
        [str(portfolio_id)],
    ).fetchone()
    if row is None:
        return None
    keys = ("run_id", "status", "message", "error", "fingerprint", "refresh")
    return dict(zip(keys, row, strict=True))


def _exists_message(
    email: str,
    name: str,
    portfolio_id: int,
    previous: dict[str, Any] | None,
    fingerprint: str,
) -> str:
    text = f"{email} already has a portfolio named {name!r} (portfolio_id {portfolio_id}"
    if previous is None:
        text += ", not written by an import"
    else:
        text += (
            f", written by import run {previous['run_id']}, {previous['status']}; refresh "
            f"{previous['refresh'] or 'unknown'}; "
            + (
                "its positions differ from this file's"
                if previous["fingerprint"] != fingerprint
                else "this file is already imported"
            )
        )
    return text + "); choose another --name or delete that one first"


def refresh_state(refresh: dict[str, Any] | None) -> str:
    """done, pending (skipped: queued for the next refresh) or failed."""
    status = (refresh or {}).get("status")
    if status == "succeeded":
        return "done"
    if status in ("skipped", "running", None):
        return "pending"
    return "failed"


def _refresh_error(refresh: dict[str, Any] | None) -> str:
    refresh = refresh or {}
    return f"refresh run {refresh.get('run_id')}: {refresh.get('error') or refresh.get('message')}"


def _record_failure(
    ledger: psycopg.Connection,
    url: str | None,
    run_id: int,
    reason: str,
    details: dict,
    status: str = "failed",
    message: str | None = None,
) -> None:
    """Close the run (failed, or partial once written): on the ledger connection, else on a
    fresh one (``url``: a new session is the point, the ledger's may be gone)."""
    try:
        finish_run(ledger, run_id, status, error=reason, message=message, details=details)
        return
    except Exception:
        log.warning("ledger connection lost; recording the failure of run %s afresh", run_id)
    try:
        with connect(url, role=REFRESH, autocommit=True) as conn:
            finish_run(conn, run_id, status, error=reason, message=message, details=details)
    except Exception:  # the reaper closes it later (its backend is gone)
        log.exception("could not record the failure of import run %s", run_id)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


def _run_details(result: ImportResult) -> dict[str, Any]:
    return {
        "portfolio_id": result.portfolio_id,
        "symbols_ingested": result.symbols_ingested,
        "symbols_failed": result.symbols_failed,
        "refresh_run_id": (result.refresh or {}).get("run_id"),
        "timings_ms": result.timings_ms,
    }


def _summary(result: ImportResult, backfill: bool, resumed_from: int | None = None) -> str:
    parts = [f"portfolio {result.portfolio_id}: {result.positions} positions imported"]
    if resumed_from is not None:
        parts[0] = (
            f"portfolio {result.portfolio_id}: {result.positions} positions, written by import"
            f" run {resumed_from}; resumed"
        )
    if not backfill:
        parts.append("no backfill (the next refresh values it)")
    if result.symbols_failed:
        parts.append(
            "no prices for " + ", ".join(result.symbols_failed) + " (valued by the fallback rule)"
        )
    refresh = result.refresh
    if refresh:
        state = refresh_state(refresh)
        if state == "done":
            parts.append(f"refreshed (run {refresh.get('run_id')})")
        elif state == "pending":
            parts.append(
                f"refresh pending: {refresh.get('message') or refresh.get('status')}"
                f" (run {refresh.get('run_id')}); queued, the next refresh values it"
            )
        else:
            parts.append(f"refresh failed: {_refresh_error(refresh)}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------- backfill


def symbols_needing_prices(
    conn: psycopg.Connection, portfolio_id: int
) -> list[tuple[str, dt.date]]:
    """Priced symbols of a portfolio (ops.symbols_needed: PUBLIC ones, option underlyings,
    its benchmark) whose history does not reach back to their first entry: (symbol, first
    entry date)."""
    rows = conn.execute(
        """
        with needed as (
            select symbols_needed.symbol, min(symbols_needed.needed_from) as from_date
            from ops.symbols_needed(%(pid)s) as symbols_needed
            where symbols_needed.reason in ('held', 'underlying', 'benchmark')
                and symbols_needed.needed_from is not null
            group by symbols_needed.symbol
        )

        select needed.symbol, needed.from_date
        from needed
        inner join market.symbols as symbols using (symbol)
        where symbols.kind not in ('private', 'option')
            and coalesce(
                (select min(prices.price_date) from market.prices as prices
                 where prices.symbol = needed.symbol),
                'infinity'::date
            ) > needed.from_date + 7
        order by needed.symbol
        """,
        {"pid": portfolio_id},
    ).fetchall()
    return [(symbol, from_date) for symbol, from_date in rows]


def _priced(conn: psycopg.Connection, symbols: list[str]) -> set[str]:
    rows = conn.execute(
        "select distinct symbol from market.prices where symbol = any(%s)", [symbols]
    ).fetchall()
    return {r[0] for r in rows}


# How an import fetches the prices its symbols lack: ``ingest.prices.fetch_for_import`` (called
# with url, source and symbols: it opens its own session as folio_ingest), passed in by the
# caller (cli, demo, bench), since foliodb never imports ingest (cli → ingest → foliodb).
PriceFetch = Callable[..., Any]


def ingest_missing(
    conn: psycopg.Connection,
    symbols: list[tuple[str, dt.date]],
    price_source: str,
    url: str | None,
    fetch_prices: PriceFetch | None = None,
) -> tuple[list[str], list[str], str | None]:
    """Fetch prices with ``fetch_prices`` (its own session, on ``url``); (ingested, failed,
    note). A symbol failed when it still has no prices afterwards (read on ``conn``), whatever
    the fetcher said."""
    if not symbols:
        return [], [], None
    names = [s for s, _ in symbols]
    if fetch_prices is None:
        return [], names, "no price fetcher was given: prices were not fetched"
    note = None
    try:
        fetch_prices(url=url, source=price_source, symbols=names)
    except Exception as exc:  # one bad symbol must not fail the import
        note = f"ingest failed: {exc}"
        # a provider that cannot be reached fails every symbol alike: say so once (cli)
        unreachable = type(exc).__name__ == "ProviderUnreachable"
        if not unreachable:
            log.warning(
                "price ingest for %d symbols failed (%s); retrying one by one", len(names), exc
            )
        for name in [] if unreachable else names:
            try:
                fetch_prices(url=url, source=price_source, symbols=[name])
            except Exception as one_exc:
                log.warning("no prices for %s: %s", name, one_exc)
    priced = _priced(conn, names)
    return [n for n in names if n in priced], [n for n in names if n not in priced], note


# How long an import waits for a refresh that is running before it says it is queued (s).
REFRESH_WAIT = 300.0


def refresh_wait_default() -> float:
    text = os.environ.get("FOLIO_IMPORT_REFRESH_WAIT")
    return float(text) if text else REFRESH_WAIT


def _running_refresh(conn: psycopg.Connection) -> int | None:
    row = conn.execute(
        "select max(run_id) from ops.runs where kind = 'refresh' and status = 'running'"
    ).fetchone()
    return row[0] if row else None


def run_portfolio_refresh(
    conn: psycopg.Connection, portfolio_id: int, url: str | None = None, wait: float | None = None
) -> dict[str, Any] | None:
    """Refresh one portfolio now, by the refresh client (:func:`foliodb.refresh.run_refresh`,
    its own session on ``url``: it reconnects after a server restart).

    Skipped because another refresh runs: wait for it (polling on ``conn``, autocommit, at
    most ``wait`` seconds) and try again; still skipped, the run returned says so (the
    portfolio stays queued).
    """
    wait = refresh_wait_default() if wait is None else wait
    deadline = time.monotonic() + wait
    while True:
        outcome = run_refresh(url=url, portfolio_id=portfolio_id)
        outcome = dict(outcome) if isinstance(outcome, Mapping) else {"result": outcome}
        if outcome.get("status") != "skipped":
            return outcome
        while _running_refresh(conn) is not None and time.monotonic() < deadline:
            time.sleep(0.25)
        if time.monotonic() >= deadline:
            return outcome


def backfill_portfolio(
    conn: psycopg.Connection,
    portfolio_id: int,
    price_source: str = "yfinance",
    url: str | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    refresh_wait: float | None = None,
    fetch_prices: PriceFetch | None = None,
) -> dict[str, Any]:
    """Prices for the symbols that lack them, then a refresh of that portfolio alone (its
    run returned as is: succeeded, skipped or failed). Reads on ``conn`` (autocommit); the
    fetcher and the refresh client open their own sessions on ``url``."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    missing = symbols_needing_prices(conn, portfolio_id)
    ingested, failed, note = ingest_missing(conn, missing, price_source, url, fetch_prices)
    timings["ingest"] = _ms(t0)
    if note:
        log.warning(note)
    if on_progress is not None:
        on_progress({"symbols_ingested": ingested, "symbols_failed": failed})
    t1 = time.perf_counter()
    wait = {} if refresh_wait is None else {"wait": refresh_wait}
    refresh = run_portfolio_refresh(conn, portfolio_id, url, **wait)
    timings["refresh"] = _ms(t1)
    return {
        "symbols_ingested": ingested,
        "symbols_failed": failed,
        "refresh": refresh,
        "timings_ms": timings,
    }


# ---------------------------------------------------------------------------- export


def resolve_portfolio(
    conn: psycopg.Connection, portfolio: str | int, email: str | None = None
) -> int:
    """A portfolio by id, or by name (with the owner's email when names collide)."""
    text = str(portfolio).strip()
    if text.isdigit():
        row = conn.execute(
            "select portfolio_id from core.portfolios where portfolio_id = %s", [int(text)]
        ).fetchone()
        if row is None:
            raise FolioError(f"no portfolio with id {text}")
        return row[0]
    found = conn.execute(
        "select p.portfolio_id, u.email from core.portfolios as p"
        " inner join core.users as u using (user_id)"
        " where p.name = %s and (%s::text is null or lower(u.email) = lower(%s))"
        " order by p.portfolio_id",
        [text, email, email],
    ).fetchall()
    if not found:
        owner = f" of {email}" if email else ""
        raise FolioError(f"no portfolio named {text!r}{owner}")
    if len(found) > 1:
        owners = ", ".join(f"{pid} ({mail})" for pid, mail in found)
        raise FolioError(f"several portfolios are named {text!r}: {owners}; give the id or --user")
    return found[0][0]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def export_portfolio(
    conn: psycopg.Connection, portfolio: str | int, email: str | None = None
) -> str:
    """The portfolio's live positions (soft-deleted ones left out) in the import format, read
    on ``conn``."""
    pid = resolve_portfolio(conn, portfolio, email)
    rows = conn.execute(
        "select symbol, quantity, entry_date, entry_price, investment_class::text,"
        " exit_date, exit_price, notes"
        " from core.positions where portfolio_id = %s and deleted_at is null"
        " order by position_id",
        [pid],
    ).fetchall()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_fmt(v) for v in row])
    return buffer.getvalue()
