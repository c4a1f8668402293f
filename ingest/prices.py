"""Price ingestion: which symbols, from when, fetched in chunks, loaded, recorded in ops.runs.

``ingest_prices`` is the library entry point, on the caller's connection (the CLI's; the
portfolio importer's through ``fetch_for_import``, on a session of its own):

- Symbols: the given ones, else every symbol that matters — held PUBLIC symbols, underlyings
  of held OPTIONS, every portfolio's benchmark, the factor ETFs and the universe. PRIVATE
  positions are never fetched; symbols marked ``unknown`` or ``delisted`` are skipped unless
  named explicitly.
- Incremental: a symbol is fetched from OVERLAP_SESSIONS sessions before its last stored date
  (to pick up corrections) through the last closed session; a new symbol from its earliest
  needed date (earliest entry held minus a year; else DEFAULT_YEARS back); a symbol already
  holding the last closed session is current and not fetched.
- Resumable: each chunk commits on its own (load, symbol statuses, heartbeat), so a run that
  is killed and started again fetches only what is missing and never duplicates a row.
- Corporate actions: a provider's splits and dividends (yfinance's) are loaded with each
  chunk's prices, in its transaction and run (ingest/load.py ``load_actions``).
- Ledger: one ops.runs row (kind ``ingest_prices``) ends succeeded, partial (failed tickers
  in details and message) or failed (with the error); one started while another runs is
  ``skipped`` and loads nothing (an advisory lock).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from foliodb.db import connect
from foliodb.errors import BadArgument, FolioError
from foliodb.security import INGEST
from ingest import calendar as cal
from ingest import runs
from ingest.load import LoadError, LoadResult, load_actions, load_rows
from ingest.providers import Fetched, Provider, Request
from ingest.providers.csvfile import PriceCsv
from ingest.providers.demo import CATALOGUE, DemoProvider
from ingest.providers.yahoo import DownloadFn, YahooProvider

SOURCES = ("yfinance", "csv", "demo")
# advisory lock key a price ingest holds while it runs (its value spells 'Foli')
INGEST_LOCK = 0x466F6C69
OVERLAP_SESSIONS = 5
DEFAULT_YEARS = 5
HISTORY_BEFORE_ENTRY = "1 year"


@dataclass
class Progress:
    """Passed to the ``progress`` callback after each chunk."""

    done: int
    total: int
    rows: int
    errors: int
    chunk: int
    chunks: int


@dataclass
class IngestSummary:
    run_id: int | None
    source: str
    status: str = "running"
    synthetic: bool = False
    last_closed: dt.date | None = None
    symbols_requested: int = 0
    symbols_fetched: int = 0
    symbols_current: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    rows_flagged: int = 0
    splits_written: int = 0
    dividends_written: int = 0
    actions_quarantined: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    dirty: dict[str, str] = field(default_factory=dict)
    chunks: int = 0
    elapsed_s: float = 0.0
    message: str = ""

    def add(self, res: LoadResult) -> None:
        self.rows_inserted += res.inserted
        self.rows_updated += res.updated
        self.rows_unchanged += res.unchanged
        self.rows_quarantined += res.quarantined
        self.rows_flagged += res.flagged
        for symbol, day in res.dirty.items():
            self.dirty[symbol] = min(day, self.dirty.get(symbol, day))

    @property
    def rows_written(self) -> int:
        return self.rows_inserted + self.rows_updated

    def to_dict(self) -> dict:
        data = asdict(self)
        data["last_closed"] = self.last_closed.isoformat() if self.last_closed else None
        return data


def bad_symbols(conn: psycopg.Connection, symbols: Sequence[str]) -> list[str]:
    """The given texts that are not symbols, in order: the rule is the database's
    (market.symbol_problem)."""
    rows = conn.execute(
        "select given.symbol from unnest(%s::text[]) with ordinality as given (symbol, n)"
        " where market.symbol_problem(given.symbol) is not null order by given.n",
        [list(symbols)],
    ).fetchall()
    return [row[0] for row in rows]


def default_symbols(conn: psycopg.Connection) -> tuple[list[str], dict[str, str]]:
    """Every symbol that matters (ops.symbols_needed: held, option underlyings, benchmarks,
    the factor proxies of market.factors, the risk-free proxy, the universe), and those skipped
    for their status (symbol → reason)."""
    rows = conn.execute(
        """
        select wanted.symbol, symbols.status::text, symbols.status_reason
        from (select distinct symbol from ops.symbols_needed()) as wanted
        left join market.symbols as symbols on symbols.symbol = wanted.symbol
        where wanted.symbol is not null
        order by wanted.symbol
        """
    ).fetchall()
    wanted = [s for s, status, _ in rows if status not in ("unknown", "delisted")]
    skipped = {s: f"{status}: {reason}" for s, status, reason in rows if s not in wanted}
    return wanted, skipped


def plan(
    conn: psycopg.Connection, symbols: Sequence[str], last_closed: dt.date, calendar: str
) -> tuple[list[Request], list[str]]:
    """(what to fetch, which symbols are already current), decided set-based in SQL."""
    rows = conn.execute(
        """
        with wanted as (
            select distinct unnest(%(symbols)s::text[]) as symbol
        ),

        -- earliest entry of a held position on the symbol (PUBLIC, or an option on it)
        held as (
            select needed.symbol, min(needed.needed_from) as first_entry
            from ops.symbols_needed() as needed
            where needed.reason in ('held', 'underlying')
            group by needed.symbol
        ),

        horizon as (
            select least(
                %(last_closed)s::date - make_interval(years => %(years)s),
                least(
                    (select min(entry_date) from core.positions where deleted_at is null),
                    (select min(activity_date) from core.activities where symbol is not null)
                ) - %(before)s::interval
            )::date as default_from
        ),

        stored as (
            select
                wanted.symbol,
                (select price_date from market.prices as p where p.symbol = wanted.symbol
                    order by price_date limit 1) as first_date,
                (select price_date from market.prices as p where p.symbol = wanted.symbol
                    order by price_date desc limit 1) as last_date
            from wanted
        ),

        needs as (
            select
                stored.*,
                symbols.history_from,
                coalesce(
                    (held.first_entry - %(before)s::interval)::date, horizon.default_from
                ) as needed_from,
                (
                    select overlap.session_date
                    from market.trading_days as last_day
                    inner join market.trading_days as overlap
                        on overlap.calendar = last_day.calendar
                        and overlap.session_idx = greatest(last_day.session_idx - %(overlap)s, 0)
                    where last_day.calendar = %(calendar)s
                        and last_day.session_date = stored.last_date
                ) as overlap_from
            from stored
            cross join horizon
            left join held on held.symbol = stored.symbol
            left join market.symbols as symbols on symbols.symbol = stored.symbol
        )

        select
            symbol,
            case
                when last_date is null then needed_from
                when needed_from < coalesce(history_from, first_date) then needed_from
                when last_date >= %(last_closed)s then null
                else coalesce(overlap_from, last_date)
            end as fetch_from
        from needs
        order by fetch_from nulls last, symbol
        """,
        {
            "symbols": list(symbols),
            "last_closed": last_closed,
            "years": DEFAULT_YEARS,
            "before": HISTORY_BEFORE_ENTRY,
            "overlap": OVERLAP_SESSIONS,
            "calendar": calendar,
        },
    ).fetchall()
    requests = [Request(s, start, last_closed) for s, start in rows if start is not None]
    current = [s for s, start in rows if start is None]
    return requests, current


def _record_chunk(
    conn: psycopg.Connection,
    run_id: int | None,
    requests: list[Request],
    fetched: Fetched,
    summary: IngestSummary,
) -> None:
    """Symbol statuses and the run's heartbeat, in the chunk's transaction."""
    ok = [r for r in requests if r.symbol not in fetched.failures]
    if ok:
        conn.execute(
            """
            update market.symbols as symbols
            set status = 'active',
                status_reason = null,
                status_at = case when symbols.status <> 'active' then now()
                    else symbols.status_at end,
                history_from = least(symbols.history_from, ok.start)  -- least() skips null
            from (select unnest(%s::text[]) as symbol, unnest(%s::date[]) as start) as ok
            where symbols.symbol = ok.symbol
            """,
            [[r.symbol for r in ok], [r.start for r in ok]],
        )
    if fetched.failures:
        failures = list(fetched.failures.values())
        conn.execute(
            """
            insert into market.symbols (symbol, status, status_reason, status_at)
            select symbol, status::market.symbol_status, reason, now()
            from unnest(%s::text[], %s::text[], %s::text[]) as f (symbol, status, reason)
            on conflict (symbol) do update
                set status = excluded.status,
                    status_reason = excluded.status_reason,
                    status_at = excluded.status_at
            """,
            [
                [f.symbol for f in failures],
                [f.status for f in failures],
                [f.reason[:500] for f in failures],
            ],
        )
    if run_id is not None:
        conn.execute(
            "select ops.run_heartbeat(%s, %s, %s)",
            [
                run_id,
                summary.rows_written,
                Jsonb({"chunks_done": summary.chunks, "symbols_done": summary.symbols_fetched}),
            ],
        )


def _start_run(conn: psycopg.Connection, source: str, details: dict) -> int:
    with conn.transaction():
        return conn.execute(
            "select ops.open_run('ingest_prices', %s, %s)", [source, Jsonb(details)]
        ).fetchone()[0]


def _finish_run(conn: psycopg.Connection, summary: IngestSummary, error: str | None) -> None:
    details = {
        k: v
        for k, v in summary.to_dict().items()
        if k not in ("run_id", "status", "message", "source")
    }
    runs.end_run(
        conn, summary.run_id, summary.status, summary.message, error, summary.rows_written,
        details,
    )  # fmt: skip


def _conclude(summary: IngestSummary, attempted: int) -> str | None:
    """Set status and message from what happened; return the error for a failed run."""
    rows = runs.row_counts(
        summary.rows_inserted, summary.rows_updated, summary.rows_unchanged,
        summary.rows_quarantined,
    )  # fmt: skip
    if summary.splits_written or summary.dividends_written or summary.actions_quarantined:
        rows += (
            f"; {summary.splits_written} splits and {summary.dividends_written} dividends"
            f" written, {summary.actions_quarantined} quarantined"
        )
    done = (
        f"all {summary.symbols_current} symbols current through {summary.last_closed}"
        if attempted == 0
        else f"{summary.symbols_fetched} symbols: {rows}"
    )
    summary.status, summary.message, error = runs.outcome(summary.failures, attempted, done, rows)
    return error


def _make_provider(
    source: str,
    conn: psycopg.Connection,
    calendar: str,
    last_closed: dt.date,
    fetch: DownloadFn | None,
    options: dict,
) -> Provider:
    if source == "yfinance":
        return YahooProvider(fetch, **options)
    if source == "demo":
        return DemoProvider(cal.stored_sessions(conn, calendar, last_closed))
    raise FolioError(f"unknown price source {source!r}: use one of {', '.join(SOURCES)}")


def ingest_prices(
    conn: psycopg.Connection,
    source: str = "yfinance",
    symbols: Sequence[str] | None = None,
    paths: Sequence[str | Path] | None = None,
    fetch: DownloadFn | None = None,
    progress: Callable[[Progress], None] | None = None,
    *,
    chunk_size: int = 50,
    rate: float | None = 2.0,
    threads: int = 2,
    max_attempts: int = 4,
    backoff: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    provider: Provider | None = None,
    timeout: float | None = None,
) -> IngestSummary:
    """Fetch and load prices; returns what was done (also recorded in ops.runs).

    ``source``: ``yfinance`` (``fetch`` replaces the network call, see
    :data:`ingest.providers.yahoo.DownloadFn`), ``csv`` (``paths``; each file is loaded
    whole or not at all) or ``demo`` (synthetic). ``provider`` overrides the source's
    provider; ``timeout`` bounds each request to Yahoo (None: FOLIO_YF_TIMEOUT, else 10 s;
    a provider that cannot be reached raises ProviderUnreachable and marks no symbol).
    Runs on the caller's ``conn`` (as folio_ingest, as `folio ingest prices` opens it;
    autocommit recommended: each chunk commits on its own; inside a caller's transaction
    chunks become savepoints).
    """
    if source not in SOURCES:
        raise FolioError(f"unknown price source {source!r}: use one of {', '.join(SOURCES)}")
    if source == "csv" and not paths:
        raise FolioError("--source csv needs at least one file")
    if source != "csv" and paths:
        raise FolioError("files are only read with --source csv")
    if chunk_size < 1:
        raise FolioError("chunk size must be at least 1")
    started = time.monotonic()
    calendar = cal.configured_calendar(conn)
    last_closed = cal.last_closed_session(conn, calendar)
    if last_closed is None:
        raise FolioError(
            f"market.trading_days has no closed {calendar} session: run `folio ingest calendar`"
        )
    if symbols is not None:
        symbols = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
        bad = bad_symbols(conn, symbols)
        if not symbols or bad:
            raise BadArgument(
                "expected tickers separated by commas, e.g. SPY,^GSPC (A-Z, 0-9 and ^ . _ = / -);"
                f" not a ticker: {', '.join(bad) or 'none given'}",
                param_hint="--symbols",
            )
    summary = IngestSummary(
        run_id=None, source=source, synthetic=source == "demo", last_closed=last_closed
    )
    # one price ingest at a time: a second one would fetch the same symbols again
    with runs.exclusive(conn, INGEST_LOCK) as locked:
        if not locked:
            summary.status = "skipped"
            summary.run_id, summary.message = runs.record_skipped(
                conn, "ingest_prices", source, "price ingest"
            )
            return summary
        summary.run_id = _start_run(
            conn,
            source,
            {"symbols": list(symbols) if symbols else None, "files": [str(p) for p in paths or []]},
        )
        error: str | None = None
        try:
            if source == "csv":
                attempted = _ingest_files(conn, summary, [Path(p) for p in paths or []], progress)
            else:
                if symbols is None:
                    symbols, summary.skipped = default_symbols(conn)
                    if source == "demo":
                        symbols = sorted(set(symbols) | set(CATALOGUE))
                summary.symbols_requested = len(symbols)
                requests, current = plan(conn, symbols, last_closed, calendar)
                summary.symbols_current = len(current)
                options = {
                    "threads": threads,
                    "rate": rate,
                    "max_attempts": max_attempts,
                    "backoff": backoff,
                    "sleep": sleep,
                    "timeout": timeout,
                }
                provider = provider or _make_provider(
                    source, conn, calendar, last_closed, fetch, options
                )
                _ingest_chunks(conn, summary, provider, requests, chunk_size, progress)
                attempted = len(requests)
            error = _conclude(summary, attempted)
        except BaseException as exc:
            summary.status = "failed"
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            error = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
            summary.message = (
                f"stopped after {summary.chunks} chunk(s); a new run continues from there: {error}"
            )
            summary.elapsed_s = round(time.monotonic() - started, 3)
            with contextlib.suppress(psycopg.Error):  # connection gone: the reaper fails the run
                _finish_run(conn, summary, error)
            raise
        summary.elapsed_s = round(time.monotonic() - started, 3)
        _finish_run(conn, summary, error)
        return summary


def _ingest_chunks(
    conn: psycopg.Connection,
    summary: IngestSummary,
    provider: Provider,
    requests: list[Request],
    chunk_size: int,
    progress: Callable[[Progress], None] | None,
) -> None:
    chunks = [requests[i : i + chunk_size] for i in range(0, len(requests), chunk_size)]
    done = 0
    for number, chunk in enumerate(chunks, start=1):
        fetched = provider.fetch(chunk)
        with conn.transaction():
            res = load_rows(
                conn,
                fetched.frame,
                provider.source,
                last_closed=summary.last_closed,
                run_id=summary.run_id,
            )
            summary.add(res)
            # the provider's splits and dividends, in the same transaction and run
            actions = load_actions(
                conn,
                fetched.actions,
                provider.source,
                last_closed=summary.last_closed,
                run_id=summary.run_id,
            )
            summary.splits_written += actions.splits_written
            summary.dividends_written += actions.dividends_written
            summary.actions_quarantined += actions.quarantined
            summary.chunks += 1
            summary.symbols_fetched += len(chunk) - len(fetched.failures)
            for failure in fetched.failures.values():
                summary.failures[failure.symbol] = f"{failure.status}: {failure.reason}"
            _record_chunk(conn, summary.run_id, chunk, fetched, summary)
        done += len(chunk)
        if progress:
            progress(
                Progress(
                    done,
                    len(requests),
                    summary.rows_written,
                    len(summary.failures),
                    number,
                    len(chunks),
                )
            )


def _ingest_files(
    conn: psycopg.Connection,
    summary: IngestSummary,
    paths: list[Path],
    progress: Callable[[Progress], None] | None,
) -> int:
    """Each file in its own transaction, strict: a file with an error writes nothing. A file
    is streamed into the staging table in bounded chunks, never read whole."""
    symbols: set[str] = set()
    for number, path in enumerate(paths, start=1):
        try:
            with PriceCsv(path) as rows, conn.transaction():
                res = load_rows(
                    conn,
                    rows,
                    "csv",
                    last_closed=summary.last_closed,
                    run_id=summary.run_id,
                    strict=True,
                    origin=str(path),
                )
                summary.add(res)
                summary.chunks += 1
                symbols |= res.symbols
                if summary.run_id is not None:
                    conn.execute(
                        "select ops.run_heartbeat(%s, %s)", [summary.run_id, summary.rows_written]
                    )
        except LoadError as exc:
            summary.failures[str(path)] = str(exc)
        summary.symbols_fetched = len(symbols)
        if progress:
            progress(
                Progress(
                    number,
                    len(paths),
                    summary.rows_written,
                    len(summary.failures),
                    number,
                    len(paths),
                )
            )
    summary.symbols_requested = len(symbols)
    return len(paths)


def fetch_for_import(
    url: str | None = None, source: str = "yfinance", symbols: Sequence[str] | None = None
) -> IngestSummary:
    """The price fetch of a portfolio import (``foliodb.portfolio_io.PriceFetch``):
    :func:`ingest_prices` on a session of its own, as folio_ingest. A URL, not a connection:
    a new session is the point (the import's own session works as folio_refresh, and each
    chunk of prices commits on its own, apart from the import's ledger)."""
    with connect(url, role=INGEST, autocommit=True) as conn:
        return ingest_prices(conn, source=source, symbols=symbols)
