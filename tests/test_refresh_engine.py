"""The refresh engine on hand-worked cases (numbers worked out in the comments)."""

from __future__ import annotations

import psycopg
import pytest

from tests.builders import add_portfolio, add_position, add_prices, refresh, snapshots

SESSIONS = ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13"]  # 01-09 closed


@pytest.fixture
def market(conn):
    """^GSPC 100..105 on every session; AAA misses 01-08 and 01-13; BBB has no price at all."""
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "AAA", {"2025-01-06": 10, "2025-01-07": 11, "2025-01-10": 12})
    return conn


def test_fallbacks_to_last_close_and_entry_price(market) -> None:
    conn = market
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, "2025-01-06", 10)
    add_position(conn, pid, "BBB", 5, "2025-01-07", 20)  # never quoted: valued at entry price
    assert refresh(conn)["status"] == "succeeded"
    snaps = snapshots(conn, pid)

    # The 2025-01-09 closure has no snapshot at all.
    assert list(snaps) == SESSIONS
    # 01-06: AAA 10×10 = 100 bought at 10: r = 100/100 − 1 = 0
    assert snaps["2025-01-06"]["market_value"] == 100
    assert snaps["2025-01-06"]["daily_return"] == 0
    # 01-07: AAA 10×11 = 110 + BBB 5×20 = 100 (entry) → 210; BBB's 100 came in at the start of
    # the day: r = 210/(100 + 100) − 1 = 0.05
    s = snaps["2025-01-07"]
    assert (s["market_value"], s["n_close"], s["n_entry"], s["inflow"]) == (210, 1, 1, 100)
    assert s["daily_return"] == pytest.approx(0.05, abs=1e-12)
    # 01-08: AAA has no quote: its 01-07 close (1 session old); 210 again, r = 0
    s = snaps["2025-01-08"]
    assert (s["market_value"], s["n_stale"], s["max_stale_sessions"]) == (210, 1, 1)
    assert s["daily_return"] == pytest.approx(0, abs=1e-12)
    # 01-10 (the 01-09 closure skipped): AAA 12 → 220; r = 220/210 − 1; cum = 1.05 × 220/210 − 1
    s = snaps["2025-01-10"]
    assert s["market_value"] == 220
    assert s["cum_twr"] == pytest.approx(1.05 * 220 / 210 - 1, abs=1e-12)
    # 01-13: AAA stale again (1 session); nothing moves
    s = snaps["2025-01-13"]
    assert (s["market_value"], s["n_stale"], s["cost_basis"], s["unrealized_pnl"]) == (
        220,
        1,
        200,
        20,
    )
    assert s["cum_twr"] == pytest.approx(0.10, abs=1e-12)
    # Benchmark over the same sessions: 105 / 100 − 1
    assert s["benchmark_close"] == 105
    assert s["benchmark_cum_return"] == pytest.approx(0.05, abs=1e-12)
    # Never zero: every session values something.
    assert all(row["market_value"] > 0 for row in snaps.values())


def test_position_added_mid_period_is_a_flow_not_a_gain(market) -> None:
    conn = market
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, "2025-01-06", 10)
    add_position(conn, pid, "AAA", 2, "2025-01-08", 11)  # bought at 11 on a flat day
    refresh(conn)
    snaps = snapshots(conn, pid)
    # 01-08: 12 × 11 = 132, inflow 22 at the start of the day: r = 132/(110 + 22) − 1 = 0
    assert snaps["2025-01-08"]["market_value"] == 132
    assert snaps["2025-01-08"]["inflow"] == 22
    assert snaps["2025-01-08"]["daily_return"] == pytest.approx(0, abs=1e-12)
    # 01-10: 144/132 − 1 = 1/11. The TWR is AAA's own 10 → 12 = +20 %: the 22 added is no gain.
    assert snaps["2025-01-10"]["daily_return"] == pytest.approx(1 / 11, abs=1e-12)
    assert snaps["2025-01-13"]["cum_twr"] == pytest.approx(0.20, abs=1e-12)


def test_large_purchase_above_the_close_never_goes_below_minus_100_percent(market) -> None:
    conn = market
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 1, "2025-01-06", 10)
    add_position(conn, pid, "AAA", 1000, "2025-01-07", 13)  # paid 13, closed at 11
    refresh(conn)
    # 01-07: 1001 × 11 = 11011 over 10 + 13000: r = 11011/13010 − 1 ≈ −15 %, not below −100 %
    s = snapshots(conn, pid)["2025-01-07"]
    assert s["daily_return"] == pytest.approx(11011 / 13010 - 1, abs=1e-12)


def test_closed_position_is_an_outflow_not_a_loss(market) -> None:
    conn = market
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, "2025-01-06", 10, exit_date="2025-01-10", exit_price=11.5)
    add_position(conn, pid, "AAA", 1, "2025-01-06", 10)
    refresh(conn)
    snaps = snapshots(conn, pid)
    # 01-07: 11 × 11 = 121; r = 121/110 − 1 = 0.1
    assert snaps["2025-01-07"]["daily_return"] == pytest.approx(0.1, abs=1e-12)
    # 01-10: the lot of 10 leaves at 11.5 (outflow 115); 1 × 12 stays: r = (12 + 115)/121 − 1
    s = snaps["2025-01-10"]
    assert (s["market_value"], s["outflow"], s["positions_held"]) == (12, 115, 1)
    assert s["daily_return"] == pytest.approx(127 / 121 - 1, abs=1e-12)
    assert s["cum_twr"] == pytest.approx(1.1 * 127 / 121 - 1, abs=1e-12)


def test_fully_closed_portfolio_ends_at_its_last_exit(market) -> None:
    conn = market
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, "2025-01-06", 10, exit_date="2025-01-08", exit_price=11)
    refresh(conn)
    snaps = snapshots(conn, pid)
    assert list(snaps) == ["2025-01-06", "2025-01-07", "2025-01-08"]
    # Sold everything at 11 after a close of 11: r = (0 + 110)/110 − 1 = 0, value 0, nothing held.
    last = snaps["2025-01-08"]
    assert (last["market_value"], last["positions_held"], last["outflow"]) == (0, 0, 110)
    assert last["cum_twr"] == pytest.approx(0.1, abs=1e-12)


def test_private_position_uses_last_valuation_else_cost(market) -> None:
    conn = market
    pid = add_portfolio(conn)
    pos = add_position(conn, pid, "ACME-PRIVATE", 1, "2025-01-06", 1000, investment_class="PRIVATE")
    conn.execute(
        "insert into core.valuations (portfolio_id, position_id, valuation_date, value) values"
        " (%(p)s, %(i)s, '2025-01-07', 1100), (%(p)s, %(i)s, '2025-01-11', 1210)",
        {"p": pid, "i": pos},
    )
    refresh(conn)
    snaps = snapshots(conn, pid)
    # cost until the first valuation; 1100 from 01-07; the Saturday 01-11 valuation from 01-13
    values = [snaps[s]["market_value"] for s in SESSIONS]
    assert values == [1000, 1100, 1100, 1100, 1210]
    assert [snaps[s]["n_manual"] for s in SESSIONS] == [0, 1, 1, 1, 1]
    assert snaps["2025-01-06"]["n_entry"] == 1
    assert snaps["2025-01-13"]["cum_twr"] == pytest.approx(0.21, abs=1e-12)


def test_incremental_refresh_recomputes_an_edit_and_chains_returns(market) -> None:
    conn = market
    pid = add_portfolio(conn)
    other = add_portfolio(conn, name="untouched")
    add_position(conn, pid, "AAA", 10, "2025-01-06", 10)
    add_position(conn, other, "AAA", 1, "2025-01-06", 10)
    refresh(conn, "full")
    untouched_before = snapshots(conn, other)
    run_before = untouched_before["2025-01-13"]["computed_by_run"]

    # A position edit queues only its portfolio, from the edited entry date.
    add_position(conn, pid, "BBB", 5, "2025-01-08", 20)
    queued = conn.execute("select portfolio_id, from_date from ops.dirty_portfolios").fetchall()
    assert [(p, str(f)) for p, f in queued] == [(pid, "2025-01-08")]
    run = refresh(conn)
    assert run["status"] == "succeeded"
    snaps = snapshots(conn, pid)
    # 01-08: AAA stale 110 + BBB entry 100 = 210; r = (210 − 100)/110 − 1 = 0; cum stays 0.1
    assert snaps["2025-01-08"]["market_value"] == 210
    assert snaps["2025-01-08"]["cum_twr"] == pytest.approx(0.1, abs=1e-12)
    assert snaps["2025-01-06"]["computed_by_run"] < run["run_id"]  # rows before the edit kept
    assert snaps["2025-01-08"]["computed_by_run"] == run["run_id"]
    assert snapshots(conn, other)["2025-01-13"]["computed_by_run"] == run_before
    assert conn.execute("select count(*) from ops.dirty_portfolios").fetchone()[0] == 0


def test_positions_valuations_and_activities_queue_by_one_rule(market) -> None:
    """Every write queues its portfolio from the earliest date it touches; an update from the
    old and new dates of the rows it changed, a moved row both portfolios, a no-op nothing."""
    conn = market
    pid = add_portfolio(conn)
    other = add_portfolio(conn, name="other")
    pos = add_position(conn, pid, "AAA", 10, "2025-01-08", 10)

    def queued() -> list[tuple]:
        rows = conn.execute(
            "delete from ops.dirty_portfolios returning portfolio_id, from_date::text, reason"
        ).fetchall()
        return sorted(rows)

    assert queued() == [(pid, "2025-01-08", "positions added")]
    conn.execute("update core.positions set notes = notes where position_id = %s", [pos])
    assert queued() == []
    conn.execute(
        "update core.positions set entry_date = '2025-01-09' where position_id = %s", [pos]
    )
    assert queued() == [(pid, "2025-01-08", "positions changed")]  # the old date is earlier
    conn.execute("update core.positions set portfolio_id = %s where position_id = %s", [other, pos])
    assert queued() == [(pid, "2025-01-09", "positions changed")] + [
        (other, "2025-01-09", "positions changed")
    ]
    conn.execute(
        "insert into core.valuations (portfolio_id, position_id, valuation_date, value)"
        " values (%s, %s, '2025-01-10', 100), (%s, %s, '2025-01-13', 110)",
        [other, pos, other, pos],
    )
    assert queued() == [(other, "2025-01-10", "valuations added")]
    conn.execute("delete from core.valuations where valuation_date = '2025-01-13'")
    assert queued() == [(other, "2025-01-13", "valuations deleted")]
    conn.execute(
        "insert into core.activities (portfolio_id, activity_date, activity_type, amount, external_id)"
        " values (%s, '2025-01-07', 'DEPOSIT', 500, 'deposit-1')",
        [pid],
    )
    assert queued() == [(pid, "2025-01-07", "activities added")]
    conn.execute("update core.activities set activity_date = '2025-01-06', amount = 600")
    assert queued() == [(pid, "2025-01-06", "activities changed")]
    conn.execute("delete from core.activities")
    assert queued() == [(pid, "2025-01-06", "activities deleted")]


def test_price_correction_requeues_holders_from_that_date(market) -> None:
    conn = market
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, "2025-01-06", 10)
    refresh(conn)
    conn.execute(
        "update market.prices set close = 13 where symbol = 'AAA' and price_date = '2025-01-10'"
    )
    assert conn.execute("select symbol, from_date::text from ops.dirty_symbols").fetchall() == [
        ("AAA", "2025-01-10")
    ]
    refresh(conn)
    snaps = snapshots(conn, pid)
    assert snaps["2025-01-10"]["market_value"] == 130
    assert snaps["2025-01-13"]["market_value"] == 130  # the stale close follows the correction
    assert snaps["2025-01-13"]["cum_twr"] == pytest.approx(0.3, abs=1e-12)


def test_new_session_extends_every_portfolio(conn) -> None:
    add_prices(conn, "^GSPC", {"2025-01-06": 100, "2025-01-07": 101})
    add_prices(conn, "AAA", {"2025-01-06": 10, "2025-01-07": 11})
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 1, "2025-01-06", 10)
    refresh(conn)
    assert list(snapshots(conn, pid)) == ["2025-01-06", "2025-01-07"]
    add_prices(conn, "^GSPC", {"2025-01-08": 102})
    add_prices(conn, "AAA", {"2025-01-08": 12.1})
    refresh(conn)
    snaps = snapshots(conn, pid)
    assert list(snaps) == ["2025-01-06", "2025-01-07", "2025-01-08"]
    assert snaps["2025-01-08"]["cum_twr"] == pytest.approx(0.21, abs=1e-12)
    assert snaps["2025-01-08"]["benchmark_cum_return"] == pytest.approx(0.02, abs=1e-12)


def test_refresh_without_prices_fails_with_a_reason(conn) -> None:
    run = refresh(conn)
    assert run["status"] == "failed"
    assert "ingest prices first" in run["error"]


def test_portfolio_refresh_fills_a_new_symbols_history(market) -> None:
    conn = market
    first = add_portfolio(conn)
    add_position(conn, first, "AAA", 1, "2025-01-06", 10)
    assert refresh(conn)["status"] == "succeeded"  # the nightly ran: 01-13 is covered
    # An upload holding a symbol whose prices arrive only now (the importer's backfill).
    pid = add_portfolio(conn, name="upload")
    add_position(conn, pid, "NEW", 2, "2025-01-06", 50)
    add_prices(conn, "NEW", {"2025-01-06": 50, "2025-01-07": 55, "2025-01-13": 60})
    assert refresh(conn, "portfolio", pid)["status"] == "succeeded"
    snaps = snapshots(conn, pid)
    # valued at NEW's closes, the stale one on 01-08/01-10, never its entry price after 01-06
    assert [snaps[s]["market_value"] for s in SESSIONS] == [100, 110, 110, 110, 120]
    assert [snaps[s]["n_stale"] for s in SESSIONS] == [0, 0, 1, 1, 0]
    # the queue still holds NEW for the next incremental refresh (other holders)
    assert (
        conn.execute("select count(*) from ops.dirty_symbols where symbol = 'NEW'").fetchone()[0]
        >= 1
    )
    assert _symbols_in_scope(conn) == 1  # NEW's series, once

    # A second upload holding NEW: its series is current, it is not recomputed.
    second = add_portfolio(conn, name="second upload")
    add_position(conn, second, "NEW", 1, "2025-01-07", 55)
    assert refresh(conn, "portfolio", second)["status"] == "succeeded"
    assert _symbols_in_scope(conn) == 0
    assert [snapshots(conn, second)[s]["market_value"] for s in SESSIONS[1:]] == [55, 55, 55, 60]
    # A correction of NEW since queues it again: the next upload recomputes it.
    conn.execute(
        "update market.prices set close = 66 where symbol = 'NEW' and price_date = '2025-01-13'"
    )
    third = add_portfolio(conn, name="third upload")
    add_position(conn, third, "NEW", 1, "2025-01-07", 55)
    assert refresh(conn, "portfolio", third)["status"] == "succeeded"
    assert _symbols_in_scope(conn) == 1
    assert snapshots(conn, third)["2025-01-13"]["market_value"] == 66
    # The incremental refresh still consumes every entry and recomputes every holder.
    assert refresh(conn)["status"] == "succeeded"
    assert conn.execute("select count(*) from ops.dirty_symbols").fetchone()[0] == 0
    assert snapshots(conn, pid)["2025-01-13"]["market_value"] == 132
    assert snapshots(conn, second)["2025-01-13"]["market_value"] == 66


def _symbols_in_scope(conn: psycopg.Connection) -> int:
    return conn.execute(
        "select (details ->> 'symbols_in_scope')::int from ops.runs"
        " where kind = 'refresh' order by run_id desc limit 1"
    ).fetchone()[0]


def test_retired_model_views_are_dropped_once_nothing_reads_them(conn) -> None:
    # a database built before the lots and the cash became tables keeps their old views
    conn.execute("create view analytics.int_lots_in_scope as select 1 as piece_no")
    conn.execute("create view analytics.int_cash_in_scope as select 1 as session_idx")
    conn.execute(
        "create view analytics.reads_old_cash as select * from analytics.int_cash_in_scope"
    )
    # a refresh function a partial dbt run left behind still names the old lots view
    conn.execute(
        "create function analytics.refresh__old_reader() returns bigint language sql"
        " as $$ select count(*) from analytics.int_lots_in_scope $$"
    )
    assert conn.execute("select ops.drop_retired_models()").fetchone()[0] == []
    assert conn.execute("select to_regclass('analytics.int_lots_in_scope')").fetchone()[0]
    assert conn.execute("select to_regclass('analytics.int_cash_in_scope')").fetchone()[0]

    conn.execute("drop function analytics.refresh__old_reader()")
    conn.execute("drop view analytics.reads_old_cash")
    dropped = conn.execute("select ops.drop_retired_models()").fetchone()[0]
    assert sorted(dropped) == ["analytics.int_cash_in_scope", "analytics.int_lots_in_scope"]
    assert conn.execute("select to_regclass('analytics.int_lots_in_scope')").fetchone()[0] is None
    assert conn.execute("select ops.drop_retired_models()").fetchone()[0] == []


def test_model_steps_follow_what_a_model_reads_through_views(conn) -> None:
    # fct_symbol_exposures reads the stored returns through the view int_symbol_returns_windowed
    steps = [m for (m,) in conn.execute("select model from ops.model_steps order by step_no")]
    assert steps.index("int_prices_filled_daily") < steps.index("int_symbol_returns_daily")
    assert steps.index("int_symbol_returns_daily") < steps.index("fct_symbol_exposures")
