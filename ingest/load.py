"""Loading price rows: COPY into a staging table, validate set-based, one upsert.

Every load is one transaction (a savepoint when the caller already holds one): a chunk is
loaded whole or not at all, and loading the same rows again changes nothing. The input is
streamed into the staging table in COPY chunks of at most ``CHUNK_ROWS`` rows as it is
produced (a price file, a generator, a frame), so the loading process's memory does not grow
with the input; the checks and the upsert then run once, set-based, on everything staged.

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

STAGE_DDL = """
create temp table if not exists ingest_stage (
    line bigint not null,
    symbol text,
    price_date date,
    close numeric,
    adj_close numeric,
    volume numeric
)
"""

# One problem per staged row, the first that applies; `field` and `expected` name it for a
# person ("close: expected a positive number, got -3").
CHECK_SQL = """
create temp table ingest_problems on commit drop as
with settings as (
    select
        calendars.calendar,
        %(last_closed)s::date as last_closed,
        -- sessions are kept from market.calendar_start() on (its first session named)
        market.calendar_start() as calendar_start,
        coalesce(
            (select min(days.session_date) from market.trading_days as days
             where days.calendar = calendars.calendar),
            market.calendar_start()
        ) as first_session,
        -- the bounds of stored inputs (ops.input_bounds, migration 0050)
        bounds.price_min,
        bounds.price_max,
        bounds.price_expected,
        bounds.volume_max,
        bounds.volume_expected
    from (select value as calendar from ops.settings where key = 'calendar') as calendars
    cross join (
        select
            max(min_value) filter (where kind = 'price') as price_min,
            max(max_value) filter (where kind = 'price') as price_max,
            max(expected) filter (where kind = 'price') as price_expected,
            max(max_value) filter (where kind = 'volume') as volume_max,
            max(expected) filter (where kind = 'volume') as volume_expected
        from ops.input_bounds
    ) as bounds
),

-- keys given more than once: every copy is refused
duplicates as (
    select symbol, price_date, min(line) as first_line
    from ingest_stage
    group by symbol, price_date
    having count(*) > 1
),

-- the format check once per distinct symbol, not per row
symbols as (
    select symbol, market.symbol_problem(symbol) is null as is_wellformed
    from (select distinct symbol from ingest_stage) as distinct_symbols
),

checked as (
    select
        stage.*,
        case
            when not coalesce(symbols.is_wellformed, false)
                then 'symbol'
            when stage.price_date is null then 'date'
            when stage.price_date > settings.last_closed then 'date'
            when stage.price_date < settings.calendar_start then 'date'
            when trading_days.session_date is null then 'date'
            when stage.close is null or stage.close in ('NaN', 'Infinity', '-Infinity')
                then 'close'
            when stage.close <= 0 then 'close'
            when stage.close not between settings.price_min and settings.price_max then 'close'
            when stage.adj_close in ('NaN', 'Infinity', '-Infinity') or stage.adj_close <= 0
                or stage.adj_close not between settings.price_min and settings.price_max
                then 'adj_close'
            when stage.volume in ('NaN', 'Infinity', '-Infinity') or stage.volume < 0
                or stage.volume <> trunc(stage.volume) or stage.volume > settings.volume_max
                then 'volume'
            when duplicates.symbol is not null then 'symbol,date'
        end as problem_field,
        case
            when not coalesce(symbols.is_wellformed, false)
                then 'a ticker of A-Z, 0-9 and ^ . _ = / - (at most 32 characters)'
            when stage.price_date is null then 'a date'
            when stage.price_date > settings.last_closed
                then 'a date on or before the last closed session ' || settings.last_closed
            when stage.price_date < settings.calendar_start
                then 'a date on or after ' || settings.calendar_start || ': the '
                    || settings.calendar || ' calendar starts at ' || settings.first_session
                    || ' (sessions are kept from ' || settings.calendar_start || ' on)'
            when trading_days.session_date is null
                then 'a ' || settings.calendar || ' trading day'
            when stage.close is null or stage.close in ('NaN', 'Infinity', '-Infinity')
                then 'a finite number'
            when stage.close <= 0 then 'a positive number'
            when stage.close not between settings.price_min and settings.price_max
                then settings.price_expected
            when stage.adj_close in ('NaN', 'Infinity', '-Infinity') or stage.adj_close <= 0
                then 'a finite positive number or nothing'
            when stage.adj_close not between settings.price_min and settings.price_max
                then settings.price_expected || ', or nothing'
            when stage.volume in ('NaN', 'Infinity', '-Infinity') or stage.volume < 0
                or stage.volume <> trunc(stage.volume)
                then 'a non-negative whole number or nothing'
            when stage.volume > settings.volume_max
                then settings.volume_expected || ', or nothing'
            when duplicates.symbol is not null
                then 'one row per symbol and date (also given on line '
                    || duplicates.first_line || ')'
        end as expected
    from ingest_stage as stage
    cross join settings
    left join symbols on symbols.symbol = stage.symbol
    left join market.trading_days as trading_days
        on trading_days.calendar = settings.calendar
        and trading_days.session_date = stage.price_date
    left join duplicates
        on duplicates.symbol = stage.symbol
        and duplicates.price_date = stage.price_date
)

select * from checked where problem_field is not null
"""

QUARANTINE_SQL = """
insert into market.quarantine
    (run_id, symbol, price_date, close, adj_close, volume, source, reason)
select
    %(run_id)s, symbol, price_date, close::text, adj_close::text, volume::text, %(source)s,
    problem_field || ': expected ' || expected || ', got ' || coalesce(
        case problem_field
            when 'symbol' then quote_nullable(symbol)
            when 'date' then price_date::text
            when 'close' then core.number_shown(close)
            when 'adj_close' then core.number_shown(adj_close)
            when 'volume' then core.number_shown(volume)
            else symbol || ' ' || price_date
        end,
        'nothing'
    )
from ingest_problems
"""

VALID_ROWS = """
select stage.symbol, stage.price_date, stage.close, stage.adj_close, stage.volume::bigint as volume
from ingest_stage as stage
where not exists (select from ingest_problems as problems where problems.line = stage.line)
"""

NEW_SYMBOLS_SQL = f"""
insert into market.symbols (symbol, kind)
select
    symbol,
    (case when left(symbol, 1) = '^' then 'index' else 'unknown' end)::market.symbol_kind
from (select distinct symbol from ({VALID_ROWS}) as valid_rows) as valid
on conflict (symbol) do nothing
returning symbol
"""

# The one upsert. Every CTE sees the table as it was before the statement, so `moves`
# compares with the old neighbours. The prices triggers (ops.queue_prices_*, 20_refresh_queue.sql)
# queue corrected and backfilled symbols in ops.dirty_symbols.
UPSERT_SQL = f"""
with valid as materialized (
    {VALID_ROWS}
),

upserted as (
    insert into market.prices as prices
        (symbol, price_date, close, adj_close, volume, source, loaded_at)
    select symbol, price_date, close, adj_close, volume, %(source)s, now()
    from valid
    on conflict (symbol, price_date) do update
        set close = excluded.close,
            adj_close = excluded.adj_close,
            volume = excluded.volume,
            source = excluded.source,
            loaded_at = excluded.loaded_at
        where (prices.close, prices.adj_close, prices.volume, prices.source)
            is distinct from (excluded.close, excluded.adj_close, excluded.volume, excluded.source)
    returning prices.symbol, prices.price_date, prices.close, (prices.xmax = 0) as is_insert
),

-- each loaded row's previous close: staged rows win over stored ones
neighbours as (
    select symbol, price_date, close from valid
    union all
    select prices.symbol, prices.price_date, prices.close
    from market.prices as prices
    inner join (
        select symbol, min(price_date) as first_date, max(price_date) as last_date
        from valid group by symbol
    ) as span on span.symbol = prices.symbol
    where prices.price_date between span.first_date - 31 and span.last_date
        and not exists (
            select from valid
            where valid.symbol = prices.symbol and valid.price_date = prices.price_date
        )
),

moves as (
    select
        symbol,
        price_date,
        close,
        lag(close) over (partition by symbol order by price_date) as previous_close,
        lag(price_date) over (partition by symbol order by price_date) as previous_date
    from neighbours
),

flagged as (
    insert into market.quarantine
        (run_id, symbol, price_date, close, source, reason)
    select
        %(run_id)s, moves.symbol, moves.price_date, moves.close::text, %(source)s,
        'warning: close moved ' || to_char(100 * (moves.close / moves.previous_close - 1), 'FMSG999990.0')
        || '%% from ' || trim_scale(moves.previous_close) || ' on ' || moves.previous_date
        || ' (max_daily_move ' || settings.value || '); loaded'
    from moves
    inner join upserted
        on upserted.symbol = moves.symbol and upserted.price_date = moves.price_date
    cross join (select value from ops.settings where key = 'max_daily_move') as settings
    where moves.previous_close is not null
        and abs(moves.close / moves.previous_close - 1) > settings.value::numeric
    returning 1
)

select
    (select count(*) from valid) as valid,
    (select count(*) from upserted where is_insert) as inserted,
    (select count(*) from upserted where not is_insert) as updated,
    (select count(*) from flagged) as flagged,
    (select coalesce(array_agg(distinct symbol), '{{}}') from valid) as symbols
"""


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


def _copy_all(cur: psycopg.Cursor, chunks: Iterable[CopyChunk], result: LoadResult, on_chunk):
    """Write the chunks into ingest_stage as they come; one COPY per run of chunks of the
    same shape (a file switching from its fast path to its careful one needs two)."""
    with contextlib.ExitStack() as stack:
        shape: tuple | None = None
        copy = None
        for chunk in chunks:
            if (chunk.columns, chunk.csv) != shape:
                stack.close()
                shape = (chunk.columns, chunk.csv)
                statement = sql.SQL("copy ingest_stage ({}) from stdin{}").format(
                    sql.SQL(", ").join(map(sql.Identifier, chunk.columns)),
                    sql.SQL(" (format csv)" if chunk.csv else ""),
                )
                copy = stack.enter_context(cur.copy(statement))
            assert copy is not None
            copy.write(chunk.data)
            result.copied_chunks += 1
            if on_chunk is not None:
                on_chunk(result.copied_chunks)


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
    stream = rows if hasattr(rows, "copy_chunks") else None
    chunks: Iterable[CopyChunk]
    if stream is not None:
        chunks = stream.copy_chunks(chunk_rows)  # type: ignore[union-attr]
    elif isinstance(rows, pd.DataFrame):
        chunks = _frame_chunks(rows, chunk_rows)
    else:
        chunks = _tuple_chunks(rows, chunk_rows)  # type: ignore[arg-type]
    result = LoadResult()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(STAGE_DDL)
        cur.execute("truncate ingest_stage")
        cur.execute("drop table if exists ingest_problems")
        cur.execute("drop table if exists ingest_valid")
        _copy_all(cur, chunks, result, on_chunk)
        result.staged = cur.execute("select count(*) from ingest_stage").fetchone()[0]
        read_problems = stream.problems if stream is not None else Problems()  # type: ignore[union-attr]
        if strict and result.staged == 0 and read_problems.total:
            raise LoadError(origin, read_problems.first, read_problems.total)
        if result.staged == 0:
            return result
        cur.execute(CHECK_SQL, {"last_closed": last_closed})
        bad = cur.execute("select count(*) from ingest_problems").fetchone()[0]
        if strict:
            if bad or read_problems.total:
                rows_ = cur.execute(
                    """
                    select line, problem_field, expected, symbol, price_date,
                        core.number_shown(close), core.number_shown(adj_close),
                        core.number_shown(volume)
                    from ingest_problems
                    order by line limit %s
                    """,
                    [MAX_REPORTED_ERRORS],
                ).fetchall()
                errors = [_row_error(origin, r) for r in rows_] + read_problems.first
                errors.sort(key=lambda e: e.line)
                raise LoadError(origin, errors, bad + read_problems.total)
        elif bad:
            cur.execute(QUARANTINE_SQL, {"run_id": run_id, "source": source})
            result.quarantined = cur.rowcount
        cur.execute(NEW_SYMBOLS_SQL)
        since = cur.execute("select clock_timestamp()").fetchone()[0]
        valid, inserted, updated, flagged, symbols = cur.execute(
            UPSERT_SQL, {"source": source, "run_id": run_id}
        ).fetchone()
        dirty = dict(
            cur.execute(
                "select symbol, min(from_date) from ops.dirty_symbols where queued_at >= %s"
                " group by symbol",
                [since],
            ).fetchall()
        )
        result.inserted, result.updated, result.flagged = inserted, updated, flagged
        result.unchanged = valid - inserted - updated
        result.dirty = {symbol: str(day) for symbol, day in dirty.items()}
        result.symbols = set(symbols)
    return result


def _row_error(origin: str, row: tuple) -> RowError:
    line, field_, expected, symbol, price_date, close, adj_close, volume = row
    got = {
        "symbol": shown(symbol) if symbol is not None else "nothing",
        "date": str(price_date),
        "close": str(close),
        "adj_close": str(adj_close),
        "volume": str(volume),
    }.get(field_, f"{symbol} {price_date}")
    return RowError(origin, line, field_, f"expected {expected}, got {got}")
