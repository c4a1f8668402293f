"""The database agrees with an independent pandas implementation of docs/semantics.md.

On generated data (200 portfolios: fallbacks, exits, PRIVATE valuations, OPTIONS, late
listings, missing sessions), after a full build and again after incremental refreshes with
position edits, a valuation, a price correction and a new session in between. Tolerance
(docs/semantics.md): values to a relative 1e-9, returns to an absolute 1e-9, counts exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg

from bench import datagen
from bench.baselines import pandas_impl as P
from bench.baselines.compare import differences
from tests.builders import refresh

# every snapshot column the oracle computes except session_idx (the database's own ordinal)
SNAPSHOT_COLUMNS = [c for c in P.SNAPSHOT_COLUMNS if c != "session_idx"]


def _database_snapshots(conn: psycopg.Connection) -> pd.DataFrame:
    cur = conn.execute(
        f"select {', '.join(SNAPSHOT_COLUMNS)} from analytics.fct_portfolio_snapshots"
    )
    frame = pd.DataFrame(cur.fetchall(), columns=SNAPSHOT_COLUMNS)
    frame["session_date"] = pd.to_datetime(frame["session_date"])
    for col in (
        "market_value",
        "cost_basis",
        "unrealized_pnl",
        "inflow",
        "outflow",
        "benchmark_close",
        "daily_return",
        "cum_twr",
        "benchmark_cum_return",
    ):
        frame[col] = frame[col].astype(float)
    return frame


def _assert_agree(db_url: str, conn: psycopg.Connection) -> int:
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = P.compute_snapshots(P.load(db_url))
    expected["session_date"] = pd.to_datetime(expected["session_date"])
    actual = _database_snapshots(conn)
    problems = differences(
        expected[SNAPSHOT_COLUMNS], actual, keys=["portfolio_id", "session_date"]
    )
    assert problems == [], "\n".join(problems)
    return len(actual)


def test_snapshots_agree_with_pandas_after_full_and_incremental_refreshes(db_url, conn) -> None:
    datagen.generate(db_url, "tiny", portfolios=200, years=2)
    # small chunks, so the chunked path of a big scope is what the full build takes
    conn.execute("update ops.settings set value = '60' where key = 'refresh_chunk_portfolios'")
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = _assert_agree(db_url, conn)
    assert rows > 200 * 100

    # Edits an app makes, each queued by the triggers; then an incremental refresh.
    positions = conn.execute(
        "select portfolio_id, position_id, symbol, entry_date from core.positions"
        " where investment_class = 'PUBLIC' and exit_date is null and deleted_at is null"
        " order by position_id limit 3"
    ).fetchall()
    (p1, pos1, sym1, entry1), (p2, pos2, _, _), (p3, _, _, _) = positions
    close_date = conn.execute(
        "select min(session_date) from market.trading_days"
        " where session_date > %s + 30 and close_at <= ops.now()",
        [entry1],
    ).fetchone()[0]
    conn.execute(
        "update core.positions set exit_date = %s, exit_price = 42.5 where position_id = %s",
        [close_date, pos1],
    )
    conn.execute("update core.positions set deleted_at = now() where position_id = %s", [pos2])
    conn.execute(
        "insert into core.positions (portfolio_id, symbol, quantity, entry_date, entry_price)"
        " select %s, symbol, 7, %s, 12.34 from core.positions where position_id = %s",
        [p3, close_date, pos1],
    )
    private = conn.execute(
        "select portfolio_id, position_id, entry_date from core.positions"
        " where investment_class = 'PRIVATE' order by position_id limit 1"
    ).fetchone()
    conn.execute(
        "insert into core.valuations (portfolio_id, position_id, valuation_date, value)"
        " values (%s, %s, %s + 3, 123456.78) on conflict do nothing",
        private,
    )
    queued = {row[0] for row in conn.execute("select portfolio_id from ops.dirty_portfolios")}
    assert {p1, p2, p3, private[0]} <= queued
    run = refresh(conn)
    assert run["status"] == "succeeded", run
    _assert_agree(db_url, conn)

    # A corrected historical close: only the holders are recomputed, from that date.
    corrected = conn.execute(
        "select symbol, price_date from market.prices where symbol = %s"
        " order by price_date offset 40 limit 1",
        [sym1],
    ).fetchone()
    conn.execute(
        "update market.prices set close = close * 1.1 where symbol = %s and price_date = %s",
        corrected,
    )
    assert refresh(conn)["status"] == "succeeded"
    _assert_agree(db_url, conn)

    # One new session for everyone.
    datagen.add_session(db_url)
    assert refresh(conn)["status"] == "succeeded"
    _assert_agree(db_url, conn)
