"""Portfolio CSV files: parse and validate, import (with the instant backfill), export.

The format (one position per line; header names are case-insensitive)::

    symbol,quantity,entry_date,entry_price,investment_class,exit_date,exit_price,notes
    VUG,"2,031",2025-01-06,492.16,PUBLIC,,,
    AAPL240119C00150000,2,2023-11-01,4.10,OPTIONS,,,covered
    ACME-SEED,1,2024-03-01,250000,PRIVATE,,,SAFE note

symbol, quantity, entry_date and entry_price are required; investment_class defaults to
PUBLIC. The whole file is validated before anything is written and every problem is reported
with its line and field; any problem means nothing is written. The write goes through the
database function ``core.import_portfolio`` (sql/routines/30_portfolio_import.sql), which
validates the same rules again, in one transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from foliodb import occ
from foliodb.db import connect
from foliodb.errors import FolioError

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
SYMBOL_FORMAT = re.compile(r"^[A-Z0-9^][A-Z0-9._=^/-]{0,31}$")
NUMBER = re.compile(r"^[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?$|^[+-]?\.[0-9]+$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MAX_SHOWN = 50  # problems printed in one error message


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
    """An input file with problems; nothing was written."""

    def __init__(self, source: str, issues: list[Issue]):
        self.source = source
        self.issues = issues
        n = len(issues)
        lines = [f"  {issue}" for issue in issues[:MAX_SHOWN]]
        if n > MAX_SHOWN:
            lines.append(f"  … and {n - MAX_SHOWN} more")
        plural = "s" if n > 1 else ""
        super().__init__(f"{source}: {n} problem{plural}, nothing written:\n" + "\n".join(lines))


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
    contract: occ.OccContract | None = None

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
    """The database's current_date (its time zone is UTC)."""
    return dt.datetime.now(dt.UTC).date()


# ---------------------------------------------------------------------------- reading files


def read_csv_records(data: bytes, source: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank record; a BOM is dropped, UTF-8 required."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(
            source,
            [
                Issue(
                    line,
                    None,
                    f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as CSV UTF-8",
                )
            ],
        ) from exc
    # skipinitialspace: `VUG, "1,355"` is a quoted value after a space, as spreadsheets write it.
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    records: list[tuple[int, list[str]]] = []
    previous_end = 0
    try:
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if all(not value.strip() for value in record):
                continue  # blank line, or a line of empty fields
            records.append((start, record))
    except csv.Error as exc:
        raise ValidationError(
            source, [Issue(reader.line_num, None, f"unreadable CSV: {exc}")]
        ) from exc
    return records


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
                f"the header is one column {header[0].strip()!r}: separate fields with commas, "
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
                    f"duplicate column: {name!r} is both column {mapping[name] + 1} and "
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
                    f"unknown column {raw.strip()!r}{did_you_mean} (expected {', '.join(columns)})",
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


def parse_number(text: str) -> Decimal | None:
    """'1,355' → 1355, '-.5' → -0.5; None when it is not a plain number."""
    text = text.strip()
    if not NUMBER.match(text):
        return None
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None


def parse_date(text: str) -> dt.date | None:
    text = text.strip()
    if not ISO_DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _number_problem(text: str, example: str) -> str:
    if re.match(r"^[+-]?[0-9]+(,[0-9]+)+(\.[0-9]+)?$", text):
        return (
            f"{text!r} is not a number: commas must separate groups of three digits "
            f"(1,355), and '.' marks decimals"
        )
    return f"{text!r} is not a number (expected e.g. {example})"


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
                name, f"{text!r} is not an ISO date (expected YYYY-MM-DD, e.g. 2025-01-06)"
            )
        elif value > on:
            self.problem(name, f"{value} is in the future (today is {on})")
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

    class_text = row.text("investment_class").upper()
    investment_class: str | None = class_text or "PUBLIC"
    if investment_class not in CLASSES:
        hint = suggest(class_text, CLASSES)
        did_you_mean = f"; did you mean {hint}?" if hint else ""
        row.problem(
            "investment_class",
            f"{class_text!r} is not an investment class (expected PUBLIC, OPTIONS or "
            f"PRIVATE){did_you_mean}",
        )
        investment_class = None

    symbol = row.text("symbol").upper()
    contract: occ.OccContract | None = None
    if not symbol:
        row.problem("symbol", "required: a ticker, an OCC option symbol or a private asset id")
    elif investment_class == "OPTIONS":
        try:
            contract = occ.parse(symbol)
            symbol = contract.symbol
        except occ.OccError as exc:
            row.problem("symbol", str(exc))
    elif not SYMBOL_FORMAT.match(symbol):
        row.problem(
            "symbol",
            f"{symbol!r} is not a valid symbol (letters, digits and . _ = ^ / -, at most 32 "
            "characters)",
        )
    elif investment_class == "PUBLIC" and occ.looks_like_occ(symbol):
        row.problem(
            "symbol", f"{symbol!r} is an OCC option symbol: set investment_class to OPTIONS"
        )

    quantity = row.number("quantity", True, "1,355 or 12.5")
    if quantity is not None:
        if quantity == 0:
            row.problem("quantity", "must not be zero")
        elif quantity < 0 and investment_class != "OPTIONS":
            row.problem(
                "quantity", f"{quantity} must be positive (only OPTIONS positions can be short)"
            )

    entry_date = row.date("entry_date", True, on)
    if entry_date and contract and entry_date > contract.expiry_date:
        row.problem(
            "entry_date", f"{entry_date} is after the option's expiry {contract.expiry_date}"
        )

    entry_price = row.number("entry_price", True, "91.44")
    if entry_price is not None and entry_price <= 0:
        row.problem(
            "entry_price", "must not be negative" if entry_price < 0 else "must be greater than 0"
        )

    exit_date = row.date("exit_date", False, on)
    if exit_date and entry_date and exit_date <= entry_date:
        row.problem("exit_date", f"{exit_date} is not after entry_date {entry_date}")
    exit_price = row.number("exit_price", False, "101.50")
    if exit_price is not None:
        if exit_price <= 0:
            row.problem(
                "exit_price", "must not be negative" if exit_price < 0 else "must be greater than 0"
            )
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
            contract=contract,
        ),
        [],
    )


def parse_portfolio_csv(
    source: str | Path | bytes, name: str | None = None, on: dt.date | None = None
) -> list[PositionRow]:
    """Validate a whole portfolio file; raise ValidationError listing every problem."""
    if isinstance(source, bytes):
        data, label = source, name or "<data>"
    else:
        path = Path(source)
        label = name or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FolioError(f"cannot read {path}: {exc.strerror}") from exc
    records = read_csv_records(data, label)
    expected = ",".join(COLUMNS)
    if not records:
        raise ValidationError(
            label, [Issue(1, None, f"the file is empty: expected a header line {expected}")]
        )
    header_line, header = records[0]
    mapping, issues = map_header(header, header_line, COLUMNS, REQUIRED)
    absent = frozenset(c for c in REQUIRED if c not in mapping)
    if len(records) == 1:
        issues.append(
            Issue(header_line, None, "no positions: the file has a header but no data rows")
        )
    rows: list[PositionRow] = []
    for line, record in records[1:]:
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
        row, row_issues = validate_position(values, line, on, absent)
        issues += row_issues
        if row:
            rows.append(row)
    issues += _cross_row_issues(rows)
    if issues:
        raise ValidationError(label, sorted(issues, key=lambda i: i.line or 0))
    return rows


def _cross_row_issues(rows: list[PositionRow]) -> list[Issue]:
    """A symbol has one investment class within a portfolio."""
    first: dict[str, PositionRow] = {}
    issues = []
    for row in rows:
        seen = first.setdefault(row.symbol, row)
        if seen.investment_class != row.investment_class:
            issues.append(
                Issue(
                    row.line,
                    "symbol",
                    f"{row.symbol!r} is {seen.investment_class} on line {seen.line} and "
                    f"{row.investment_class} here; one symbol has one investment class",
                )
            )
    return issues


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


def portfolio_exists(conn: psycopg.Connection, email: str, name: str) -> int | None:
    row = conn.execute(
        "select p.portfolio_id from core.portfolios as p"
        " inner join core.users as u using (user_id)"
        " where lower(u.email) = lower(%s) and p.name = %s",
        [email.strip(), name.strip()],
    ).fetchone()
    return row[0] if row else None


def start_run(conn: psycopg.Connection, kind: str, target: str, details: dict[str, Any]) -> int:
    row = conn.execute(
        "insert into ops.runs (kind, target, details) values (%s, %s, %s) returning run_id",
        [kind, target, Jsonb(details)],
    ).fetchone()
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
    conn.execute(
        "update ops.runs set status = %s, finished_at = clock_timestamp(),"
        " heartbeat_at = clock_timestamp(), message = %s, error = %s,"
        " rows = coalesce(%s, rows), details = details || %s"
        " where run_id = %s",
        [status, message, error, rows, Jsonb(details or {}), run_id],
    )


def heartbeat(conn: psycopg.Connection, run_id: int, details: dict[str, Any]) -> None:
    conn.execute(
        "update ops.runs set heartbeat_at = clock_timestamp(), details = details || %s"
        " where run_id = %s",
        [Jsonb(details), run_id],
    )


def import_portfolio(
    source: str | Path | bytes,
    email: str,
    name: str,
    *,
    is_public: bool = False,
    backfill: bool = True,
    price_source: str = "yfinance",
    url: str | None = None,
) -> ImportResult:
    """Validate a portfolio file, write it in one transaction, then backfill its history.

    File problems raise ValidationError before anything is written. After validation an
    ops.runs row (kind 'import') records the import; it ends 'succeeded' (symbols whose prices
    could not be fetched are listed; they are valued by the fallback rule) or 'failed' with
    the reason, never 'running'. The row is written by a ledger connection held open for the
    whole import: its backend_pid is what the reaper checks, so a killed import is reaped to
    'failed' and a live one is not.
    """
    t0 = time.perf_counter()
    label = "<data>" if isinstance(source, bytes) else str(source)
    rows = parse_portfolio_csv(source, label)
    timings = {"validate": _ms(t0)}
    email, name = email.strip(), name.strip()
    if not name:
        raise FolioError("the portfolio name must not be blank")
    with connect(url, autocommit=True) as ledger:
        existing = portfolio_exists(ledger, email, name)
        if existing is not None:
            raise FolioError(
                f"{email} already has a portfolio named {name!r} (portfolio_id {existing}); "
                "choose another --name or delete that one first"
            )
        run_id = start_run(
            ledger, "import", f"{email}/{name}", {"file": label, "positions": len(rows)}
        )
        result = ImportResult(
            run_id=run_id, status="running", portfolio_id=None, positions=len(rows)
        )
        try:
            t1 = time.perf_counter()
            with connect(url) as conn:
                try:
                    found = conn.execute(
                        "select core.import_portfolio(%s, %s, %s, %s)",
                        [email, name, is_public, Jsonb([r.as_json() for r in rows])],
                    ).fetchone()
                except psycopg.Error as exc:
                    raise _db_error(exc) from exc
            assert found is not None
            result.portfolio_id = found[0]
            timings["write"] = _ms(t1)
            heartbeat(ledger, run_id, {"portfolio_id": result.portfolio_id})
            if backfill:
                outcome = backfill_portfolio(
                    result.portfolio_id,
                    price_source,
                    url=url,
                    on_progress=lambda d: heartbeat(ledger, run_id, d),
                )
                result.symbols_ingested = outcome["symbols_ingested"]
                result.symbols_failed = outcome["symbols_failed"]
                result.refresh = outcome["refresh"]
                timings.update(outcome["timings_ms"])
            timings["total"] = _ms(t0)
            result.timings_ms = timings
            result.message = _summary(result, backfill)
            result.status = "succeeded"
            finish_run(
                ledger,
                run_id,
                "succeeded",
                message=result.message,
                rows=len(rows),
                details=_run_details(result),
            )
        except BaseException as exc:
            result.status = "failed"
            reason = str(exc) or type(exc).__name__
            _record_failure(ledger, url, run_id, reason, _run_details(result))
            if isinstance(exc, psycopg.Error):
                raise _db_error(exc) from exc
            raise
    return result


def _record_failure(
    ledger: psycopg.Connection, url: str | None, run_id: int, reason: str, details: dict
) -> None:
    """Close the run as failed: on the ledger connection, else on a fresh one."""
    try:
        finish_run(ledger, run_id, "failed", error=reason, details=details)
        return
    except Exception:
        log.warning("ledger connection lost; recording the failure of run %s afresh", run_id)
    try:
        with connect(url, autocommit=True) as conn:
            finish_run(conn, run_id, "failed", error=reason, details=details)
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


def _summary(result: ImportResult, backfill: bool) -> str:
    parts = [f"portfolio {result.portfolio_id}: {result.positions} positions imported"]
    if not backfill:
        parts.append("no backfill (the next refresh values it)")
    if result.symbols_failed:
        parts.append(
            "no prices for " + ", ".join(result.symbols_failed) + " (valued by the fallback rule)"
        )
    if result.refresh:
        parts.append(f"refresh {result.refresh.get('status', '?')}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------- backfill


def symbols_needing_prices(
    conn: psycopg.Connection, portfolio_id: int
) -> list[tuple[str, dt.date]]:
    """Priced symbols of a portfolio (PUBLIC ones, option underlyings, its benchmark) whose
    history does not reach back to their first entry: (symbol, first entry date)."""
    rows = conn.execute(
        """
        with needed as (
            select positions.symbol, min(positions.entry_date) as from_date
            from core.positions as positions
            where positions.portfolio_id = %(pid)s
                and positions.deleted_at is null
                and positions.investment_class = 'PUBLIC'
            group by positions.symbol
            union all
            select contracts.underlying, min(positions.entry_date)
            from core.positions as positions
            inner join market.option_contracts as contracts using (symbol)
            where positions.portfolio_id = %(pid)s
                and positions.deleted_at is null
            group by contracts.underlying
            union all
            -- the benchmark, measured over the same days
            select portfolios.benchmark_symbol, min(positions.entry_date)
            from core.portfolios as portfolios
            inner join core.positions as positions using (portfolio_id)
            where portfolios.portfolio_id = %(pid)s
                and positions.deleted_at is null
            group by portfolios.benchmark_symbol
        )

        select needed.symbol, min(needed.from_date) as from_date
        from needed
        inner join market.symbols as symbols using (symbol)
        where symbols.kind not in ('private', 'option')
        group by needed.symbol
        having coalesce(
            (select min(prices.price_date) from market.prices as prices
             where prices.symbol = needed.symbol),
            'infinity'::date
        ) > min(needed.from_date) + 7
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


def ingest_missing(
    symbols: list[tuple[str, dt.date]], price_source: str, url: str | None
) -> tuple[list[str], list[str], str | None]:
    """Ingest through ingest.prices; (ingested, failed, note). A symbol failed when it still
    has no prices afterwards, whatever the ingester said."""
    if not symbols:
        return [], [], None
    names = [s for s, _ in symbols]
    try:
        from ingest.prices import ingest_prices
    except ImportError:
        return [], names, "the price ingester (ingest.prices) is not installed"
    start = min(d for _, d in symbols)
    note = None
    try:
        _call_ingest(ingest_prices, url, price_source, names, start)
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
                _call_ingest(ingest_prices, url, price_source, [name], start)
            except Exception as one_exc:
                log.warning("no prices for %s: %s", name, one_exc)
    with connect(url) as conn:
        priced = _priced(conn, names)
    return [n for n in names if n in priced], [n for n in names if n not in priced], note


def _call_ingest(
    ingest_prices: Any, url: str | None, source: str, names: list[str], start: dt.date
):
    import inspect

    params = inspect.signature(ingest_prices).parameters
    kwargs: dict[str, Any] = {"url": url, "source": source, "symbols": names}
    for candidate in ("start", "start_date", "since", "from_date"):
        if candidate in params:
            kwargs[candidate] = start
            break
    return ingest_prices(**kwargs)


def run_portfolio_refresh(portfolio_id: int, url: str | None) -> dict[str, Any] | None:
    """Refresh one portfolio now (None when the refresh engine is not installed)."""
    try:
        from foliodb.refresh import run_refresh
    except ImportError:
        return None
    outcome = run_refresh(url=url, portfolio_id=portfolio_id)
    return dict(outcome) if isinstance(outcome, Mapping) else {"result": outcome}


def backfill_portfolio(
    portfolio_id: int,
    price_source: str = "yfinance",
    url: str | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Prices for the symbols that lack them, then a refresh of that portfolio alone."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with connect(url) as conn:
        missing = symbols_needing_prices(conn, portfolio_id)
    ingested, failed, note = ingest_missing(missing, price_source, url)
    timings["ingest"] = _ms(t0)
    if note:
        log.warning(note)
    if on_progress is not None:
        on_progress({"symbols_ingested": ingested, "symbols_failed": failed})
    t1 = time.perf_counter()
    refresh = run_portfolio_refresh(portfolio_id, url)
    timings["refresh"] = _ms(t1)
    if refresh is not None and refresh.get("status") == "failed":
        raise FolioError(
            f"the refresh of portfolio {portfolio_id} failed (run {refresh.get('run_id')}): "
            f"{refresh.get('error') or refresh.get('message')}"
        )
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


def export_portfolio(portfolio: str | int, url: str | None = None, email: str | None = None) -> str:
    """The portfolio's live positions (soft-deleted ones left out) in the import format."""
    with connect(url) as conn:
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


def to_json(rows: list[PositionRow]) -> str:
    return json.dumps([r.as_json() for r in rows])
