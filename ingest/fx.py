"""FX rates: fetched like prices, checked and quarantined by the same SQL, one ledger.

A rate is staged exactly as a price is (``market.stage_prices``: the pair's yfinance ticker as
the symbol, the rate as the close), checked by ``market.check_staged_prices`` (a date after
the last closed session or not a session, a rate that is not a finite positive number within
the bounds, a pair and date given twice) plus the pair rule (``market.check_staged_fx``: two
whole currencies of ``market.currencies``), quarantined by ``market.quarantine_staged_prices``
and written by ``market.publish_staged_fx`` into ``market.fx_rates``
(sql/routines/45_fx.sql). The runs are ``ops.runs`` rows of kind ``ingest_fx``.

- Pairs: the given ones, else ``ops.fx_pairs_needed()``: every currency a portfolio holds,
  trades or is benchmarked in, and every base currency, against USD (``EURUSD=X``: 1 EUR in
  USD); other pairs are crossed through USD.
- Incremental: a pair is fetched from OVERLAP_SESSIONS sessions before its last stored rate,
  a new pair from a year before it is first needed; a pair holding the last closed session is
  current. yfinance's rows on days the exchange calendar has no session are not rates of a
  session: they are left out (counted), not quarantined.
- CSV files (:class:`FxCsv`): ``pair,date,rate``; a file with any bad row is refused naming
  file, line and field, and writes nothing.
- ``demo``: SYNTHETIC rates (ingest/providers/demo.py, deterministic per pair and session,
  NOT market data), stored with source 'demo'; the same plan, checks and ledger.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from foliodb.errors import BadArgument, FolioError, shown
from ingest import calendar as cal
from ingest import runs
from ingest.load import (
    CHUNK_ROWS,
    CopyChunk,
    LoadError,
    RowError,
    _row_error,
    _tuple_chunks,
    stage_checked,
)
from ingest.providers import Provider, Request
from ingest.providers.csvfile import DATE, NUMBER, CsvFile
from ingest.providers.demo import FX_PAIRS, DemoProvider
from ingest.providers.yahoo import DownloadFn, YahooProvider

SOURCES = ("yfinance", "csv", "demo")
# advisory lock key an FX ingest holds while it runs ('FoFX')
FX_LOCK = 0x466F4658
OVERLAP_SESSIONS = 5
HISTORY_BEFORE_NEEDED = "1 year"

CHECK_SQL = "select market.check_staged_fx(%(last_closed)s)"
PUBLISH_SQL = "select * from market.publish_staged_fx(%(source)s, %(run_id)s)"
# rows on days that are not sessions of the calendar (yfinance quotes FX on NYSE holidays)
OFF_SESSION_SQL = """
    with dropped as (
        delete from pg_temp.ingest_stage as stage
        where stage.price_date is not null and not exists (
            select from market.trading_days as days
            where days.calendar = (select value from ops.settings where key = 'calendar')
                and days.session_date = stage.price_date
        )
        returning 1
    )
    select count(*) from dropped
"""
# the staged columns as an FX file names them
FIELDS = {"symbol": "pair", "close": "rate", "symbol,date": "pair,date", "date": "date"}
# EURUSD=X, EURUSD, EUR/USD (1 EUR in USD); JPY=X (1 USD in JPY, yfinance's spelling)
PAIR = re.compile(r"(?P<base>[A-Z]{3})/?(?P<quote>[A-Z]{3})(?:=X)?|(?P<quoted>[A-Z]{3})=X")


def pair_symbol(text: str) -> str | None:
    """A pair as written by a person or a provider, as its yfinance ticker (EURUSD=X)."""
    match = PAIR.fullmatch(text.strip())
    if match is None:
        return None
    if match["quoted"]:
        return f"{match['quoted']}=X"  # yfinance's own spelling of 1 USD in it
    return f"{match['base']}{match['quote']}=X"


@dataclass
class FxLoadResult:
    staged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    off_session: int = 0
    pairs: set[str] = field(default_factory=set)

    def add(self, other: FxLoadResult) -> None:
        for name in ("staged", "inserted", "updated", "unchanged", "quarantined", "off_session"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.pairs |= other.pairs


def _fx_error(origin: str, row: tuple) -> RowError:
    error = _row_error(origin, row)
    return dataclasses.replace(
        error,
        field=FIELDS.get(error.field, error.field),
        message=error.message.replace("a ticker of A-Z", "a pair such as EURUSD=X, of A-Z"),
    )


def load_fx_rows(
    conn: psycopg.Connection,
    rows: Iterable[tuple] | pd.DataFrame | FxCsv,
    source: str,
    *,
    last_closed: object,
    run_id: int | None = None,
    strict: bool = False,
    origin: str = "input",
    sessions_only: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> FxLoadResult:
    """Load FX rates in one transaction: COPY → the price checks and the pair rule →
    quarantine (or, ``strict``, refuse everything) → one write into market.fx_rates.

    ``rows``: a long frame (symbol = the pair's ticker, price_date, close = the rate), as a
    provider returns it; (line, pair, date, rate, None, None) tuples; or an :class:`FxCsv`.
    ``sessions_only`` leaves out rows on days that are not sessions (a provider's), counted
    in ``off_session``.
    """
    result = FxLoadResult()

    def drop_off_session(cur: psycopg.Cursor) -> None:
        result.off_session = cur.execute(OFF_SESSION_SQL).fetchone()[0]

    with conn.transaction(), conn.cursor() as cur:
        staged = stage_checked(
            cur, rows, source, check_sql=CHECK_SQL, last_closed=last_closed, run_id=run_id,
            strict=strict, origin=origin, chunk_rows=chunk_rows,
            after_copy=drop_off_session if sessions_only else None, to_error=_fx_error,
        )  # fmt: skip
        result.staged, result.quarantined = staged.staged, staged.quarantined
        if staged.staged == 0:
            return result
        valid, inserted, updated, pairs = cur.execute(
            PUBLISH_SQL, {"source": source, "run_id": run_id}
        ).fetchone()
        result.inserted, result.updated = inserted, updated
        result.unchanged = valid - inserted - updated
        result.pairs = set(pairs)
    return result


class FxCsv(CsvFile):
    """An FX rates file, ``pair,date,rate`` (a header row, columns in any order), as a stream.

    ``pair``: EURUSD=X, EURUSD or EUR/USD (1 EUR in USD) or JPY=X (1 USD in JPY); ``date``:
    YYYY-MM-DD; ``rate``: a number of ASCII digits. Values that cannot be read are recorded
    in ``problems`` with their line and field; the database checks the rest (known
    currencies, sessions, a positive rate within the bounds, one rate per pair and date).
    """

    REQUIRED = ("pair", "date", "rate")

    def _open(self) -> TextIO:
        return self.path.open(encoding="utf-8-sig", newline="")

    def _read_header(self) -> None:
        assert self._file is not None
        self._reader = csv.reader(self._file, strict=True)
        try:
            header = next(self._reader, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self._refuse_file(1, "header", f"unreadable: {exc}") from exc
        names = [h.strip().lower() for h in header or []]
        if sorted(names) != sorted(self.REQUIRED):
            got = ",".join(names) if names else "nothing"
            message = f"expected columns pair,date,rate, got {shown(got)}"
            raise self._refuse_file(1, "header", message)
        self._at = {name: names.index(name) for name in names}

    def _rows(self) -> Iterator[tuple]:
        refuse = self.problems.add
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                refuse(RowError(self.origin, self._reader.line_num, "row", f"unreadable: {exc}"))
                continue
            line = self._reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(self._at):
                message = f"expected {len(self._at)} fields, got {len(cells)}"
                refuse(RowError(self.origin, line, "row", message))
                continue
            pair_text, day, rate = (cells[self._at[n]].strip() for n in self.REQUIRED)
            ok = True
            pair = pair_symbol(pair_text) if pair_text.isascii() else None
            if pair is None:
                message = f"expected a pair such as EURUSD=X or EUR/USD, got {_got(pair_text)}"
                refuse(RowError(self.origin, line, "pair", message))
                ok = False
            if not DATE.fullmatch(day):
                refuse(
                    RowError(
                        self.origin, line, "date", f"expected a date YYYY-MM-DD, got {_got(day)}"
                    )
                )
                ok = False
            if not NUMBER.fullmatch(rate):
                message = f"expected a finite positive number, got {_got(rate)}"
                refuse(RowError(self.origin, line, "rate", message))
                ok = False
            if ok:
                self.rows += 1
                yield (line, pair, day, rate, None, None)
        if self.rows == 0 and self.problems.total == 0:
            refuse(RowError(self.origin, 2, "row", "expected at least one rate row"))

    def copy_chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[CopyChunk]:
        if self._file is None:
            raise RuntimeError("open the file first: with FxCsv(path) as rates: ...")
        yield from _tuple_chunks(self._rows(), chunk_rows)


def _got(text: str) -> str:
    return shown(text) if text else "nothing"


# ---------------------------------------------------------------- the run


@dataclass
class FxIngestSummary:
    run_id: int | None
    source: str
    status: str = "running"
    # demo rates are made up (ingest/providers/demo.py), not market data
    synthetic: bool = False
    last_closed: dt.date | None = None
    pairs_requested: int = 0
    pairs_fetched: int = 0
    pairs_current: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    rows_off_session: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    elapsed_s: float = 0.0

    def add(self, res: FxLoadResult) -> None:
        self.rows_inserted += res.inserted
        self.rows_updated += res.updated
        self.rows_unchanged += res.unchanged
        self.rows_quarantined += res.quarantined
        self.rows_off_session += res.off_session

    def to_dict(self) -> dict:
        data = asdict(self)
        data["last_closed"] = str(self.last_closed) if self.last_closed else None
        return data


def plan(
    conn: psycopg.Connection, pairs: list[str], last_closed: dt.date, calendar: str
) -> tuple[list[Request], list[str]]:
    """(what to fetch, which pairs are current): from OVERLAP_SESSIONS sessions before the
    last stored rate, or a year before the pair is first needed (else a year back)."""
    rows = conn.execute(
        """
        with wanted as (
            select wanted.pair, parsed.base_currency, parsed.quote_currency
            from unnest(%(pairs)s::text[]) as wanted (pair)
            cross join lateral market.fx_pair(wanted.pair) as parsed
        ),

        needed as (
            select needed.pair, needed.needed_from from ops.fx_pairs_needed() as needed
        )

        select
            wanted.pair,
            case
                when stored.last_date is null then coalesce(
                    needed.needed_from, %(last_closed)s::date
                ) - %(before)s::interval
                when stored.last_date >= %(last_closed)s then null
                else coalesce(
                    (
                        select overlap.session_date
                        from market.trading_days as last_day
                        inner join market.trading_days as overlap
                            on overlap.calendar = last_day.calendar
                            and overlap.session_idx = greatest(last_day.session_idx - %(overlap)s, 0)
                        where last_day.calendar = %(calendar)s and last_day.session_date = stored.last_date
                    ),
                    stored.last_date
                )
            end::date as fetch_from
        from wanted
        left join needed on wanted.pair = needed.pair
        cross join lateral (
            select max(rates.rate_date) as last_date
            from market.fx_rates as rates
            where rates.base_currency = wanted.base_currency and rates.quote_currency = wanted.quote_currency
        ) as stored
        order by wanted.pair
        """,
        {
            "pairs": pairs,
            "last_closed": last_closed,
            "before": HISTORY_BEFORE_NEEDED,
            "overlap": OVERLAP_SESSIONS,
            "calendar": calendar,
        },
    ).fetchall()
    requests = [Request(p, start, last_closed) for p, start in rows if start is not None]
    return requests, [p for p, start in rows if start is None]


def ingest_fx(
    conn: psycopg.Connection,
    source: str = "yfinance",
    pairs: list[str] | None = None,
    paths: list[str | Path] | None = None,
    fetch: DownloadFn | None = None,
    *,
    provider: Provider | None = None,
    sleep=time.sleep,
    rate: float | None = 2.0,
    max_attempts: int = 4,
    timeout: float | None = None,
) -> FxIngestSummary:
    """Fetch (``yfinance``) or read (``csv``, ``paths``) FX rates and load them; one
    ``ops.runs`` row of kind ``ingest_fx`` records the run. ``fetch`` replaces yfinance's
    network call (a frame shaped like ``yf.download``'s). Runs on the caller's ``conn`` (as
    folio_ingest, autocommit, as `folio ingest fx` opens it)."""
    if source not in SOURCES:
        raise FolioError(f"unknown FX source {source!r}: use one of {', '.join(SOURCES)}")
    if source == "csv" and not paths:
        raise FolioError("--source csv needs at least one file")
    started = time.monotonic()
    calendar = cal.configured_calendar(conn)
    last_closed = cal.last_closed_session(conn, calendar)
    if last_closed is None:
        raise FolioError(f"market.trading_days has no closed {calendar} session")
    if pairs is not None:
        normalized = [pair_symbol(p) for p in pairs if p.strip()]
        bad = [p for p, n in zip(pairs, normalized, strict=False) if n is None]
        if not normalized or bad:
            raise BadArgument(
                "expected FX pairs separated by commas, e.g. EURUSD=X,GBPUSD=X; "
                f"not a pair: {', '.join(map(shown, bad)) or 'none given'}",
                param_hint="--pairs",
            )
        pairs = list(dict.fromkeys(p for p in normalized if p))
    summary = FxIngestSummary(
        run_id=None, source=source, synthetic=source == "demo", last_closed=last_closed
    )
    with runs.exclusive(conn, FX_LOCK) as locked:
        if not locked:
            summary.status = "skipped"
            summary.run_id, summary.message = runs.record_skipped(
                conn, "ingest_fx", source, "FX ingest"
            )
            return summary
        with conn.transaction():
            summary.run_id = conn.execute(
                "select ops.open_run('ingest_fx', %s, %s)",
                [source, Jsonb({"pairs": pairs, "files": [str(p) for p in paths or []]})],
            ).fetchone()[0]
        error: str | None = None
        try:
            if source == "csv":
                attempted = _ingest_files(conn, summary, [Path(p) for p in paths or []])
            else:
                if pairs is None:
                    pairs = [
                        r[0]
                        for r in conn.execute(
                            "select pair from ops.fx_pairs_needed() order by pair"
                        )
                    ]
                    if source == "demo":  # the demo's pairs, needed or not (as its prices)
                        pairs = sorted(set(pairs) | set(FX_PAIRS))
                summary.pairs_requested = len(pairs)
                requests, current = plan(conn, pairs, last_closed, calendar)
                summary.pairs_current = len(current)
                if provider is None and source == "demo":
                    provider = DemoProvider(cal.stored_sessions(conn, calendar, last_closed))
                provider = provider or YahooProvider(
                    fetch, rate=rate, max_attempts=max_attempts, sleep=sleep, timeout=timeout
                )
                attempted = len(requests)
                if requests:
                    fetched = provider.fetch(requests)
                    res = load_fx_rows(
                        conn, fetched.frame, provider.source, last_closed=last_closed,
                        run_id=summary.run_id, sessions_only=True,
                    )  # fmt: skip
                    summary.add(res)
                    summary.pairs_fetched = attempted - len(fetched.failures)
                    for failure in fetched.failures.values():
                        summary.failures[failure.symbol] = f"{failure.status}: {failure.reason}"
            error = _conclude(summary, attempted)
        except BaseException as exc:
            summary.status = "failed"
            error = f"{type(exc).__name__}: {exc}"
            summary.message = error
            with contextlib.suppress(psycopg.Error):
                _finish_run(conn, summary, error)
            raise
        summary.elapsed_s = round(time.monotonic() - started, 3)
        _finish_run(conn, summary, error)
        return summary


def _ingest_files(conn: psycopg.Connection, summary: FxIngestSummary, paths: list[Path]) -> int:
    """Each file in its own transaction, strict: a file with an error writes nothing."""
    pairs: set[str] = set()
    for path in paths:
        try:
            with FxCsv(path) as rows, conn.transaction():
                res = load_fx_rows(
                    conn, rows, "csv", last_closed=summary.last_closed, run_id=summary.run_id,
                    strict=True, origin=str(path),
                )  # fmt: skip
                summary.add(res)
                pairs |= res.pairs
        except LoadError as exc:
            summary.failures[str(path)] = str(exc)
    summary.pairs_requested = summary.pairs_fetched = len(pairs)
    return len(paths)


def _conclude(summary: FxIngestSummary, attempted: int) -> str | None:
    rows = runs.row_counts(
        summary.rows_inserted, summary.rows_updated, summary.rows_unchanged,
        summary.rows_quarantined,
    )  # fmt: skip
    done = (
        f"all {summary.pairs_current} pairs current through {summary.last_closed}"
        if attempted == 0
        else f"{attempted} pair(s) or file(s): {rows}"
    )
    summary.status, summary.message, error = runs.outcome(summary.failures, attempted, done, rows)
    return error


def _finish_run(conn: psycopg.Connection, summary: FxIngestSummary, error: str | None) -> None:
    details = {
        k: v for k, v in summary.to_dict().items() if k not in ("run_id", "status", "message")
    }
    rows = summary.rows_inserted + summary.rows_updated
    runs.end_run(conn, summary.run_id, summary.status, summary.message, error, rows, details)


# ---------------------------------------------------------------- trading currencies

# lookup(symbols) -> {symbol: currency as the provider spells it}; symbols it cannot tell left out
CurrencyLookup = Callable[[list[str]], dict[str, str]]


def yfinance_currencies(symbols: list[str]) -> dict[str, str]:
    """The network: each symbol's ``Ticker.fast_info['currency']`` (GBp for London pence)."""
    import yfinance as yf

    found: dict[str, str] = {}
    for symbol in symbols:
        try:
            currency = yf.Ticker(symbol).fast_info["currency"]
        except Exception:  # unknown symbol, network: left as it is
            continue
        if isinstance(currency, str) and currency:
            found[symbol] = currency
    return found


def set_symbol_currencies(
    conn: psycopg.Connection,
    given: dict[str, str] | None = None,
    *,
    lookup: CurrencyLookup | None = None,
) -> list[tuple[str, str, str]]:
    """Set trading currencies (market.set_symbol_currencies): ``given`` as they are, else
    those ``lookup`` finds for the public symbols that matter (ops.symbols_needed). Returns
    (symbol, currency, previous) of the changed ones. A currency not in market.currencies
    refuses the whole call (:class:`FolioError`), naming the symbol. Runs on the caller's
    ``conn`` (as folio_ingest)."""
    if given is None:
        if lookup is None:
            raise FolioError("no currencies given and no lookup to find them")
        symbols = [
            row[0]
            for row in conn.execute(
                "select distinct needed.symbol from ops.symbols_needed() as needed"
                " where needed.symbol not like '^%%' and not exists ("
                "  select from market.symbols as symbols"
                "  where symbols.symbol = needed.symbol and symbols.kind = 'private')"
                " order by 1"
            )
        ]
        given = lookup(symbols) if symbols else {}
    if not given:
        return []
    try:
        with conn.transaction():
            return conn.execute(
                "select * from market.set_symbol_currencies(%s) order by 1", [Jsonb(given)]
            ).fetchall()
    except psycopg.errors.CheckViolation as exc:
        raise FolioError(exc.diag.message_primary or str(exc)) from exc
