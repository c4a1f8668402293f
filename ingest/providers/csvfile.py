"""Price CSV files.

Format (UTF-8, comma-separated, a header row required, columns in any order):

    symbol,date,close,adj_close,volume
    SPY,2025-01-06,595.25,590.10,47679400

- ``symbol``: the ticker (upper-cased), ``date``: ``YYYY-MM-DD`` (a trading day),
  ``close``: a finite positive number (split-adjusted close).
- Optional: ``adj_close`` (finite positive, also dividend-adjusted), ``volume`` (a whole
  number ≥ 0); an empty cell means unknown.

Every error names the file, the line, the field and what was expected; a file with any
error is not loaded at all (the calendar checks happen in the database, same rule).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ingest.load import MAX_REPORTED_ERRORS, LoadError, RowError

REQUIRED = ("symbol", "date", "close")
OPTIONAL = ("adj_close", "volume")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SYMBOL = re.compile(r"^[A-Z0-9^][A-Z0-9._=^/-]{0,31}$")

Row = tuple[int, str, dt.date, Decimal, Decimal | None, int | None]


class CsvError(LoadError):
    """A price file was refused; ``errors`` name line and field."""


def _number(text: str, positive: bool) -> Decimal:
    value = Decimal(text)  # raises InvalidOperation
    if not value.is_finite() or (positive and value <= 0):
        raise InvalidOperation
    return value


def read_prices(path: str | Path) -> list[Row]:
    """Parse and check a price file; raises :class:`CsvError` listing what is wrong."""
    path = Path(path)
    origin = str(path)
    errors: list[RowError] = []

    def refuse(line: int, field: str, message: str) -> None:
        errors.append(RowError(origin, line, field, message))

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise CsvError(origin, [RowError(origin, 0, "file", "file not found")]) from exc
    except UnicodeDecodeError as exc:
        raise CsvError(
            origin, [RowError(origin, 0, "file", f"expected UTF-8 text, got byte {exc.start}")]
        ) from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    expected_header = ",".join(REQUIRED + OPTIONAL)
    if header is None or not any(cell.strip() for cell in header):
        raise CsvError(origin, [RowError(origin, 1, "header", f"expected {expected_header}")])
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    unknown = [h for h in names if h not in REQUIRED + OPTIONAL]
    dupes = sorted({h for h in names if names.count(h) > 1})
    if missing or unknown or dupes:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown {', '.join(map(repr, unknown))}")
        if dupes:
            problems.append(f"repeated {', '.join(dupes)}")
        looks_like_data = any(DATE.match(h) for h in names)
        hint = (
            " (the first line looks like data: a header row is required)" if looks_like_data else ""
        )
        raise CsvError(
            origin,
            [
                RowError(
                    origin,
                    1,
                    "header",
                    f"expected columns {expected_header} (adj_close, volume optional); "
                    f"{'; '.join(problems)}{hint}",
                )
            ],
        )
    at = {name: names.index(name) for name in names}
    rows: list[Row] = []
    seen: dict[tuple[str, dt.date], int] = {}
    for line, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue  # blank lines are allowed
        if len(cells) != len(names):
            refuse(line, "row", f"expected {len(names)} fields, got {len(cells)}")
            continue
        get = {name: cells[i].strip() for name, i in at.items()}
        ok = True
        symbol = get["symbol"].upper()
        if not SYMBOL.match(symbol):
            refuse(line, "symbol", f"expected a ticker such as SPY or ^GSPC, got {get['symbol']!r}")
            ok = False
        day = None
        try:
            if not DATE.match(get["date"]):
                raise ValueError
            day = dt.date.fromisoformat(get["date"])
        except ValueError:
            refuse(line, "date", f"expected a date YYYY-MM-DD, got {get['date']!r}")
            ok = False
        try:
            close = _number(get["close"], positive=True)
        except InvalidOperation:
            refuse(line, "close", f"expected a finite positive number, got {get['close']!r}")
            ok = False
        adj_close = None
        if get.get("adj_close"):
            try:
                adj_close = _number(get["adj_close"], positive=True)
            except InvalidOperation:
                refuse(
                    line,
                    "adj_close",
                    f"expected a finite positive number or nothing, got {get['adj_close']!r}",
                )
                ok = False
        volume = None
        if get.get("volume"):
            try:
                value = _number(get["volume"], positive=False)
                if value < 0 or value != value.to_integral_value() or value >= 2**63:
                    raise InvalidOperation
                volume = int(value)
            except InvalidOperation:
                refuse(
                    line,
                    "volume",
                    f"expected a whole number ≥ 0 or nothing, got {get['volume']!r}",
                )
                ok = False
        if ok and day is not None:
            first = seen.setdefault((symbol, day), line)
            if first != line:
                refuse(line, "symbol,date", f"{symbol} {day} is also on line {first}")
                ok = False
        if ok:
            rows.append((line, symbol, day, close, adj_close, volume))
    if errors:
        raise CsvError(origin, errors[:MAX_REPORTED_ERRORS], len(errors))
    if not rows:
        raise CsvError(origin, [RowError(origin, 2, "row", "expected at least one price row")])
    return rows
