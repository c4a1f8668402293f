"""Price CSV files, read as a stream.

Format (UTF-8 with or without a BOM, comma-separated, a header row required, columns in any
order):

    symbol,date,close,adj_close,volume
    SPY,2025-01-06,595.25,590.10,47679400

- ``symbol``: the ticker; the rule is the database's (``market.symbol_problem``: ASCII
  letters, digits and ``^ . _ = / -``). Only ASCII letters are upper-cased here, so ``ſpy``
  reaches the rule as it is and is refused, not read as ``SPY``; ``date``: ``YYYY-MM-DD``;
  ``close``: a number written with ASCII digits (``1_000``, ``１２３`` and ``٣`` are refused).
- Optional: ``adj_close``, ``volume``; an empty cell means unknown.

The file is read as a byte stream through a real CSV reader: a quoted value may span lines
(and is then refused as a bad value, naming the line break), and line numbers are physical
lines of the file. :class:`PriceCsv` checks only what COPY itself would choke on (dates and
numbers readable as their types, no NUL) and hands the rows to the loader as COPY data in
chunks of at most ``chunk_rows`` rows, so memory does not grow with the file; every rule (the
symbol's, a positive close, a whole volume, a trading day, one row per symbol and date,
bounds) is checked in the database, set-based, on the staged rows. Every problem names the file, the line, the
field and what was expected; a file with any problem is not loaded at all.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, Self

from foliodb.errors import odd_character, shown
from ingest.load import CHUNK_ROWS, CopyChunk, LoadError, Problems, RowError

REQUIRED = ("symbol", "date", "close")
OPTIONAL = ("adj_close", "volume")
STAGED_AS = {"symbol": "symbol", "date": "price_date", "close": "close"}
STAGED_AS |= {"adj_close": "adj_close", "volume": "volume"}
# A symbol cell the fast path hands on as it is: printable ASCII but the comma, the quote and
# the space (what needs no CSV quoting and no stripping). Which texts are symbols is the
# database's rule (market.symbol_problem), checked on the staged rows; this is no copy of it.
PLAIN_CELL = r"[!#-+\--~]+"
# ASCII digits only (Python's own int/Decimal accept '1_000' and other scripts' digits);
# bounded so that every accepted text is a valid numeric (the bounds are the database's).
NUMBER_TEXT = r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?"
# A real calendar date YYYY-MM-DD (years 0001-9999, leap days included), as a pattern so a
# whole chunk of lines is checked in one regex pass.
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
DATE_TEXT = rf"(?:(?!0000)[0-9]{{4}}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
NUMBER = re.compile(NUMBER_TEXT)
DATE = re.compile(DATE_TEXT)
DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
BLANKS = " \t"  # what is stripped around a value (ASCII only: str.strip() also eats \x1f)
MAX_LINE_BYTES = 1 << 20  # a physical line longer than this is refused (memory stays bounded)

Row = tuple[int, str, dt.date, Decimal, Decimal | None, int | None]


class CsvError(LoadError):
    """A price file was refused; ``errors`` name line and field."""


def _problem_text(value: str, expected: str) -> str:
    odd = odd_character(value)
    why = f" ({odd})" if odd else ""
    got = shown(value) if value else "nothing"
    return f"expected {expected}, got {got}{why}"


class CsvFile:
    """A CSV file read as a stream, a context manager shared by the price and the FX files:
    opening opens the file (``_open``) and reads its header (``_read_header``); a missing or
    unreadable file or a bad header raise ``error`` at once, naming the file (line 0) or the
    header (line 1), and leave the file closed. ``problems`` and ``rows`` are the stream's."""

    error: type[LoadError] = LoadError

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.origin = str(path)
        self.problems = Problems()
        self.rows = 0
        self._file: IO | None = None

    def _open(self) -> IO:
        return self.path.open("rb")

    def _read_header(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self._file = self._open()
        except FileNotFoundError as exc:
            raise self._refuse_file(0, "file", "file not found") from exc
        except OSError as exc:
            raise self._refuse_file(0, "file", f"cannot read the file: {exc.strerror}") from exc
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _refuse_file(self, line: int, field: str, message: str) -> LoadError:
        return self.error(self.origin, [RowError(self.origin, line, field, message)])


class PriceCsv(CsvFile):
    """One price file as a stream of :class:`CopyChunk` s (``copy_chunks``); a context manager.

    Opening reads the header (a bad header, a missing or non-UTF-8 file raise
    :class:`CsvError` at once). The rows are then read ``chunk_rows`` physical lines at a
    time. A chunk of plain lines (no quotes, no spaces, no blank lines: what programs write)
    is checked by one regular expression over the whole chunk and passed on as CSV; from the
    first chunk that is not plain, the rest of the file goes through Python's CSV reader and
    is checked value by value. Either way the same text is accepted; values that cannot be
    read as their type are left out of the COPY and recorded in ``problems`` (the first few
    and a count), and ``rows`` counts the rows handed on.
    """

    error = CsvError

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._file: BinaryIO | None = None
        self._names: list[str] = []
        self._line = 1  # physical lines read so far
        self._pending = bytearray()  # bytes read past the last line handed on
        self._at_end = False

    def _decode(self, data: bytes, line: int) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            # the physical line of the first bad byte, and its place in that line
            line += data.count(b"\n", 0, exc.start)
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            message = (
                f"expected UTF-8 text, got byte 0x{data[exc.start]:02x} at byte {column} of "
                "the line; save the file as CSV UTF-8"
            )
            raise self._refuse_file(line, "file", message) from exc

    def _readline(self, line: int) -> bytes:
        """Physical line number ``line`` (bytes, with its newline; b"" at the end)."""
        assert self._file is not None
        data = self._file.readline(MAX_LINE_BYTES + 1)
        if len(data) > MAX_LINE_BYTES:
            message = f"expected a line of at most {MAX_LINE_BYTES:,} bytes"
            raise self._refuse_file(line, "row", message)
        return data

    def _read_header(self) -> None:
        expected_header = ",".join(REQUIRED + OPTIONAL)
        data = self._readline(1)
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        text = self._decode(data, 1)
        try:
            header = next(csv.reader([text], strict=True), None)
        except csv.Error as exc:
            raise self._refuse_file(1, "header", f"unreadable CSV: {exc}") from exc
        if header is None or not any(cell.strip(BLANKS) for cell in header):
            raise self._refuse_file(1, "header", f"expected {expected_header}")
        names = [h.strip(BLANKS).lower() for h in header]
        missing = [c for c in REQUIRED if c not in names]
        unknown = [h for h in names if h not in REQUIRED + OPTIONAL]
        dupes = sorted({h for h in names if names.count(h) > 1})
        if missing or unknown or dupes:
            problems = []
            if missing:
                problems.append(f"missing {', '.join(missing)}")
            if unknown:
                problems.append(f"unknown {', '.join(map(shown, unknown))}")
            if dupes:
                problems.append(f"repeated {', '.join(map(shown, dupes))}")
            looks_like_data = any(DATE_SHAPE.fullmatch(h) for h in names)
            hint = (
                " (the first line looks like data: a header row is required)"
                if looks_like_data
                else ""
            )
            raise self._refuse_file(
                1,
                "header",
                f"expected columns {expected_header} (adj_close, volume optional); "
                f"{'; '.join(problems)}{hint}",
            )
        self._names = names

    # -- streaming
    def _plain_lines(self) -> re.Pattern[bytes]:
        """Lines of the file's columns, each value plain (what a program writes); a pattern
        on bytes, ASCII only, so a chunk it matches needs no decoding."""
        value = {
            "symbol": PLAIN_CELL,
            "date": DATE_TEXT,
            "close": NUMBER_TEXT,
            "adj_close": f"(?:{NUMBER_TEXT})?",
            "volume": f"(?:{NUMBER_TEXT})?",
        }
        row = ",".join(value[name] for name in self._names)
        return re.compile(rf"(?:{row}\r?\n)*+".encode())

    def _read_lines(self, limit: int) -> tuple[bytes, int]:
        """The next physical lines of the file, at most ``limit``, as one block of bytes (the
        file's last line may lack its newline), and how many; ``(b"", 0)`` at the end.

        The file is read in blocks of ``MAX_LINE_BYTES`` and cut after the last whole line
        (the rest waits for the next call), so a line that lies within one block is short
        enough; a line that spans blocks is measured where it ends (or where the file does).
        """
        assert self._file is not None
        buffer = self._pending
        count = buffer.count(b"\n")
        while count < limit and not self._at_end:
            block = self._file.read(MAX_LINE_BYTES)
            if not block:
                self._at_end = True
                break
            # the buffer's unfinished line goes on in this block: its length so far
            started = len(buffer) - (buffer.rfind(b"\n") + 1)
            ends = block.find(b"\n")
            if started + (len(block) if ends < 0 else ends + 1) > MAX_LINE_BYTES:
                message = f"expected a line of at most {MAX_LINE_BYTES:,} bytes"
                raise self._refuse_file(self._line + count + 1, "row", message)
            buffer += block
            count += block.count(b"\n")
        if count >= limit:  # cut after the limit-th newline; the rest waits
            if count == limit:
                cut = buffer.rfind(b"\n") + 1
            else:
                cut = len(buffer) - len(buffer.split(b"\n", limit)[-1])
            self._pending = buffer[cut:]
            return bytes(memoryview(buffer)[:cut]), limit
        self._pending = bytearray()
        if buffer and not buffer.endswith(b"\n"):
            count += 1  # the file's last line, without its newline
        return bytes(buffer), count

    def copy_chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[CopyChunk]:
        """The rows, at most ``chunk_rows`` per chunk; unreadable ones go to ``problems``.

        A plain chunk is handed on as the file's own bytes (upper-cased: ASCII only by then,
        so only the symbols and an exponent's e fold), without a line column: the staging
        table numbers such rows itself from line 2, which is right as long as every line
        before them was a plain row, as it is (the first chunk that is not plain ends this).
        """
        if self._file is None:
            raise RuntimeError("open the file first: with PriceCsv(path) as prices: ...")
        plain = self._plain_lines()
        columns = tuple(STAGED_AS[name] for name in self._names)
        while True:
            data, count = self._read_lines(chunk_rows)
            if not count:
                break
            first = self._line + 1
            if not data.endswith(b"\n"):
                data += b"\n"  # the last line of a file may lack its newline
            if plain.fullmatch(data) is None:
                yield from self._careful(self._decode(data, first), first, chunk_rows)
                return
            self._line += count
            if b"\r" in data:
                data = data.replace(b"\r", b"")  # the pattern allows \r only before \n
            self.rows += count
            yield CopyChunk(columns, data.upper(), count, csv=True)
        self._no_rows_check()

    def _no_rows_check(self) -> None:
        if self.rows == 0 and self.problems.total == 0:
            self.problems.add(RowError(self.origin, 2, "row", "expected at least one price row"))

    def _lines_from(self, text: str, chunk_rows: int) -> Iterator[str]:
        """Physical lines (split at \\n only) from ``text`` on, then from the rest of the file."""
        while True:
            for part in text.split("\n")[:-1]:
                self._line += 1
                yield part + "\n"
            data, count = self._read_lines(chunk_rows)
            if not count:
                return
            text = self._decode(data, self._line + 1)
            if not text.endswith("\n"):
                text += "\n"

    def _careful(self, text: str, first: int, chunk_rows: int) -> Iterator[CopyChunk]:
        """The rest of the file through the CSV reader, value by value."""
        lines = self._lines_from(text, chunk_rows)
        # strict: a stray quote (`"SPY"x`, a quote never closed) is an error, not guessed at
        reader = csv.reader(lines, strict=True)
        names = self._names
        width = len(names)
        at = {name: names.index(name) for name in names}
        i_symbol, i_date, i_close = at["symbol"], at["date"], at["close"]
        i_adj, i_volume = at.get("adj_close"), at.get("volume")
        number_ok, date_ok = NUMBER.fullmatch, DATE.fullmatch
        refuse = self.problems.add
        origin = self.origin
        columns = STAGE_COLUMNS_CSV
        buffer: list[str] = []
        previous_end = first - 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                refuse(RowError(origin, previous_end + 1, "row", f"unreadable CSV: {exc}"))
                previous_end = self._line
                continue
            line = previous_end + 1  # the physical line where the record starts
            previous_end = self._line
            if len(cells) != width:
                if not cells or all(not c.strip(BLANKS) for c in cells):
                    continue  # blank lines are allowed
                refuse(RowError(origin, line, "row", f"expected {width} fields, got {len(cells)}"))
                continue
            ok = True
            # the symbol goes to the database's rule as it is (quoted for COPY); only an
            # ASCII text is upper-cased (str.upper() folds 'ſ' into 'S'), and a NUL, which
            # no text column can hold, is refused here
            symbol = cells[i_symbol].strip(BLANKS)
            if "\x00" in symbol:
                expected = "a ticker such as SPY or ^GSPC"
                refuse(RowError(origin, line, "symbol", _problem_text(symbol, expected)))
                ok = False
            elif symbol.isascii():
                symbol = symbol.upper()
            day = cells[i_date].strip(BLANKS)
            if not date_ok(day):
                refuse(RowError(origin, line, "date", _problem_text(day, "a date YYYY-MM-DD")))
                ok = False
            close = cells[i_close].strip(BLANKS)
            if not number_ok(close):
                expected = "a finite positive number"
                refuse(RowError(origin, line, "close", _problem_text(close, expected)))
                ok = False
            adj_close = ""
            if i_adj is not None and (text := cells[i_adj].strip(BLANKS)):
                if number_ok(text):
                    adj_close = text
                else:
                    expected = "a finite positive number or nothing"
                    refuse(RowError(origin, line, "adj_close", _problem_text(text, expected)))
                    ok = False
            volume = ""
            if i_volume is not None and (text := cells[i_volume].strip(BLANKS)):
                if number_ok(text):
                    volume = text
                else:
                    expected = "a whole number ≥ 0 or nothing"
                    refuse(RowError(origin, line, "volume", _problem_text(text, expected)))
                    ok = False
            if ok:
                quoted = symbol.replace('"', '""')
                buffer.append(f'{line},"{quoted}",{day},{close},{adj_close},{volume}\n')
                if len(buffer) >= chunk_rows:
                    self.rows += len(buffer)
                    yield CopyChunk(columns, "".join(buffer), len(buffer), csv=True)
                    buffer.clear()
        if buffer:
            self.rows += len(buffer)
            yield CopyChunk(columns, "".join(buffer), len(buffer), csv=True)
        self._no_rows_check()


STAGE_COLUMNS_CSV = ("line", "symbol", "price_date", "close", "adj_close", "volume")


def read_prices(path: str | Path) -> list[Row]:
    """The rows of a (small) price file whose values read as their types; raises
    :class:`CsvError` listing what is wrong. For tests and inspection: the loader streams
    :class:`PriceCsv` instead of holding a list."""
    rows: list[Row] = []
    with PriceCsv(path) as prices:
        plain_line = 1  # plain chunks carry no line column: their rows follow the header
        for chunk in prices.copy_chunks():
            data = chunk.data.decode() if isinstance(chunk.data, bytes) else chunk.data
            for cells in csv.reader(io.StringIO(data)):
                values = dict(zip(chunk.columns, cells, strict=True))
                if "line" not in values:
                    plain_line += 1
                    values["line"] = str(plain_line)
                adj_close, volume = values.get("adj_close", ""), values.get("volume", "")
                rows.append(
                    (
                        int(values["line"]),
                        values["symbol"],
                        dt.date.fromisoformat(values["price_date"]),
                        Decimal(values["close"]),
                        Decimal(adj_close) if adj_close else None,
                        int(Decimal(volume)) if volume else None,
                    )
                )
        if prices.problems.total:
            raise CsvError(prices.origin, prices.problems.first, prices.problems.total)
    return rows
