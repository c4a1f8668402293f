"""Activity files in four formats, read into foliodb's canonical activity rows.

Formats (what maps to what, and what is refused: docs/activities.md):

- ``foliodb``: foliodb's own CSV, one canonical row per line (the header names the fields);
- ``ghostfolio``: Ghostfolio's JSON export (its ``activities`` array);
- ``wealthfolio``: Wealthfolio's activity CSV (its import template);
- ``pp``: Portfolio Performance's CSV export of account or portfolio transactions.

Each reader yields ``(line, row)``: the physical line the record starts on and a dict with
exactly the keys of FIELDS. A file is read whole before anything is handed over: every problem
is collected (file, line, field, the value shortened to 40 characters with its length, what was
expected) and reported together (the first 50 and a count), and a file with any problem hands
over no row. Python reads the files, maps headers and types, and parses dates and numbers; the
rules of the data (symbol pattern, bounds, dates not in the future, which fields a type needs
beyond what the mapping reads) are the database's, checked by the SQL import.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from foliodb.errors import shown
from foliodb.portfolio_io import (
    Issue,
    Issues,
    ValidationError,
    control_character_issues,
    iter_csv_records,
    parse_number,
    suggest,
)

FIELDS = (
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
    # the rate the activity was settled at (migration 0250): base per unit of the security's
    # currency; last, so files written before it read and hash as they did
    "fx_rate",
)
TYPES = (
    "BUY",
    "SELL",
    "DIVIDEND",
    "INTEREST",
    "FEE",
    "TAX",
    "DEPOSIT",
    "WITHDRAWAL",
    "TRANSFER_IN",
    "TRANSFER_OUT",
    "SPLIT",
)
FORMATS = ("foliodb", "ghostfolio", "wealthfolio", "pp")
NUMERIC = ("quantity", "unit_price", "amount", "fee", "fx_rate")
CURRENCY = re.compile(r"^[A-Z]{2}[A-Za-z]$")
SUBUNIT = re.compile(r"^[A-Z]{2}[a-z]$")  # a subunit's code as quoted: GBp (pence)


def currency_code(text: str) -> str:
    """A currency as the file writes it, in canonical case: a subunit's code (GBp, pence) as
    written, any other upper-cased (usd: USD); the database checks it is one it knows."""
    return text if SUBUNIT.fullmatch(text) or not text.isascii() else text.upper()


ISO_DAY = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})$")
# a date, or a date and time as the formats write them (2024-01-15T00:00, …T00:00:00.000Z)
ISO_DAY_TIME = re.compile(
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)

Row = dict[str, Any]


@dataclass(frozen=True)
class Problem(Issue):
    """One problem of an activity file: where (line, field), the value, what was expected."""

    value: str | None = None
    expected: str | None = None


def problem(line: int | None, field: str | None, value: Any, expected: str) -> Problem:
    if value is None:
        return Problem(line, field, f"missing: expected {expected}", None, expected)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return Problem(line, field, f"got {shown(text)}, expected {expected}", text, expected)


# ---------------------------------------------------------------------------- entry points


# The base currency of the portfolio a file goes into, when the caller knows it: a format whose
# rate means one thing on an activity in the account's currency and another on one in a
# different currency (Wealthfolio's fxRate) reads it. None: every activity is taken to be in it.
_base_currency: ContextVar[str | None] = ContextVar("foliodb_import_base_currency", default=None)


def read_activities(
    path: str | Path, fmt: str | None = None, base_currency: str | None = None
) -> list[tuple[int, Row]]:
    """The canonical rows of an activity file (format detected when ``fmt`` is None); raises
    ValidationError naming every problem, and then hands over nothing. ``base_currency``: the
    base currency of the portfolio it goes into, when known."""
    path = Path(path)
    data = path.read_bytes()
    token = _base_currency.set(base_currency)
    try:
        return parse_activities(data, fmt or detect_format(data, str(path)), str(path))
    finally:
        _base_currency.reset(token)


def parse_activities(data: bytes, fmt: str, source: str) -> list[tuple[int, Row]]:
    """All rows of ``data`` in format ``fmt``, or ValidationError with every problem."""
    issues = Issues()
    rows = list(iter_activities(data, fmt, source, issues))
    if issues:
        raise issues.error(source)
    return rows


def iter_activities(
    data: bytes, fmt: str, source: str, issues: Issues
) -> Iterator[tuple[int, Row]]:
    """(line, canonical row) of each activity of ``data``; problems go to ``issues`` (a caller
    that finds any must discard the rows). External ids are given here (docs/activities.md):
    the format's own id when it has one, else a hash of the row's mapped fields and how many
    identical rows came before it in the file."""
    if fmt not in READERS:
        raise ValueError(f"unknown activity format {fmt!r}: expected one of {', '.join(FORMATS)}")
    seen_hashes: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for line, row in READERS[fmt](data, source, issues):
        row["source"] = row.get("source") or fmt
        if not row.get("external_id"):
            digest = row_hash(row)
            seen_hashes[digest] = seen_hashes.get(digest, 0) + 1
            row["external_id"] = f"{digest}-{seen_hashes[digest]}"
        elif (first := seen_ids.setdefault(row["external_id"], line)) != line:
            issues.append(
                problem(
                    line, "external_id", row["external_id"], f"a unique id (also on line {first})"
                )
            )
        yield line, {name: row.get(name) for name in FIELDS}


def detect_format(data: bytes, source: str = "file") -> str:
    """The format of a file by its first bytes: JSON is Ghostfolio's; a CSV by its header."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"{"):
        return "ghostfolio"
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lower()
    names = {re.sub(r"[\s_]+", "", name.strip().strip('"')) for name in re.split(r"[,;]", first)}
    if "activitydate" in names and "activitytype" in names:
        return "foliodb"
    if names & {"transactioncurrency", "buchungswährung"}:
        return "pp"
    if names & {"activitytype", "unitprice", "type"}:
        return "wealthfolio"
    raise ValidationError(
        source,
        [
            Issue(
                1,
                None,
                "cannot tell the format from the first line: name it with --format "
                f"({', '.join(FORMATS)})",
            )
        ],
    )


def activity_as_json(line: int, row: Row) -> dict[str, Any]:
    """A row as JSON for the SQL import: dates ISO, numbers as exact text, its line."""
    out: dict[str, Any] = {"line": line}
    for name in FIELDS:
        value = row.get(name)
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = decimal_text(value)
        out[name] = value
    return out


def write_foliodb_csv(rows: Iterable[Row], stream: TextIO) -> int:
    """Rows as a foliodb CSV (every field, source and external_id included), which reads back
    as the same activities: what `folio activities export` writes. Returns the rows written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(FIELDS)
    count = 0
    for row in rows:
        values = []
        for name in FIELDS:
            value = row.get(name)
            if value is None:
                values.append("")
            elif isinstance(value, Decimal):
                values.append(decimal_text(value))
            elif isinstance(value, dt.date):
                values.append(value.isoformat())
            else:
                values.append(str(value))
        writer.writerow(values)
        count += 1
    return count


def decimal_text(value: Decimal) -> str:
    """A number as plain text without exponent or trailing zeros: 10.50 → '10.5', 1E+3 → '1000'."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def row_hash(row: Row) -> str:
    """sha256 of the mapped fields (all but external_id), each written ``name=value`` in FIELDS
    order and joined by U+001F: dates ISO, numbers by decimal_text (10.50 and 10.5 are the
    same), empty for none; the first 32 hex digits."""
    parts = []
    for name in FIELDS:
        if name == "external_id":
            continue
        value = row.get(name)
        if name == "fx_rate" and (value is None or row.get("source") != "foliodb"):
            # a row without it hashes as before fx_rate existed; another format's rate (read
            # since Portfolio Performance's Exchange Rate is) leaves its digest as it was, so a
            # file imported before imports again adding nothing
            continue
        if value is None:
            text = ""
        elif isinstance(value, Decimal):
            text = decimal_text(value)
        elif isinstance(value, dt.date):
            text = value.isoformat()
        else:
            text = str(value)
        parts.append(f"{name}={text}")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------- shared parsing


def _csv_records(data: bytes, source: str, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """(physical line where it starts, fields) of each non-blank record (portfolio_io's reader:
    UTF-8, a BOM dropped, a quoted value may span lines); values are taken as written."""
    return iter_csv_records(io.BytesIO(data), source, delimiter, skipinitialspace=False)


def _header(
    line: int,
    record: list[str],
    names: dict[str, str],
    required: tuple[str, ...],
    issues: Issues,
    ignored: frozenset[str] = frozenset(),
) -> dict[str, int] | None:
    """Column name (the reader's own) → index. ``names`` maps each accepted header, compared
    case-insensitively without spaces or underscores, to the reader's name; ``ignored``
    headers are accepted and not mapped. None when the header has problems."""

    def key(text: str) -> str:
        return re.sub(r"[\s_\-]+", "", text.strip().lower())

    keys = {key(name): target for name, target in names.items()}
    skipped = {key(name) for name in ignored}
    mapping: dict[str, int] = {}
    bad = False
    for index, raw in enumerate(record):
        k = key(raw)
        if k in skipped:
            continue
        if k not in keys:
            hint = suggest(k, list(keys))
            did_you_mean = f"; did you mean {names_by_key(names)[hint]!r}?" if hint else ""
            issues.append(
                problem(
                    line,
                    f"column {index + 1}",
                    raw.strip(),
                    f"one of the columns {', '.join(dict.fromkeys(names))}{did_you_mean}",
                )
            )
            bad = True
            continue
        target = keys[k]
        if target in mapping:
            issues.append(
                problem(
                    line,
                    f"column {index + 1}",
                    raw.strip(),
                    f"each column once ({target!r} is also column {mapping[target] + 1})",
                )
            )
            bad = True
            continue
        mapping[target] = index
    first_names = {target: name for name, target in reversed(names.items())}
    for name in required:
        if name not in mapping:
            column = first_names.get(name, name)
            issues.append(problem(line, column, None, f"a column {column!r}"))
            bad = True
    return None if bad else mapping


def names_by_key(names: dict[str, str]) -> dict[str, str]:
    return {re.sub(r"[\s_\-]+", "", name.strip().lower()): name for name in names}


class _Fields:
    """The values of one record by the reader's column names; parses them, collecting problems."""

    def __init__(
        self,
        line: int,
        values: dict[str, str],
        issues: list[Issue],
        labels: dict[str, str] | None = None,
    ):
        self.line = line
        self.values = values
        self.issues = issues
        self.labels = labels or {}  # the file's own column names, for messages

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def bad(self, name: str, value: Any, expected: str) -> None:
        self.issues.append(problem(self.line, self.label(name), value, expected))

    def text(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    def date(self, name: str, pattern: re.Pattern[str] = ISO_DAY) -> dt.date | None:
        text = self.text(name)
        example = (
            "YYYY-MM-DD, e.g. 2025-01-06"
            if pattern is ISO_DAY
            else "2025-01-06 or 2025-01-06T00:00"
        )
        if not text:
            self.bad(name, None, f"a date ({example})")
            return None
        value = _iso_date(text, pattern)
        if value is None:
            self.bad(name, text, f"a date ({example})")
        return value

    def number(
        self,
        name: str,
        parse: Callable[[str], Decimal | None] = parse_number,
        expected: str = "a number such as 10.5 (ASCII digits, '.' for decimals)",
    ) -> Decimal | None:
        text = self.text(name)
        if not text:
            return None
        value = parse(text)
        if value is None or not value.is_finite():
            self.bad(name, text, expected)
            return None
        return value

    def currency(self, name: str, required: bool = True) -> str | None:
        text = self.text(name)
        if not text:
            if required:
                self.bad(name, None, "an ISO currency code such as USD")
            return None
        code = currency_code(text)
        if not CURRENCY.fullmatch(code):
            self.bad(name, text, "an ISO currency code such as USD (three letters)")
            return None
        return code

    def symbol(self, name: str) -> str | None:
        text = self.text(name)
        if not text:
            return None
        return text.upper() if text.isascii() else text  # the database checks its pattern


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _control_characters(
    line: int, values: dict[str, str], free_text: str, labels: dict[str, str] | None = None
) -> list[Issue]:
    """NUL and other control characters, each named with its column (the free-text column may
    hold tabs and line breaks). One search of the whole record first: most have none."""
    if not any(CONTROL.search(value) for value in values.values()):
        return []
    labels = labels or {}
    return [
        Problem(issue.line, labels.get(issue.field, issue.field), issue.message)
        for issue in control_character_issues(line, values, frozenset({free_text}))
    ]


def _iso_date(text: str, pattern: re.Pattern[str]) -> dt.date | None:
    """The date a value starts with when it has the pattern's shape and is a real day."""
    match = pattern.fullmatch(text.strip())
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _product(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return a * b if a is not None and b is not None else None


def _row(
    activity_date: dt.date | None,
    activity_type: str,
    currency: str | None,
    **values: Any,
) -> Row:
    row: Row = dict.fromkeys(FIELDS)
    row.update(activity_date=activity_date, activity_type=activity_type, currency=currency)
    row.update(values)
    return row


def _trade(
    activity_date: dt.date | None,
    kind: str,
    currency: str | None,
    symbol: str | None,
    quantity: Decimal | None,
    unit_price: Decimal | None,
    amount: Decimal | None,
    fee: Decimal | None,
) -> Row:
    """A row with the values an activity may carry (None where its type carries none): the
    units, their unit price, the amount and the fee."""
    return _row(
        activity_date,
        kind,
        currency,
        symbol=symbol,
        quantity=quantity,
        unit_price=unit_price,
        amount=amount,
        fee=fee,
    )


def _refusal(value: str, refused: dict[str, str], accepted: list[str] | tuple[str, ...]) -> str:
    """What a type problem expects: the accepted types, and why a known type is refused."""
    expected = f"one of {', '.join(accepted)}"
    return f"{expected}: {refused[value]}" if value in refused else expected


@dataclass(frozen=True)
class _CsvLayout:
    """A CSV format's header: the accepted column names (→ the reader's own), the required
    ones, the free-text column (which may hold tabs and line breaks), ignored columns; whether
    messages name the file's own column names (``labelled``) and whether a record wider than
    the header is refused (``as_wide_as_header``)."""

    names: dict[str, str]
    required: tuple[str, ...]
    free_text: str
    ignored: frozenset[str] = frozenset()
    labelled: bool = True
    as_wide_as_header: bool = False
    header_expected: str = "a header line naming the columns"

    def read(
        self,
        data: bytes,
        source: str,
        issues: Issues,
        build: Callable[[int, _Fields], list[Row]],
        delimiter: str = ",",
    ) -> Iterator[tuple[int, Row]]:
        """The CSV formats' one loop: the header maps the columns (a header with problems:
        nothing more is read); each record's values go to ``build`` as _Fields, which collect
        the record's problems (control characters first, outside the free-text column); a
        record with any hands over no row."""
        mapping = None
        labels: dict[str, str] = {}
        width = 0
        for line, record in _csv_records(data, source, delimiter):
            if mapping is None:
                mapping = _header(line, record, self.names, self.required, issues, self.ignored)
                if mapping is None:
                    return
                if self.labelled:
                    labels = {name: record[i].strip() for name, i in mapping.items()}
                width = len(record)
                continue
            row_issues: list[Issue] = []
            values = {name: record[i] if i < len(record) else "" for name, i in mapping.items()}
            row_issues.extend(_control_characters(line, values, self.free_text, labels))
            if self.as_wide_as_header and len(record) > width:
                row_issues.append(
                    problem(line, None, ",".join(record), f"{width} fields, as many as the header")
                )
            rows = build(line, _Fields(line, values, row_issues, labels))
            if row_issues:
                issues.extend(row_issues)
                continue
            for row in rows:
                yield line, row
        if mapping is None:
            issues.append(problem(1, None, None, self.header_expected))


# ---------------------------------------------------------------------------- foliodb


FOLIODB_NAMES = {name: name for name in FIELDS}
FOLIODB_REQUIRED = ("activity_date", "activity_type")
FOLIODB_CSV = _CsvLayout(
    FOLIODB_NAMES,
    FOLIODB_REQUIRED,
    "notes",
    labelled=False,
    as_wide_as_header=True,
    header_expected=f"a header line naming the columns ({', '.join(FIELDS)})",
)


def read_foliodb(data: bytes, source: str, issues: Issues) -> Iterator[tuple[int, Row]]:
    """foliodb's CSV: the canonical fields as columns. Rows are taken as written (an empty
    amount of a BUY, SELL or transfer of securities is quantity × unit_price); source and
    external_id, when given (a file `folio activities export` wrote), are kept."""
    return FOLIODB_CSV.read(data, source, issues, _foliodb_rows)


def _foliodb_rows(line: int, fields: _Fields) -> list[Row]:
    kind_text = fields.text("activity_type")
    kind = kind_text.upper() if kind_text.isascii() else kind_text  # 'ſell' is not SELL
    if kind not in TYPES:
        fields.bad("activity_type", fields.text("activity_type"), f"one of {', '.join(TYPES)}")
    row = _row(
        fields.date("activity_date"),
        kind,
        # optional in foliodb's own file: the database's default (USD) when absent
        fields.currency("currency", required=False),
        symbol=fields.symbol("symbol"),
        notes=fields.text("notes") or None,
        source=fields.text("source") or None,
        external_id=fields.text("external_id") or None,
        **{name: fields.number(name) for name in NUMERIC},
    )
    if row["amount"] is None and kind in ("BUY", "SELL", "TRANSFER_IN", "TRANSFER_OUT"):
        row["amount"] = _product(row["quantity"], row["unit_price"])
    return [row]


# ---------------------------------------------------------------------------- Ghostfolio


GHOSTFOLIO_TYPES = ("BUY", "SELL", "DIVIDEND", "FEE", "INTEREST")
GHOSTFOLIO_REFUSED = {
    "LIABILITY": "a LIABILITY (a debt) has no foliodb activity type",
    "ITEM": "ITEM is Ghostfolio's deprecated type for a valuable; record it as a BUY",
}
GHOSTFOLIO_KEYS = {
    "accountId",
    "comment",
    "currency",
    "dataSource",
    "date",
    "fee",
    "id",
    "quantity",
    "symbol",
    "tags",
    "type",
    "unitPrice",
    # accepted by Ghostfolio's import (CreateOrderDto), not mapped
    "accountUserId",
    "assetClass",
    "assetSubClass",
    "customCurrency",
    "updateAccountBalance",
}


def _json_positions(text: str) -> tuple[Any, list[int]]:
    """The document and the character offset of each element of its top-level "activities"
    array (for line numbers: JSON parsers do not report them), in one pass: the top-level
    object is walked key by key and each activity decoded on its own. A repeated key keeps
    its last value, as json.loads does; anything malformed raises json.loads's own error."""
    decoder = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
    whitespace = re.compile(r"[ \t\n\r]*")

    def malformed() -> json.JSONDecodeError:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            return exc
        return json.JSONDecodeError("unexpected structure", text, 0)  # pragma: no cover

    def at(index: int, char: str) -> int:
        index = whitespace.match(text, index).end()
        if text[index : index + 1] != char:
            raise malformed()
        return index + 1

    index = whitespace.match(text, 0).end()
    if text[index : index + 1] != "{":
        return decoder.decode(text), []
    document: dict[str, Any] = {}
    offsets: list[int] = []
    index += 1
    if text[whitespace.match(text, index).end() :][:1] == "}":
        index = whitespace.match(text, index).end() + 1
    else:
        while True:
            index = at(index, '"')
            key, index = json.decoder.scanstring(text, index)
            index = whitespace.match(text, at(index, ":")).end()
            if key == "activities" and text[index : index + 1] == "[":
                elements: list[Any] = []
                element_offsets: list[int] = []
                index = whitespace.match(text, index + 1).end()
                if text[index : index + 1] == "]":
                    index += 1
                else:
                    while True:
                        element_offsets.append(index)
                        value, index = decoder.raw_decode(text, index)
                        elements.append(value)
                        index = whitespace.match(text, index).end()
                        if text[index : index + 1] == "]":
                            index += 1
                            break
                        index = whitespace.match(text, at(index, ",")).end()
                document[key], offsets = elements, element_offsets
            else:
                document[key], index = decoder.raw_decode(text, index)
                if key == "activities":
                    offsets = []
            index = whitespace.match(text, index).end()
            if text[index : index + 1] == "}":
                index += 1
                break
            index = at(index, ",")
    if whitespace.match(text, index).end() != len(text):
        raise malformed()
    return document, offsets


def read_ghostfolio(data: bytes, source: str, issues: Issues) -> Iterator[tuple[int, Row]]:
    """Ghostfolio's export (JSON): each element of ``activities`` is one activity."""
    try:
        text = data.decode("utf-8-sig")
        document, offsets = _json_positions(text)
    except UnicodeDecodeError as exc:
        issues.append(Issue(None, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x})"))
        return
    except json.JSONDecodeError as exc:
        issues.append(
            problem(exc.lineno, None, exc.doc[exc.pos : exc.pos + 40], f"JSON ({exc.msg})")
        )
        return
    if not offsets and not (isinstance(document, dict) and document.get("activities") == []):
        issues.append(
            problem(
                1,
                "activities",
                None,
                'a JSON object with an array "activities" (Ghostfolio\'s export)',
            )
        )
        return
    line, counted = 1, 0
    for element, offset in zip(document["activities"], offsets, strict=True):
        line += text.count("\n", counted, offset)  # lines counted once, element by element
        counted = offset
        if not isinstance(element, dict):
            issues.append(problem(line, None, element, "an activity object {…}"))
            continue
        activity = _GhostfolioActivity(text, element, offset, line)
        row = activity.row()
        if activity.issues:
            issues.extend(activity.issues)
            continue
        yield line, row


class _GhostfolioActivity:
    """One element of a Ghostfolio export's activities; its problems name the line of the
    field (found after the element's start) or of the element."""

    def __init__(self, text: str, element: dict[str, Any], offset: int, line: int):
        self.text = text
        self.element = element
        self.offset = offset
        self.line = line
        self.issues: list[Issue] = []

    def field_line(self, key: str) -> int:
        # the key's first occurrence after the element's start (activities are flat objects)
        found = re.compile(rf'"{re.escape(key)}"\s*:').search(self.text, self.offset)
        if not found:
            return self.line
        return self.line + self.text.count("\n", self.offset, found.start())

    def bad(self, key: str, value: Any, expected: str) -> None:
        self.issues.append(problem(self.field_line(key), key, value, expected))

    def string(self, key: str, required: bool, expected: str = "a string") -> str | None:
        value = self.element.get(key)
        if value is None:
            if required:
                self.bad(key, None, expected)
            return None
        if not isinstance(value, str):
            self.bad(key, value, expected)
            return None
        self.issues.extend(
            Problem(self.field_line(key), i.field, i.message)
            for i in control_character_issues(None, {key: value}, frozenset({"comment"}))
        )
        return value

    def number(self, key: str) -> Decimal | None:
        value = self.element.get(key)
        if isinstance(value, Decimal) and value.is_finite():
            return value
        self.bad(key, value, "a JSON number")
        return None

    def row(self) -> Row:
        for key in self.element:
            if key not in GHOSTFOLIO_KEYS:
                hint = suggest(key, sorted(GHOSTFOLIO_KEYS))
                self.bad(
                    key,
                    key,
                    "a field of Ghostfolio's activities"
                    + (f" (did you mean {hint!r}?)" if hint else ""),
                )
        kind_text = self.string("type", True, f"one of {', '.join(GHOSTFOLIO_TYPES)}")
        kind = kind_text.upper() if kind_text and kind_text.isascii() else kind_text
        if kind_text is not None and kind not in GHOSTFOLIO_TYPES:
            self.bad(
                "type",
                kind_text,
                _refusal(kind, GHOSTFOLIO_REFUSED, GHOSTFOLIO_TYPES),
            )
        date_text = self.string("date", True, "an ISO 8601 date such as 2021-09-16T00:00:00.000Z")
        activity_date = None
        if date_text is not None:
            activity_date = _iso_date(date_text, ISO_DAY_TIME)
            if activity_date is None:
                self.bad("date", date_text, "an ISO 8601 date such as 2021-09-16T00:00:00.000Z")
        currency_text = self.string("currency", True, "an ISO currency code such as USD")
        currency = None
        if currency_text is not None:
            currency = currency_code(currency_text.strip())
            if not CURRENCY.fullmatch(currency):
                self.bad("currency", currency_text, "an ISO currency code such as USD")
                currency = None
        quantity, unit_price, fee = (
            self.number("quantity"),
            self.number("unitPrice"),
            self.number("fee"),
        )
        data_source = self.string("dataSource", False)
        symbol_text = self.string("symbol", kind in ("BUY", "SELL", "DIVIDEND"))
        comment = self.string("comment", False)
        external_id = self.string("id", False)
        # FEE and INTEREST point at a MANUAL placeholder asset (a uuid): cash events in foliodb
        is_cash = kind in ("FEE", "INTEREST") and (
            data_source in (None, "MANUAL") or not symbol_text
        )
        symbol = None
        if symbol_text and not is_cash:
            symbol = symbol_text.strip().upper() if symbol_text.isascii() else symbol_text
        gross = _product(quantity, unit_price)
        if kind == "INTEREST":
            row = _row(activity_date, kind, currency, symbol=symbol, amount=gross, fee=fee)
        elif kind == "FEE":  # Ghostfolio writes the charge in "fee" (quantity and unitPrice 0)
            total = fee + gross if fee is not None and gross is not None else None
            row = _row(activity_date, kind, currency, symbol=symbol, amount=total, fee=Decimal(0))
        else:  # BUY, SELL, DIVIDEND
            row = _trade(activity_date, kind, currency, symbol, quantity, unit_price, gross, fee)
        row["notes"] = (comment.strip() or None) if comment else None
        row["external_id"] = external_id.strip() or None if external_id else None
        return row


# ---------------------------------------------------------------------------- Wealthfolio


WEALTHFOLIO_NAMES = {
    "date": "date",
    "symbol": "symbol",
    "quantity": "quantity",
    "activityType": "activityType",
    "type": "activityType",
    "unitPrice": "unitPrice",
    "currency": "currency",
    "fee": "fee",
    "amount": "amount",
    "comment": "comment",
    "subtype": "subtype",
    "fxRate": "fxRate",
}
WEALTHFOLIO_IGNORED = frozenset({"instrumentType", "isin", "accountId"})
WEALTHFOLIO_REQUIRED = ("date", "activityType", "currency")
WEALTHFOLIO_CSV = _CsvLayout(
    WEALTHFOLIO_NAMES, WEALTHFOLIO_REQUIRED, "comment", ignored=WEALTHFOLIO_IGNORED
)
WEALTHFOLIO_TYPES = (
    "BUY",
    "SELL",
    "SPLIT",
    "DIVIDEND",
    "INTEREST",
    "DEPOSIT",
    "WITHDRAWAL",
    "TRANSFER_IN",
    "TRANSFER_OUT",
    "FEE",
    "TAX",
)
WEALTHFOLIO_REFUSED = {
    "CREDIT": "CREDIT (a refund, rebate or bonus) has no foliodb type; record it as INTEREST "
    "(income) or DEPOSIT (new money)",
    "ADJUSTMENT": "ADJUSTMENT has no foliodb type; record what happened (SPLIT, TRANSFER_IN, "
    "TRANSFER_OUT)",
    "UNKNOWN": "UNKNOWN activities are not imported; give each its type",
}


def _is_cash_symbol(symbol: str | None) -> bool:
    return not symbol or symbol.startswith("$CASH") or symbol.startswith("CASH:")


def read_wealthfolio(data: bytes, source: str, issues: Issues) -> Iterator[tuple[int, Row]]:
    """Wealthfolio's activity CSV (its import template, v3)."""
    return WEALTHFOLIO_CSV.read(data, source, issues, _wealthfolio_rows)


def _wealthfolio_rows(line: int, fields: _Fields) -> list[Row]:
    kind_text = fields.text("activityType")
    kind = re.sub(r"[\s-]+", "_", kind_text.upper()) if kind_text.isascii() else kind_text
    if kind not in WEALTHFOLIO_TYPES:
        fields.bad(
            "activityType",
            kind_text,
            _refusal(kind, WEALTHFOLIO_REFUSED, WEALTHFOLIO_TYPES),
        )
    activity_date = fields.date("date", ISO_DAY_TIME)
    currency = fields.currency("currency")
    symbol = fields.symbol("symbol")
    quantity, unit_price = fields.number("quantity"), fields.number("unitPrice")
    amount, fee = fields.number("amount"), fields.number("fee")
    subtype, comment = fields.text("subtype"), fields.text("comment")
    notes = " ".join(part for part in (f"[{subtype}]" if subtype else "", comment) if part)
    if (
        kind in ("BUY", "SELL")
        or (kind in ("TRANSFER_IN", "TRANSFER_OUT") and not _is_cash_symbol(symbol))
        or kind == "DIVIDEND"
    ):
        if amount is None:
            amount = _product(quantity, unit_price)
        row = _trade(activity_date, kind, currency, symbol, quantity, unit_price, amount, fee)
    elif kind == "SPLIT":
        # the ratio is in amount (Wealthfolio's docs); its sample file writes it in quantity
        row = _row(
            activity_date,
            kind,
            currency,
            symbol=symbol,
            quantity=amount if amount is not None else quantity,
        )
    else:  # cash events: amount (quantity and unitPrice are placeholders, 1 and 1)
        total = amount if amount is not None else _product(quantity, unit_price)
        if kind == "FEE" and total is None and fee is not None:
            total, fee = fee, Decimal(0)
        row = _row(
            activity_date,
            kind,
            currency,
            symbol=None if _is_cash_symbol(symbol) else symbol,
            amount=total,
            fee=fee,
        )
    if row["symbol"] and kind != "SPLIT":
        row["fx_rate"] = _wealthfolio_fx_rate(fields, currency)
    elif kind != "SPLIT":
        row["fx_rate"] = _wealthfolio_cash_fx_rate(fields, currency)
    row["notes"] = notes or None
    return [row]


def _wealthfolio_cash_fx_rate(fields: _Fields, currency: str | None) -> Decimal | None:
    """foliodb's fx_rate of a cash activity from Wealthfolio's fxRate: on one in another
    currency than the account's (the portfolio's base, when known), units of the account's per
    unit of the activity's, the rate its money was converted into the account's at (foliodb's
    fx_rate as it is: its cash lands in the base); without it (or 1), none: the cash is kept in
    its own currency. On one in the account's currency (or with no known base) there is
    nothing to convert: not read, as before."""
    base = _base_currency.get()
    if base is None or currency is None or currency == base:
        return None
    rate = fields.number("fxRate")
    if rate is None or rate == 1:
        return None
    if rate <= 0:
        fields.bad("fxRate", fields.text("fxRate"), "a rate greater than 0")
        return None
    return rate


def _wealthfolio_fx_rate(fields: _Fields, currency: str | None) -> Decimal | None:
    """foliodb's fx_rate from Wealthfolio's fxRate. Its meaning depends on the currencies
    (its developer document "FX Rate Conversion Logic"): on an activity in another currency
    than the account's, from the activity's currency to the account's: units of the account's
    (the base) per unit of the activity's, foliodb's fx_rate as it is; else from the
    activity's currency to the position's, units of the security's currency per unit of the
    account's, where foliodb's is the account's (base) currency per unit of the security's:
    the inverse. Without a known base (``read_activities``), the activity is taken to be in
    it. 1 or none: no conversion stated."""
    rate = fields.number("fxRate")
    if rate is None or rate == 1:
        return None
    if rate <= 0:
        fields.bad("fxRate", fields.text("fxRate"), "a rate greater than 0")
        return None
    base = _base_currency.get()
    if base is not None and currency is not None and currency != base:
        return rate
    return Decimal(1) / rate


# ---------------------------------------------------------------------------- Portfolio Performance


# the header of CSVExporter.exportTransactions, English and German (messages*.properties)
PP_NAMES = {
    "Date": "date",
    "Datum": "date",
    "Type": "type",
    "Typ": "type",
    "Value": "value",
    "Wert": "value",
    "Transaction Currency": "currency",
    "Buchungswährung": "currency",
    "Gross Amount": "gross",
    "Bruttobetrag": "gross",
    "Currency Gross Amount": "gross_currency",
    "Währung Bruttobetrag": "gross_currency",
    "Exchange Rate": "exchange_rate",
    "Wechselkurs": "exchange_rate",
    "Fees": "fees",
    "Gebühren": "fees",
    "Taxes": "taxes",
    "Steuern": "taxes",
    "Shares": "shares",
    "Stück": "shares",
    "ISIN": "isin",
    "WKN": "wkn",
    "Ticker Symbol": "ticker",
    "Ticker-Symbol": "ticker",
    "Security Name": "name",
    "Wertpapiername": "name",
    "Note": "note",
    "Notiz": "note",
}
PP_REQUIRED = ("date", "type", "value", "currency")
PP_CSV = _CsvLayout(PP_NAMES, PP_REQUIRED, "note")
# labels.properties (account.* and portfolio.*), English and German → (foliodb type, rule)
PP_TYPES = {
    "buy": ("BUY", "buy"),
    "kauf": ("BUY", "buy"),
    "sell": ("SELL", "sell"),
    "verkauf": ("SELL", "sell"),
    "delivery (inbound)": ("TRANSFER_IN", "buy"),
    "einlieferung": ("TRANSFER_IN", "buy"),
    "delivery (outbound)": ("TRANSFER_OUT", "sell"),
    "auslieferung": ("TRANSFER_OUT", "sell"),
    "transfer (inbound)": ("TRANSFER_IN", "transfer"),
    "umbuchung (eingang)": ("TRANSFER_IN", "transfer"),
    "transfer (outbound)": ("TRANSFER_OUT", "transfer"),
    "umbuchung (ausgang)": ("TRANSFER_OUT", "transfer"),
    "dividend": ("DIVIDEND", "income"),
    "dividende": ("DIVIDEND", "income"),
    "interest": ("INTEREST", "income"),
    "zinsen": ("INTEREST", "income"),
    "deposit": ("DEPOSIT", "cash"),
    "einlage": ("DEPOSIT", "cash"),
    "withdrawal": ("WITHDRAWAL", "cash"),
    "removal": ("WITHDRAWAL", "cash"),  # the English label of older versions
    "entnahme": ("WITHDRAWAL", "cash"),
    "fees": ("FEE", "cash"),
    "gebühren": ("FEE", "cash"),
    "interest charge": ("FEE", "cash"),
    "zinsbelastung": ("FEE", "cash"),
    "taxes": ("TAX", "cash"),
    "steuern": ("TAX", "cash"),
}
PP_REFUSED = {
    "fees refund": "a fee refund has no foliodb type; correct or delete the fee it refunds",
    "gebührenerstattung": "a fee refund has no foliodb type; correct or delete the fee it refunds",
    "tax refund": "a tax refund has no foliodb type; correct or delete the tax it refunds",
    "steuerrückerstattung": "a tax refund has no foliodb type; correct or delete the tax it "
    "refunds",
}
PP_ACCEPTED = (
    "Buy",
    "Sell",
    "Dividend",
    "Interest",
    "Deposit",
    "Withdrawal",
    "Fees",
    "Taxes",
    "Interest Charge",
    "Delivery (Inbound)",
    "Delivery (Outbound)",
    "Transfer (Inbound)",
    "Transfer (Outbound)",
    "or their German names",
)
PP_AMOUNT = re.compile(r"^-?[0-9 '’.,\u00a0\u202f]*[0-9]([.,])[0-9]{2}$")


def pp_number(text: str, decimal_mark: str) -> Decimal | None:
    """A number as Portfolio Performance writes it in the file's locale (Java's %,.2f and
    #,##0.########): '1,234.56' with a '.' decimal mark, '1.234,56' or "1'234.56" or
    '1 234,56' with the others; groups of three digits only."""
    grouping = "[,'’\u00a0\u202f ]" if decimal_mark == "." else "[.'’\u00a0\u202f ]"
    mark = re.escape(decimal_mark)
    pattern = rf"^(-?)([0-9]{{1,3}}(?:{grouping}[0-9]{{3}})*|[0-9]+)(?:{mark}([0-9]+))?$"
    match = re.fullmatch(pattern, text.strip())
    if not match:
        return None
    digits = re.sub(r"[^0-9]", "", match.group(2))
    try:
        fraction = f".{match.group(3)}" if match.group(3) else ""
        return Decimal(f"{match.group(1)}{digits}{fraction}")
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        return None


def read_pp(data: bytes, source: str, issues: Issues) -> Iterator[tuple[int, Row]]:
    """Portfolio Performance's CSV export of transactions (CSVExporter: an account's or a
    portfolio's), English or German headers and type names, ',' or ';' separated."""
    first = data.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    delimiter = ";" if first.count(b";") > first.count(b",") else ","
    return PP_CSV.read(data, source, issues, _pp_rows, delimiter)


def _pp_rows(line: int, fields: _Fields) -> list[Row]:
    kind_text = fields.text("type")
    # lower-cased only from ASCII and German letters (the Kelvin sign is not a 'k')
    plain = all(c.isascii() or c in "äöüÄÖÜ" for c in kind_text)
    rule = PP_TYPES.get(kind_text.lower()) if plain else None
    if rule is None:
        fields.bad(
            "type",
            kind_text,
            _refusal(kind_text.lower(), PP_REFUSED, PP_ACCEPTED),
        )
    activity_date = fields.date("date", ISO_DAY_TIME)
    currency = fields.currency("currency")
    # the decimal mark of this row: Value is always written with two decimals
    value_text = fields.text("value")
    amount_match = PP_AMOUNT.fullmatch(value_text)
    value = None
    if not value_text:
        fields.bad("value", None, "an amount such as 1,234.56 or 1.234,56")
        decimal_mark = "."
    elif amount_match is None:
        fields.bad("value", value_text, "an amount with two decimals such as 1,234.56 or 1.234,56")
        decimal_mark = "."
    else:
        decimal_mark = amount_match.group(1)
        value = pp_number(value_text, decimal_mark)
        if value is None:
            fields.bad("value", value_text, "an amount such as 1,234.56 or 1.234,56")

    def number(name: str, mark: str = decimal_mark, fields: _Fields = fields) -> Decimal:
        example = "1,234.5" if mark == "." else "1.234,5"
        parsed = fields.number(
            name,
            lambda text: pp_number(text, mark),
            f"a number written like this row's Value ({example})",
        )
        return abs(parsed) if parsed is not None else Decimal(0)

    fees, taxes = number("fees"), number("taxes")
    shares = number("shares") if fields.text("shares") else None
    symbol = next((fields.symbol(n) for n in ("ticker", "isin", "wkn") if fields.text(n)), None)
    note = fields.text("note") or None
    rows: list[Row] = []
    if rule is not None and value is not None:
        kind, how = rule
        total = abs(value)
        quantity = unit_price = None
        fee = fees
        if how in ("buy", "sell") or (how == "transfer" and shares is not None):
            # Value is what was paid (buy: gross + fees + taxes) or received (sell: gross - …)
            if how == "buy":
                amount = total - fees - taxes
            elif how == "sell":
                amount = total + fees + taxes
            else:
                amount = total
            quantity, unit_price = shares, amount / shares if shares else None
            if shares is None:
                fields.bad("shares", None, f"the number of shares of the {kind_text}")
        elif how == "income":
            # Value is what was credited: gross - fees - taxes
            quantity, amount = shares, total + fees + taxes
        else:  # cash events and transfers of cash
            amount = total
            if kind not in ("DEPOSIT", "WITHDRAWAL"):
                fee = Decimal(0)
                if fees:
                    fields.bad("fees", fields.text("fees"), f"no fees on a {kind_text}")
        rows.append(
            _trade(activity_date, kind, currency, symbol, quantity, unit_price, amount, fee)
        )
        if symbol and how in ("buy", "sell", "income"):
            rows[0]["fx_rate"] = _pp_fx_rate(fields, currency, amount, number)
        for row in rows:
            row["notes"] = note
        if taxes and rows and kind != "TAX":
            rows.append(
                _row(
                    activity_date,
                    "TAX",
                    currency,
                    symbol=symbol,
                    amount=taxes,
                    notes=f"taxes of the {kind_text} on line {line}",
                )
            )
    return rows


def _pp_fx_rate(
    fields: _Fields,
    currency: str | None,
    amount: Decimal | None,
    number: Callable[[str], Decimal],
) -> Decimal | None:
    """The rate a security's trade or dividend was settled at, when Portfolio Performance says
    it was converted: Gross Amount is then in the security's currency (Currency Gross Amount)
    and Exchange Rate is units of the Transaction Currency per unit of it (its CSV import
    guide: a 15 USD dividend credited as 14 EUR is 0.9333 EUR/USD), which is foliodb's
    ``fx_rate``. Without Exchange Rate the rate is what Value less fees and taxes and Gross
    Amount imply. On an account in another currency than the portfolio's base (known from
    ``read_activities``), foliodb's fx_rate is the base per unit of the Transaction Currency:
    the inverse where the security's currency is the base, else not given (a trade in the
    security's own currency is then paid from the portfolio's cash in it)."""
    gross_currency = fields.text("gross_currency").upper()
    if not gross_currency or gross_currency == (currency or "").upper():
        return None
    if fields.text("exchange_rate"):
        rate = number("exchange_rate")
    else:
        gross = number("gross") if fields.text("gross") else None
        if not (gross and amount is not None):
            fields.bad(
                "exchange_rate",
                None,
                f"the rate from {gross_currency} to {currency}, or the Gross Amount in {gross_currency}",
            )
            return None
        rate = amount / gross
    base = _base_currency.get()
    if base is None or (currency or "").upper() == base:
        return rate
    return Decimal(1) / rate if gross_currency == base and rate else None


READERS: dict[str, Callable[[bytes, str, Issues], Iterator[tuple[int, Row]]]] = {
    "foliodb": read_foliodb,
    "ghostfolio": read_ghostfolio,
    "wealthfolio": read_wealthfolio,
    "pp": read_pp,
}
