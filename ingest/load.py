"""Loading price rows: COPY into a staging table, validate set-based, one write.

Python streams the rows into the session's staging table; the checks, the quarantine and
the write are SQL functions in the database (sql/routines/40_price_load.sql).

Every load is one transaction (a savepoint when the caller already holds one): a chunk is
loaded whole or not at all, and loading the same rows again changes nothing. The input is
streamed into the staging table in COPY chunks of at most ``CHUNK_ROWS`` rows as it is
produced (a price file, a generator, a frame), so the loading process's memory does not grow
with the input; the checks and the write then run once, set-based, on everything staged.

- Invalid rows (not a finite positive close or adj_close, a date after the last closed
  session or not a trading day, a malformed symbol, a key given twice) go to
  market.quarantine with the reason, never to market.prices. In strict mode (CSV files) any
  invalid row raises :class:`LoadError` and nothing is written.
- A close that moved more than ops.settings ``max_daily_move`` since the previous session is
  loaded and flagged in market.quarantine as a warning.
- A changed historical price, or history inserted before a symbol's last stored date,
  queues (symbol, earliest date) in ops.dirty_symbols so the analytics recompute from there
  (the prices triggers write the queue; the load reports what they queued).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from foliodb.errors import FolioError, shown

SOURCES = ("yfinance", "csv", "demo", "manual")
COLUMNS = ("symbol", "price_date", "close", "adj_close", "volume")
MAX_REPORTED_ERRORS = 50  # problems named in one error; the rest are counted
# Rows per COPY write: what the loading process holds at once, whatever the input's size.
CHUNK_ROWS = 20_000

# The SQL lives in the database (sql/routines/40_price_load.sql): the staging table
# pg_temp.ingest_stage, the set-based checks, the quarantine and the one write.
STAGE_SQL = "select market.stage_prices()"
CHECK_SQL = "select market.check_staged_prices(%(last_closed)s)"
PROBLEMS_SQL = "select * from market.staged_price_problems(%(limit)s)"
QUARANTINE_SQL = "select market.quarantine_staged_prices(%(run_id)s, %(source)s)"
PUBLISH_SQL = "select * from market.publish_staged_prices(%(source)s, %(run_id)s)"


@dataclass
class LoadResult:
    """What one load did. ``quarantined`` counts refused rows; ``flagged`` loaded warnings."""

    staged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    flagged: int = 0
    copied_chunks: int = 0  # COPY writes: the input was staged in this many bounded chunks
    dirty: dict[str, str] = field(default_factory=dict)
    symbols: set[str] = field(default_factory=set)

    def add(self, other: LoadResult) -> None:
        self.staged += other.staged
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.quarantined += other.quarantined
        self.flagged += other.flagged
        self.copied_chunks += other.copied_chunks
        for symbol, from_date in other.dirty.items():
            self.dirty[symbol] = min(from_date, self.dirty.get(symbol, from_date))
        self.symbols |= other.symbols


@dataclass(frozen=True)
class RowError:
    """A refused row, named for a person: where it came from, which field, what was expected."""

    origin: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.line <= 0:  # about the whole file
            return f"{self.origin}: {self.message}"
        return f"{self.origin} line {self.line}, field {self.field}: {self.message}"


class LoadError(FolioError):
    """Strict load refused: nothing was written. ``errors`` lists the first refused rows."""

    def __init__(self, origin: str, errors: list[RowError], total: int | None = None) -> None:
        self.origin = origin
        self.errors = errors[:MAX_REPORTED_ERRORS]
        self.total = total if total is not None else len(errors)
        listed = "\n".join(f"  {e}" for e in self.errors)
        left = self.total - len(self.errors)
        more = f"\n  … and {left:,} more" if left > 0 else ""
        super().__init__(
            f"{origin}: {self.total:,} error(s), nothing loaded from it:\n{listed}{more}"
        )


class Problems:
    """Problems found while streaming: the first ``limit`` kept, the others only counted, so
    a file with a million bad rows costs no more memory than one with fifty."""

    def __init__(self, limit: int = MAX_REPORTED_ERRORS) -> None:
        self.limit = limit
        self.first: list[RowError] = []
        self.total = 0

    def add(self, error: RowError) -> None:
        self.total += 1
        if len(self.first) < self.limit:
            self.first.append(error)


@dataclass(frozen=True)
class CopyChunk:
    """A bounded piece of input for the staging table: ``rows`` rows of COPY data whose
    columns (ingest_stage's names, in the data's order) are ``columns``; CSV format when
    ``csv`` (an empty field is NULL), else COPY text format (``\\N`` is NULL)."""

    columns: tuple[str, ...]
    data: str | bytes
    rows: int
    csv: bool = False


STAGE_COLUMNS = ("line", "symbol", "price_date", "close", "adj_close", "volume")


class RowStream(Protocol):
    """A source that streams its rows as :class:`CopyChunk` s of at most ``chunk_rows`` rows
    (ingest.providers.csvfile.PriceCsv). Rows it could not read are in ``problems``, which is
    complete once the chunks are exhausted."""

    problems: Problems

    def copy_chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[CopyChunk]: ...


def _copy_text(value: object) -> str:
    r"""One value in COPY text format (\N is NULL); floats keep their shortest repr."""
    if value is None:
        return "\\N"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    text = str(value)
    if any(ch in text for ch in "\\\t\n\r"):
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        text = text.replace("\r", "\\r")
    return text


def _frame_to_copy(frame: pd.DataFrame, first_line: int) -> bytes:
    """A long frame (symbol, price_date, close[, adj_close, volume]) as COPY text.

    Columns are formatted vectorised (floats keep their shortest repr; NaN and ±inf are
    spelled so numeric reads them), then joined row-wise in one pass.
    """
    n = len(frame)
    if n == 0:
        return b""
    columns = [np.arange(first_line, first_line + n).astype(str).tolist()]
    columns.append(frame["symbol"].astype("string").fillna("\\N").tolist())
    dates = pd.to_datetime(frame["price_date"])
    columns.append(dates.dt.strftime("%Y-%m-%d").fillna("\\N").tolist())
    for column in ("close", "adj_close", "volume"):
        if column not in frame:
            columns.append(["\\N"] * n)
            continue
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy()
        text = values.astype(str)  # '1.5', 'nan', 'inf', '-inf': all valid numeric input
        if column != "close":  # a missing adj_close or volume is simply unknown
            text[np.isnan(values)] = "\\N"
        columns.append(text.tolist())
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode()


def _tuple_chunks(rows: Iterable[tuple], chunk_rows: int) -> Iterator[CopyChunk]:
    """(line, symbol, price_date, close, adj_close, volume) tuples as COPY text chunks."""
    buffer: list[str] = []
    for row in rows:
        buffer.append("\t".join(_copy_text(v) for v in row) + "\n")
        if len(buffer) >= chunk_rows:
            yield CopyChunk(STAGE_COLUMNS, "".join(buffer), len(buffer))
            buffer.clear()
    if buffer:
        yield CopyChunk(STAGE_COLUMNS, "".join(buffer), len(buffer))


def _frame_chunks(frame: pd.DataFrame, chunk_rows: int) -> Iterator[CopyChunk]:
    for start in range(0, len(frame), chunk_rows):
        piece = frame.iloc[start : start + chunk_rows]
        yield CopyChunk(STAGE_COLUMNS, _frame_to_copy(piece, start + 1), len(piece))


def _copy_all(
    cur: psycopg.Cursor, chunks: Iterable[CopyChunk], result: LoadResult, on_chunk
) -> int:
    """Write the chunks into ingest_stage as they come; one COPY per run of chunks of the
    same shape (a file switching from its fast path to its careful one needs two). Returns
    the rows staged, as the COPYs counted them (no count over the staging table after)."""
    staged = 0
    shape: tuple | None = None
    with contextlib.ExitStack() as stack:
        copy = None
        for chunk in chunks:
            if (chunk.columns, chunk.csv) != shape:
                if shape is not None:
                    stack.close()  # ends that COPY: its row count is the cursor's
                    staged += cur.rowcount
                shape = (chunk.columns, chunk.csv)
                statement = sql.SQL("copy pg_temp.ingest_stage ({}) from stdin{}").format(
                    sql.SQL(", ").join(map(sql.Identifier, chunk.columns)),
                    sql.SQL(" (format csv)" if chunk.csv else ""),
                )
                copy = stack.enter_context(cur.copy(statement))
            assert copy is not None
            copy.write(chunk.data)
            result.copied_chunks += 1
            if on_chunk is not None:
                on_chunk(result.copied_chunks)
    if shape is not None:
        staged += cur.rowcount
    return staged


@dataclass
class Staged:
    """What :func:`stage_checked` did: rows staged (as COPY counted them) and quarantined."""

    staged: int = 0
    quarantined: int = 0
    copied_chunks: int = 0


def _chunks_of(rows: object, chunk_rows: int) -> tuple[Iterable[CopyChunk], Problems]:
    """The input as COPY chunks, and the problems its reading finds (a stream's own)."""
    if hasattr(rows, "copy_chunks"):
        return rows.copy_chunks(chunk_rows), rows.problems  # type: ignore[attr-defined]
    if isinstance(rows, pd.DataFrame):
        return _frame_chunks(rows, chunk_rows), Problems()
    return _tuple_chunks(rows, chunk_rows), Problems()  # type: ignore[arg-type]


def stage_checked(
    cur: psycopg.Cursor,
    rows: object,
    source: str,
    *,
    check_sql: str,
    last_closed: object,
    run_id: int | None,
    strict: bool,
    origin: str,
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[int], None] | None = None,
    after_copy: Callable[[psycopg.Cursor], None] | None = None,
    to_error: Callable[[str, tuple], RowError] | None = None,
    copied: object | None = None,
) -> Staged:
    """The steps every market-data load shares, in the caller's transaction: a fresh staging
    table, the rows COPY-ed into it in bounded chunks, ``check_sql`` (the price checks, or
    the FX ones on top), then, ``strict``, :class:`LoadError` listing the first problems by
    line (the reader's own included) and their count, else the refused rows quarantined.
    ``after_copy`` runs between the COPY and the checks; ``to_error`` words a problem row."""
    to_error = to_error or _row_error
    chunks, read_problems = _chunks_of(rows, chunk_rows)
    staged = Staged()
    cur.execute(STAGE_SQL)
    staged.staged = _copy_all(cur, chunks, copied or staged, on_chunk)
    if after_copy is not None:
        after_copy(cur)
        staged.staged = cur.execute("select count(*) from pg_temp.ingest_stage").fetchone()[0]
    if strict and staged.staged == 0 and read_problems.total:
        raise LoadError(origin, read_problems.first, read_problems.total)
    if staged.staged == 0:
        return staged
    bad = cur.execute(check_sql, {"last_closed": last_closed}).fetchone()[0]
    if strict:
        if bad or read_problems.total:
            listed = cur.execute(PROBLEMS_SQL, {"limit": MAX_REPORTED_ERRORS}).fetchall()
            errors = [to_error(origin, r) for r in listed] + read_problems.first
            errors.sort(key=lambda e: e.line)
            raise LoadError(origin, errors, bad + read_problems.total)
    elif bad:
        params = {"run_id": run_id, "source": source}
        staged.quarantined = cur.execute(QUARANTINE_SQL, params).fetchone()[0]
    return staged


def load_rows(
    conn: psycopg.Connection,
    rows: Iterable[tuple] | pd.DataFrame | RowStream,
    source: str,
    *,
    last_closed: object,
    run_id: int | None = None,
    strict: bool = False,
    origin: str = "input",
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[int], None] | None = None,
) -> LoadResult:
    """Load price rows in one transaction: COPY → validate → quarantine → one upsert.

    ``rows`` is a long DataFrame with columns symbol, price_date, close and optionally
    adj_close, volume; or an iterable of (line, symbol, price_date, close, adj_close, volume)
    tuples, where ``line`` is the row's line in its source (named in errors); or a
    :class:`RowStream` such as a price file. Rows are COPY-ed into the staging table in
    chunks of at most ``chunk_rows`` as they come (an iterable is consumed lazily: memory does
    not grow with the input); ``on_chunk(chunks_so_far)`` is called after each chunk. The
    checks and the upsert then run once, set-based, on everything staged, so the load stays
    all or nothing. ``last_closed`` is the last closed session: later dates are refused.
    ``strict`` refuses the whole input on any invalid row (raising :class:`LoadError` with
    the first problems by line and their count, the stream's own included) instead of
    quarantining it.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    result = LoadResult()
    with conn.transaction(), conn.cursor() as cur:
        staged = stage_checked(
            cur, rows, source, check_sql=CHECK_SQL, last_closed=last_closed, run_id=run_id,
            strict=strict, origin=origin, chunk_rows=chunk_rows, on_chunk=on_chunk,
            copied=result,
        )  # fmt: skip
        result.staged, result.quarantined = staged.staged, staged.quarantined
        if staged.staged == 0:
            return result
        valid, inserted, updated, flagged, dirty, symbols = cur.execute(
            PUBLISH_SQL, {"source": source, "run_id": run_id}
        ).fetchone()
        result.inserted, result.updated, result.flagged = inserted, updated, flagged
        result.unchanged = valid - inserted - updated
        result.dirty = {symbol: str(day) for symbol, day in dirty.items()}
        result.symbols = set(symbols)
    return result


def _row_error(origin: str, row: tuple) -> RowError:
    line, field_, expected, symbol, price_date, close, adj_close, volume, detail = row
    got = {
        "symbol": shown(symbol) if symbol is not None else "nothing",
        "date": str(price_date),
        "close": str(close),
        "adj_close": str(adj_close),
        "volume": str(volume),
    }.get(field_, f"{symbol} {price_date}")
    why = f" ({detail})" if detail else ""  # what is wrong with a symbol (market.symbol_problem)
    return RowError(origin, line, field_, f"expected {expected}, got {got}{why}")


@dataclass
class ActionResult:
    """What one load of corporate actions did (market.load_actions)."""

    splits_written: int = 0
    dividends_written: int = 0
    quarantined: int = 0


def load_actions(
    conn: psycopg.Connection,
    actions: pd.DataFrame,
    source: str,
    last_closed: object,
    run_id: int | None = None,
) -> ActionResult:
    """Validate and write a provider's splits and dividends (columns symbol, ex_date, action,
    value) in the caller's transaction: the valid rows go to market.splits /
    market.dividends, the others to market.quarantine with their reason
    (sql/routines/41_action_load.sql). Loading the same rows again writes nothing."""
    if actions is None or actions.empty:
        return ActionResult()
    rows = [
        {
            "symbol": str(row.symbol),
            "ex_date": pd.Timestamp(row.ex_date).date().isoformat(),
            "action": str(row.action),
            "value": repr(float(row.value)).replace("inf", "Infinity").replace("nan", "NaN"),
        }
        for row in actions.itertuples(index=False)
    ]
    written = conn.execute(
        "select * from market.load_actions(%s::jsonb, %s, %s, %s)",
        [json.dumps(rows), source, run_id, last_closed],
    ).fetchone()
    return ActionResult(*written)
