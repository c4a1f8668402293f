"""ingest_prices: symbol selection, incremental plans, resumable runs, the runs ledger, demo."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
import pytest

from ingest import calendar
from ingest.prices import (
    INGEST_LOCK,
    default_symbols,
    ingest_prices,
    plan,
)
from ingest.providers.demo import CATALOGUE
from tests.ingest_fakes import demo_download

# The factor proxies migration 0040 seeds in market.factors, and the risk-free proxy (BIL).
FACTOR_ETFS = ("SPY", "VUG", "VTV", "MTUM", "QUAL", "IWM", "USMV", "TLT", "BIL")


def sessions(conn: psycopg.Connection) -> pd.DataFrame:
    rows = conn.execute(
        "select session_date, session_idx from market.trading_days order by 1"
    ).fetchall()
    return pd.DataFrame(rows, columns=["session_date", "session_idx"])


def add_position(
    conn: psycopg.Connection, symbol: str, entry: str, klass: str = "PUBLIC", deleted: bool = False
) -> None:
    user = conn.execute(
        "insert into core.users (email) values ('o@example.com')"
        " on conflict (lower(email)) do update set email = excluded.email returning user_id"
    ).fetchone()[0]
    portfolio = conn.execute(
        "insert into core.portfolios (user_id, name, benchmark_symbol) values (%s, 'p', 'SPY')"
        " on conflict (user_id, name) do update set name = excluded.name returning portfolio_id",
        [user],
    ).fetchone()[0]
    conn.execute("insert into market.symbols (symbol) values (%s) on conflict do nothing", [symbol])
    conn.execute(
        "insert into core.positions (portfolio_id, symbol, investment_class, quantity,"
        " entry_date, entry_price, deleted_at) values (%s, %s, %s, 1, %s, 10, %s)",
        [portfolio, symbol, klass, entry, dt.datetime.now(dt.UTC) if deleted else None],
    )


def price_rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select symbol, price_date, close, adj_close, volume, source from market.prices"
        " order by symbol, price_date"
    ).fetchall()


def test_default_symbols_are_held_underlyings_benchmarks_factors_and_universe(
    conn: psycopg.Connection,
) -> None:
    add_position(conn, "AAPL", "2024-03-01")
    add_position(conn, "MSFT250117C00400000", "2024-03-01", "OPTIONS")
    add_position(conn, "MYHOUSE", "2024-03-01", "PRIVATE")
    add_position(conn, "GONE", "2024-03-01", deleted=True)
    conn.execute("insert into market.symbols (symbol, is_universe) values ('NVDA', true)")
    conn.execute(
        "insert into market.symbols (symbol, status, status_reason) values"
        " ('OLDCO', 'delisted', 'possibly delisted')"
    )
    add_position(conn, "OLDCO", "2024-03-01")
    wanted, skipped = default_symbols(conn)
    assert set(wanted) == {"AAPL", "MSFT", "NVDA", "SPY", *FACTOR_ETFS}
    assert skipped == {"OLDCO": "delisted: possibly delisted"}


def test_the_factor_proxies_fetched_are_the_rows_of_market_factors(
    conn: psycopg.Connection,
) -> None:
    # README: an operator edits market.factors, no code
    conn.execute(
        "insert into market.symbols (symbol, kind) values ('SCHD', 'etf'), ('VOOG', 'etf')"
    )
    conn.execute(
        "insert into market.factors (factor, proxy_symbol, description)"
        " values ('dividend', 'SCHD', 'Dividend payers over the market.')"
    )
    conn.execute("update market.factors set proxy_symbol = 'VOOG' where factor = 'growth'")
    conn.execute("update ops.settings set value = '0' where key = 'risk_free_symbol'")
    wanted, _ = default_symbols(conn)
    expected = (set(FACTOR_ETFS) - {"VUG", "BIL"}) | {"SCHD", "VOOG"}
    assert set(wanted) == expected


def test_plan_new_held_symbol_starts_a_year_before_entry_others_five_years_back(
    conn: psycopg.Connection,
) -> None:
    add_position(conn, "AAPL", "2024-03-01")
    last = dt.date(2025, 6, 30)
    requests, current = plan(conn, ["AAPL", "VTV"], last, "XNYS")
    starts = {r.symbol: r.start for r in requests}
    assert starts["AAPL"] == dt.date(2023, 3, 1)
    assert starts["VTV"] == dt.date(2020, 6, 30)  # earlier than any entry minus a year
    assert {r.end for r in requests} == {last} and current == []


def test_plan_incremental_overlaps_five_sessions_and_skips_current(
    conn: psycopg.Connection,
) -> None:
    conn.execute(
        "insert into market.prices (symbol, price_date, close, source) values"
        " ('SPY', '2020-01-02', 1, 'csv'), ('SPY', '2025-01-13', 1, 'csv'),"
        " ('VTV', '2020-01-02', 1, 'csv'), ('VTV', '2025-01-17', 1, 'csv')"
    )
    requests, current = plan(conn, ["SPY", "VTV"], dt.date(2025, 1, 17), "XNYS")
    # five sessions before Mon 2025-01-13: 10, 8, 7, 6, 3 (the 9th was closed)
    assert [(r.symbol, r.start) for r in requests] == [("SPY", dt.date(2025, 1, 3))]
    assert current == ["VTV"]


def test_an_entry_before_stored_history_triggers_a_backfill_once(
    conn: psycopg.Connection,
) -> None:
    conn.execute(
        "insert into market.prices (symbol, price_date, close, source) values"
        " ('SPY', '2023-01-03', 1, 'csv'), ('SPY', '2025-01-17', 1, 'csv')"
    )
    add_position(conn, "SPY", "2022-06-01")
    requests, _ = plan(conn, ["SPY"], dt.date(2025, 1, 17), "XNYS")
    assert [(r.symbol, r.start) for r in requests] == [("SPY", dt.date(2021, 6, 1))]
    conn.execute("update market.symbols set history_from = '2021-06-01' where symbol = 'SPY'")
    assert plan(conn, ["SPY"], dt.date(2025, 1, 17), "XNYS")[0] == []


def test_demo_prices_are_synthetic_on_sessions_only_and_cover_the_catalogue(
    conn: psycopg.Connection,
) -> None:
    summary = ingest_prices(source="demo", conn=conn)
    assert summary.status == "succeeded" and summary.synthetic
    last = calendar.last_closed_session(conn)
    stats = conn.execute(
        """
        select count(distinct symbol), max(price_date), bool_and(source = 'demo'),
            count(*) filter (where price_date not in (
                select session_date from market.trading_days))
        from market.prices
        """
    ).fetchone()
    assert stats == (len(set(CATALOGUE) | set(FACTOR_ETFS)), last, True, 0)
    assert "^GSPC" in CATALOGUE and {"GGIPX", "GINDX", "NEAIX"} <= set(CATALOGUE)
    # plausible: daily moves of the index stay within a few percent
    worst = conn.execute(
        "select max(abs(close / lag - 1)) from (select close, lag(close) over (order by"
        " price_date) from market.prices where symbol = '^GSPC') as s"
    ).fetchone()[0]
    assert worst < 0.1


def test_demo_incremental_and_full_runs_store_identical_rows(conn: psycopg.Connection) -> None:
    ingest_prices(source="demo", symbols=["SPY", "ACME"], conn=conn)
    full = price_rows(conn)
    conn.execute(
        "delete from market.prices where price_date > (select max(price_date) - 20"
        " from market.prices)"
    )
    summary = ingest_prices(source="demo", symbols=["SPY", "ACME"], conn=conn)
    assert summary.rows_updated == 0 and summary.rows_inserted > 0
    assert price_rows(conn) == full
    again = ingest_prices(source="demo", symbols=["SPY", "ACME"], conn=conn)
    assert again.symbols_current == 2 and again.rows_inserted == 0


def test_a_run_interrupted_after_some_chunks_and_restarted_matches_an_uninterrupted_one(
    conn: psycopg.Connection,
) -> None:
    symbols = [f"S{i:02d}" for i in range(10)]
    download = demo_download(sessions(conn))
    options = {"conn": conn, "source": "yfinance", "symbols": symbols, "chunk_size": 3}
    options |= {"rate": None, "sleep": lambda s: None}

    ingest_prices(fetch=download, **options)
    uninterrupted = price_rows(conn)
    assert len({r[0] for r in uninterrupted}) == 10
    conn.execute("delete from market.prices")
    conn.execute("update market.symbols set history_from = null")

    calls: list[list[str]] = []

    def dies_on_third_chunk(tickers, start, end, threads):
        calls.append(tickers)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process is stopped mid-run
        return download(tickers, start, end, threads)

    with pytest.raises(KeyboardInterrupt):
        ingest_prices(fetch=dies_on_third_chunk, **options)
    assert len({r[0] for r in price_rows(conn)}) == 6  # two chunks committed
    failed = conn.execute(
        "select status::text, error from ops.runs order by run_id desc limit 1"
    ).fetchone()
    assert failed == ("failed", "KeyboardInterrupt: interrupted")

    restarted_calls: list[list[str]] = []

    def counting(tickers, start, end, threads):
        restarted_calls.append(tickers)
        return download(tickers, start, end, threads)

    summary = ingest_prices(fetch=counting, **options)
    assert summary.status == "succeeded"
    assert summary.symbols_current == 6 and summary.symbols_fetched == 4
    assert sum(len(c) for c in restarted_calls) == 4  # only what was missing
    assert price_rows(conn) == uninterrupted


def test_a_run_is_recorded_with_heartbeat_rows_and_summary(conn: psycopg.Connection) -> None:
    summary = ingest_prices(source="demo", symbols=["SPY"], conn=conn, chunk_size=1)
    run = conn.execute(
        "select kind, target, status::text, rows, finished_at >= heartbeat_at - interval '1s',"
        " details ->> 'chunks_done', message from ops.runs where run_id = %s",
        [summary.run_id],
    ).fetchone()
    assert run[:4] == ("ingest_prices", "demo", "succeeded", summary.rows_inserted)
    assert run[4] is True and run[5] == "1"
    assert "1 symbols" in run[6]


def test_a_second_ingest_while_one_runs_is_skipped_and_loads_nothing(
    conn: psycopg.Connection, db_url: str
) -> None:
    ingest_prices(source="demo", symbols=["SPY"], conn=conn)
    before = price_rows(conn)
    running = conn.execute(
        "insert into ops.runs (kind, target) values ('ingest_prices', 'demo') returning run_id"
    ).fetchone()[0]
    with psycopg.connect(db_url, autocommit=True) as other:  # the running ingest's session
        other.execute("select pg_advisory_lock(%s)", [INGEST_LOCK])
        conn.execute(
            "delete from market.prices where symbol = 'SPY' and price_date > %s", [before[-10][1]]
        )
        summary = ingest_prices(source="demo", symbols=["SPY"], conn=conn)
        assert summary.status == "skipped"
        assert summary.message == f"another price ingest is running (run {running})"
        assert price_rows(conn) == before[:-9]
        status = conn.execute(
            "select status::text, message from ops.runs where run_id = %s", [summary.run_id]
        ).fetchone()
        assert status == ("skipped", summary.message)
    # the lock is gone with the other session once its backend has exited (closing the client
    # does not wait for that): wait for it, bounded by lock_timeout; then the next run loads again
    conn.execute("set lock_timeout = '10s'")
    conn.execute("select pg_advisory_lock(%s), pg_advisory_unlock(%s)", [INGEST_LOCK, INGEST_LOCK])
    conn.execute("reset lock_timeout")
    assert ingest_prices(source="demo", symbols=["SPY"], conn=conn).status == "succeeded"
    assert price_rows(conn) == before


def test_all_symbols_failing_ends_the_run_failed_with_the_error(
    conn: psycopg.Connection,
) -> None:
    summary = ingest_prices(
        source="yfinance",
        symbols=["SPY"],
        fetch=lambda t, s, e, n: pd.DataFrame(),
        conn=conn,
        rate=None,
        max_attempts=2,
        sleep=lambda s: None,
    )
    assert summary.status == "failed"
    run = conn.execute(
        "select status::text, error from ops.runs where run_id = %s", [summary.run_id]
    ).fetchone()
    assert run[0] == "failed" and "SPY" in run[1]
    assert conn.execute(
        "select status::text from market.symbols where symbol = 'SPY'"
    ).fetchone() == ("failed",)
