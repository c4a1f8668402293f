"""The serving layer on hand-worked cases: chart caches, thinning, leaderboards, the read
contract through the read-only role, and `folio show / leaderboard / chart`.

Numbers are worked by hand in the comments from docs/semantics.md.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner

from bench import datagen
from cli.main import cli
from tests.builders import add_portfolio, add_position, add_prices, refresh

# XNYS: 2025-01-01 is a holiday, so 2025's first session is 2025-01-02.
SESSIONS = ["2024-12-30", "2024-12-31", "2025-01-02", "2025-01-03", "2025-01-06"]


# each chart's points as the read contract (app.chart_points) gives them, beside the chart row
POINT_ARRAYS = (
    " cross join lateral (select array_agg(point_date order by point_no) as point_dates,"
    " array_agg(value order by point_no) as point_values,"
    " array_agg(cum_return order by point_no) as point_cum_returns,"
    " array_agg(benchmark_cum_return order by point_no) as point_benchmark_cum_returns"
    " from app.chart_points where (portfolio_id, period) = (caches.portfolio_id, caches.period))"
    " as points"
)


def charts(conn: psycopg.Connection, portfolio_id: int) -> dict[str, dict]:
    cur = conn.execute(
        "select caches.*, points.* from analytics.fct_chart_caches as caches"
        + POINT_ARRAYS
        + " where caches.portfolio_id = %s",
        [portfolio_id],
    )
    names = [c.name for c in cur.description]
    return {row[1]: dict(zip(names, row, strict=True)) for row in cur}


def board(conn: psycopg.Connection, period: str) -> list[tuple]:
    return conn.execute(
        "select portfolio_id, rank, percentile, period_twr, relative_return, exclusion_reason"
        " from app.leaderboards where period = %s order by rank nulls last, portfolio_id",
        [period],
    ).fetchall()


@pytest.fixture
def market(conn):
    """^GSPC 100, 102, 101, 103, 104; AAA 10, 11, 12, 12.6, 13.2 (+10 %, then +5 % a day)."""
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 102, 101, 103, 104], strict=True)))
    add_prices(conn, "AAA", dict(zip(SESSIONS, [10, 11, 12, 12.6, 13.2], strict=True)))
    return conn


def test_ytd_starts_at_the_previous_years_last_close_and_1d_has_two_points(market) -> None:
    conn = market
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, "2024-12-30", 10)
    assert refresh(conn)["status"] == "succeeded"
    chart = charts(conn, pid)
    # Values 100, 110, 120, 126, 132; cum_twr 0, 0.1, 0.2, 0.26, 0.32 (bought at the close).

    # YTD: END 2025-01-06, START = 2024-12-31, the last close of 2024 (the return runs from the
    # close before the year's first session, 2025-01-02; 01-01 is a holiday).
    ytd = chart["YTD"]
    assert (str(ytd["start_date"]), str(ytd["end_date"]), ytd["is_partial"]) == (
        "2024-12-31",
        "2025-01-06",
        False,
    )
    # period_twr = 1.32 / 1.10 − 1 = 0.20; benchmark 104 / 102 − 1
    assert ytd["period_twr"] == pytest.approx(0.20, abs=1e-12)
    assert ytd["benchmark_return"] == pytest.approx(104 / 102 - 1, abs=1e-12)
    assert ytd["excess_return"] == pytest.approx(0.20 - (104 / 102 - 1), abs=1e-12)
    assert [str(d) for d in ytd["point_dates"]] == [
        "2024-12-31",
        "2025-01-02",
        "2025-01-03",
        "2025-01-06",
    ]
    assert ytd["point_values"] == [110, 120, 126, 132]
    # cum returns from START: 1.2/1.1 − 1, 1.26/1.1 − 1, 1.32/1.1 − 1 = 0.2
    assert ytd["point_cum_returns"] == pytest.approx(
        [0, 1.2 / 1.1 - 1, 1.26 / 1.1 - 1, 0.2], abs=1e-12
    )
    assert ytd["point_benchmark_cum_returns"] == pytest.approx(
        [0, 101 / 102 - 1, 103 / 102 - 1, 104 / 102 - 1], abs=1e-12
    )

    # 1D: the last two closes, 126 → 132: 1.32 / 1.26 − 1 = 0.047619…; ^GSPC 104 / 103 − 1
    one_day = chart["1D"]
    assert (one_day["n_points"], str(one_day["start_date"])) == (2, "2025-01-03")
    assert one_day["period_twr"] == pytest.approx(1.32 / 1.26 - 1, abs=1e-12)
    assert one_day["benchmark_return"] == pytest.approx(104 / 103 - 1, abs=1e-12)

    # Younger than 1Y (5 sessions): START = the first session 2024-12-30, partial.
    # period_twr = 1.32 / 1.00 − 1 = 0.32 (the first day's r = 0: bought at the close).
    one_year = chart["1Y"]
    assert (str(one_year["start_date"]), one_year["is_partial"]) == ("2024-12-30", True)
    assert one_year["period_twr"] == pytest.approx(0.32, abs=1e-12)
    assert one_year["n_points"] == 5
    # 5D: END − 5 sessions is 2024-12-27, before the first session: partial too.
    assert chart["5D"]["is_partial"] and chart["5D"]["n_sessions"] == 5
    assert not chart["MAX"]["is_partial"]
    # Still holding, and 2025-01-06 is long before the last closed session: stale.
    assert chart["MAX"]["is_stale"] and not chart["MAX"]["is_closed"]
    assert str(chart["MAX"]["as_of"]) == "2025-01-06"


def test_thinning_keeps_first_last_and_the_last_month_within_260_points(conn) -> None:
    sessions = [
        str(row[0])
        for row in conn.execute(
            "select session_date from market.trading_days where calendar = 'XNYS'"
            " and session_date between '2023-06-01' and '2025-01-06' order by session_date"
        )
    ]
    # 402 sessions from 2023-06-01 through 2025-01-06; AAA closes 100, 101, 102, …
    assert len(sessions) == 402
    add_prices(conn, "^GSPC", {day: 1000 for day in sessions})
    add_prices(conn, "AAA", {day: 100 + i for i, day in enumerate(sessions)})
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 1, "2023-06-01", 100)
    refresh(conn)
    chart = charts(conn, pid)

    # MAX: n = 402 > 260. "Recent" = after 2025-01-06 − 1 month = 2024-12-06, END excluded:
    # 16 December sessions (12-09 … 12-31, no 12-25) + 01-02, 01-03 = 18 (offsets 383 … 400).
    # Remaining = offsets 1 … 382: 382 sessions; step = ceil(382 / (260 − 2 − 18)) = 2,
    # so offsets 1, 3, …, 381 are kept: 191. Total 1 + 191 + 18 + 1 = 211.
    full = chart["MAX"]
    expected = [sessions[0], *sessions[1:383:2], *sessions[383:402]]
    assert len(expected) == 211
    assert (full["n_sessions"], full["n_points"]) == (402, 211)
    assert [str(d) for d in full["point_dates"]] == expected
    assert str(full["point_dates"][0]) == "2023-06-01"
    assert str(full["point_dates"][-1]) == "2025-01-06"
    assert all(day in [str(d) for d in full["point_dates"]] for day in sessions[383:])
    # The last point: 501 / 100 − 1 = 4.01
    assert full["point_cum_returns"][-1] == pytest.approx(4.01, abs=1e-12)
    assert full["period_twr"] == pytest.approx(4.01, abs=1e-12)
    # 5Y: partial, same START as MAX, same thinning.
    assert chart["5Y"]["is_partial"] and chart["5Y"]["n_points"] == 211
    # 1Y: START = 2024-01-05 (last session on or before 2024-01-06); 252 sessions ≤ 260: all kept.
    assert str(chart["1Y"]["start_date"]) == "2024-01-05"
    assert chart["1Y"]["n_points"] == chart["1Y"]["n_sessions"] == 252
    assert max(row["n_points"] for row in chart.values()) <= 260


def test_leaderboard_tie_shares_a_rank_and_short_history_is_excluded(market) -> None:
    conn = market
    add_prices(conn, "ZZZ", dict(zip(SESSIONS, [50, 50, 50, 50, 60], strict=True)))
    add_prices(conn, "BBB", dict(zip(SESSIONS, [20, 20, 20, 20, 22], strict=True)))
    add_prices(conn, "CCC", dict(zip(SESSIONS, [30, 30, 30, 30, 29.7], strict=True)))
    best = add_portfolio(conn, "best", "a@example.com", is_public=True)
    tie_small = add_portfolio(conn, "tie small", "b@example.com", is_public=True)
    tie_big = add_portfolio(conn, "tie big", "c@example.com", is_public=True)
    worst = add_portfolio(conn, "worst", "d@example.com", is_public=True)
    young = add_portfolio(conn, "young", "e@example.com", is_public=True)
    private = add_portfolio(conn, "private", "f@example.com", is_public=False)
    add_position(conn, best, "ZZZ", 1, "2024-12-30", 50)
    add_position(conn, tie_small, "BBB", 10, "2024-12-30", 20)
    add_position(conn, tie_big, "BBB", 30, "2024-12-30", 20)  # size does not change a TWR
    add_position(conn, worst, "CCC", 1, "2024-12-30", 30)
    add_position(conn, young, "AAA", 1, "2025-01-06", 13.2)  # first session = END
    add_position(conn, private, "ZZZ", 5, "2024-12-30", 50)
    assert refresh(conn)["status"] == "succeeded"

    # 1D (2025-01-03 → 01-06): ZZZ 50 → 60 = +20 %, BBB 20 → 22 = +10 % (twice), CCC −1 %.
    # Ranks 1, 2, 2, 4. Percentile = 100 × (n − rank) / (n − 1), n = 4: 100, 66.7, 66.7, 0.
    rows = board(conn, "1D")
    bench = 104 / 103 - 1
    ranked = [r for r in rows if r[1] is not None]
    assert [(r[0], r[1]) for r in ranked] == [(best, 1), (tie_small, 2), (tie_big, 2), (worst, 4)]
    assert [r[2] for r in ranked] == pytest.approx([100, 200 / 3, 200 / 3, 0], abs=1e-9)
    assert [r[3] for r in ranked] == pytest.approx([0.2, 0.1, 0.1, -0.01], abs=1e-12)
    assert ranked[0][4] == pytest.approx(0.2 - bench, abs=1e-12)
    # The young portfolio's 1D starts before its first session: listed, not ranked.
    assert [(r[0], r[5]) for r in rows if r[1] is None] == [(young, "history shorter than period")]
    # The private portfolio is on no leaderboard.
    listed = conn.execute("select distinct portfolio_id from app.leaderboards").fetchall()
    assert private not in {r[0] for r in listed}
    # MAX needs 21 sessions of history: 5 is not enough for anyone.
    assert all(r[1] is None and r[5] == "history shorter than period" for r in board(conn, "MAX"))


def test_refresh_of_one_portfolio_rebuilds_only_its_chart_rows(market) -> None:
    conn = market
    touched = add_portfolio(conn, "touched", is_public=True)
    other = add_portfolio(conn, "other", is_public=True)
    add_position(conn, touched, "AAA", 10, "2024-12-30", 10)
    add_position(conn, other, "AAA", 5, "2024-12-30", 10)
    first = refresh(conn, "full")
    add_position(conn, touched, "AAA", 1, "2025-01-03", 12.6)  # queues `touched` only
    second = refresh(conn)
    assert second["status"] == "succeeded"

    runs = dict(
        conn.execute(
            "select portfolio_id, array_agg(distinct computed_by_run)"
            " from analytics.fct_chart_caches group by portfolio_id"
        ).fetchall()
    )
    assert runs == {touched: [second["run_id"]], other: [first["run_id"]]}
    # The step wrote 9 rows (one per period of the touched portfolio), not 18.
    written = conn.execute(
        "select rows from ops.run_steps where run_id = %s and step = 'fct_chart_caches'",
        [second["run_id"]],
    ).fetchone()[0]
    assert written == 9
    # The leaderboard is re-ranked whole: 2 portfolios × 9 periods, all from the new run.
    assert conn.execute(
        "select count(*), min(computed_by_run), max(computed_by_run) from analytics.fct_leaderboards"
    ).fetchone() == (18, second["run_id"], second["run_id"])


CONTRACT_QUERIES = {
    "portfolio_dashboard": "select * from app.portfolio_dashboard where portfolio_id = %(pid)s",
    "chart_points": "select * from app.chart_points where portfolio_id = %(pid)s"
    " and period = 'YTD' order by point_no",
    "leaderboards": "select * from app.leaderboards where period = '1D' order by rank limit 20",
    "run_status": "select * from app.run_status where kind = 'refresh'",
    "holdings": "select * from app.holdings where portfolio_id = %(pid)s",
    "cash_balances": "select * from app.cash_balances where portfolio_id = %(pid)s",
    "activities": "select * from app.activities where portfolio_id = %(pid)s"
    " order by activity_date, activity_id",
}


def test_read_only_role_reads_the_contract_and_nothing_else(market) -> None:
    conn = market
    pid = add_portfolio(conn, is_public=True)
    add_position(conn, pid, "AAA", 10, "2024-12-30", 10)
    run = refresh(conn)
    conn.execute("set role folio_reader")
    try:
        dashboard = conn.execute(CONTRACT_QUERIES["portfolio_dashboard"], {"pid": pid}).fetchall()
        assert len(dashboard) == 1
        cur = conn.execute(CONTRACT_QUERIES["portfolio_dashboard"], {"pid": pid})
        row = dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))
        # YTD from 2024-12-31's close (110): 132 / 110 − 1 = 0.2
        assert row["market_value"] == 132 and row["twr_ytd"] == pytest.approx(0.20, abs=1e-12)
        assert row["partial_periods"] == ["5D", "1M", "3M", "6M", "1Y", "5Y"]
        assert row["is_stale"] and row["has_analytics"] and not row["is_refresh_pending"]
        assert row["is_refresh_behind"] and not row["has_stale_prices"]
        points = conn.execute(CONTRACT_QUERIES["chart_points"], {"pid": pid}).fetchall()
        assert [(p[2], str(p[3]), p[4]) for p in points] == [
            (1, "2024-12-31", 110),
            (2, "2025-01-02", 120),
            (3, "2025-01-03", 126),
            (4, "2025-01-06", 132),
        ]
        assert conn.execute(CONTRACT_QUERIES["leaderboards"]).fetchone()[:3] == ("1D", 1, pid)
        status = conn.execute(
            "select last_run_id, last_status, refreshed_through, is_fresh, queued_portfolios"
            " from app.run_status where kind = 'refresh'"
        ).fetchone()
        assert status[:2] == (run["run_id"], "succeeded")
        assert str(status[2]) == "2025-01-06" and status[3] is False and status[4] == 0

        for statement in (
            "select * from core.positions",
            "select * from analytics.fct_chart_caches",
            "delete from analytics.fct_leaderboards",
            "insert into ops.dirty_portfolios (portfolio_id, from_date, reason)"
            " values (1, current_date, 'x')",
            "create view app.mine as select 1",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # The views themselves: a write fails (not updatable, and no privilege to write).
        with pytest.raises(psycopg.Error):
            conn.execute("delete from app.leaderboards")
    finally:
        conn.execute("reset role")
    # What the role holds: SELECT on the seven app views (and app.user_logins, its own row);
    # elsewhere only SELECT on what the security_invoker views read, in schemas it cannot use.
    grants = conn.execute(
        "select table_schema, table_name, privilege_type from information_schema.role_table_grants"
        " where grantee = 'folio_reader' order by table_name"
    ).fetchall()
    assert sorted(g for g in grants if g[0] == "app") == [
        ("app", "activities", "SELECT"),
        ("app", "cash_balances", "SELECT"),
        ("app", "chart_points", "SELECT"),
        ("app", "holdings", "SELECT"),
        ("app", "leaderboards", "SELECT"),
        ("app", "portfolio_dashboard", "SELECT"),
        ("app", "run_status", "SELECT"),
        ("app", "user_logins", "SELECT"),
    ]
    assert {g[2] for g in grants} == {"SELECT"}
    assert not conn.execute(
        "select array_agg(nspname) from pg_namespace where nspname in"
        " ('core', 'market', 'ops', 'analytics') and has_schema_privilege('folio_reader', oid, 'usage')"
    ).fetchone()[0]


def test_each_contract_relation_is_an_indexed_lookup(market) -> None:
    conn = market
    pid = add_portfolio(conn, is_public=True)
    add_position(conn, pid, "AAA", 10, "2024-12-30", 10)
    refresh(conn)
    # Tiny tables are cheaper to scan; forbid that to show an index path exists for each.
    conn.execute("set enable_seqscan = off")
    for name, query in CONTRACT_QUERIES.items():
        plan = "\n".join(r[0] for r in conn.execute("explain " + query, {"pid": pid}).fetchall())
        for table in (
            "activities",
            "fct_chart_caches",
            "fct_leaderboards",
            "fct_portfolio_cash",
            "fct_portfolio_holdings",
            "fct_portfolio_snapshots",
            "portfolios",
            "runs",
        ):
            assert f"Seq Scan on {table} " not in plan, f"{name}:\n{plan}"
        assert "Index" in plan, f"{name}:\n{plan}"


@pytest.fixture
def served(market, use_db):
    conn = market
    pid = add_portfolio(conn, "Growth", "g@example.com", is_public=True)
    add_position(conn, pid, "AAA", 10, "2024-12-30", 10)
    assert refresh(conn)["status"] == "succeeded"
    return pid


def test_cli_show_leaderboard_chart(served, tmp_path) -> None:
    runner = CliRunner()
    pid = served
    res = runner.invoke(cli, ["show", str(pid)])
    assert res.exit_code == 0, res.output
    # YTD from 2024-12-31's close: 132 / 110 − 1 = +20 %
    assert "Growth" in res.output and "132.00" in res.output and "+20.00%" in res.output

    res = runner.invoke(cli, ["show", "growth", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    ytd = next(p for p in data["periods"] if p["period"] == "YTD")
    assert ytd["twr"] == pytest.approx(0.20, abs=1e-12) and ytd["n_points"] == 4

    res = runner.invoke(cli, ["leaderboard", "--period", "1d", "--json"])
    assert res.exit_code == 0, res.output
    lb = json.loads(res.output)
    assert lb["period"] == "1D" and [r["portfolio_id"] for r in lb["ranked"]] == [pid]
    res = runner.invoke(cli, ["leaderboard", "--period", "1Y", "--excluded"])
    assert res.exit_code == 0 and "history shorter than period" in res.output

    out = tmp_path / "chart.png"
    res = runner.invoke(cli, ["chart", str(pid), "--period", "YTD", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads(res.output)["points"]) == 4


def test_cli_errors_and_help(served) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["leaderboard", "--period", "2Y"])
    assert res.exit_code == 2 and "unknown period" in res.output
    res = runner.invoke(cli, ["show", "999999"])
    assert res.exit_code == 1 and "no portfolio with id 999999" in res.output
    res = runner.invoke(cli, ["chart", "nobody", "--period", "1Y"])
    assert res.exit_code == 1 and "no portfolio named" in res.output
    for command in ("show", "leaderboard", "chart", "demo"):
        res = runner.invoke(cli, [command, "--help"])
        assert res.exit_code == 0 and "Example:" in res.output, command


def _same(ours: float | None, theirs: float) -> bool:
    if ours is None:
        return theirs != theirs  # NaN
    return ours == pytest.approx(theirs, abs=1e-9)


def test_marts_agree_with_the_independent_pandas_implementation(db_url, conn) -> None:
    """Every period's dates, return, benchmark return, points and every rank, on generated data
    (fallbacks, exits, PRIVATE, OPTIONS, late listings; 2 years, so MAX is thinned)."""
    import numpy as np
    import pandas as pd

    from bench import datagen
    from bench.baselines import pandas_impl as P

    datagen.generate(db_url, "tiny", years=2)
    assert refresh(conn, "full")["status"] == "succeeded"
    inputs = P.load(db_url)
    # The oracle's charts are computed from the SQL snapshots: this test is about the serving
    # marts (periods, thinning, returns, ranks); snapshots have their own comparison.
    cur = conn.execute(
        "select portfolio_id, session_date, market_value::float8, cum_twr,"
        " benchmark_close::float8 from analytics.fct_portfolio_snapshots"
    )
    snaps = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    snaps["session_date"] = pd.to_datetime(snaps["session_date"])
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 after a wipeout
        charts_pd, points_pd = P.compute_charts(snaps, inputs.sessions)
    ranked_pd, excluded_pd = P.compute_leaderboards(
        charts_pd, inputs.portfolios, inputs.rank_tie_tolerance
    )

    cur = conn.execute(
        "select portfolio_id, period, start_date, end_date, period_twr, benchmark_return,"
        " is_partial, n_sessions, n_points, point_dates, point_cum_returns"
        " from analytics.fct_chart_caches as caches" + POINT_ARRAYS
    )
    ours = {(r[0], r[1]): r for r in cur}
    assert len(ours) == len(charts_pd) == 9 * 50
    points_by = points_pd.groupby(["portfolio_id", "period"])
    for row in charts_pd.itertuples():
        mine = ours[(row.portfolio_id, row.period)]
        where = (row.portfolio_id, row.period)
        assert (mine[2], mine[3]) == (row.start_date.date(), row.end_date.date()), where
        assert (mine[6], mine[7], mine[8]) == (row.is_partial, row.n_sessions, row.n_points), where
        # after a wipeout (cum_twr = −1) the ratio is 0/0: NaN there, null here
        assert _same(mine[4], row.period_twr), where
        assert _same(mine[5], row.benchmark_return), where
        theirs = points_by.get_group(where)
        assert [d for d in mine[9]] == [d.date() for d in theirs["session_date"]], where
        ours_cum = np.array([np.nan if v is None else v for v in mine[10]], dtype=float)
        assert np.allclose(
            ours_cum, theirs["cum_return"].to_numpy(), rtol=0, atol=1e-9, equal_nan=True
        ), where
    # thinning was exercised (MAX of the oldest portfolios) and kept the cap; each chart's exact
    # point count is the oracle's, above (how many that is depends on the pinned "today")
    assert any(r[8] < r[7] for r in ours.values())
    assert max(r[8] for r in ours.values()) <= 260

    ranks = dict(
        ((period, pid), rank)
        for period, pid, rank in conn.execute(
            "select period, portfolio_id, rank from analytics.fct_leaderboards where is_ranked"
        )
    )
    assert ranks == {(r.period, r.portfolio_id): r.rank for r in ranked_pd.itertuples()}
    excluded = {
        (period, pid)
        for period, pid in conn.execute(
            "select period, portfolio_id from analytics.fct_leaderboards where not is_ranked"
        )
    }
    assert excluded == {(r.period, r.portfolio_id) for r in excluded_pd.itertuples()}


def _chart_rows(conn: psycopg.Connection) -> list[tuple]:
    """Every chart cache row but computed_by_run, in key order."""
    columns = [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'analytics' and table_name = 'fct_chart_caches'"
            " and column_name <> 'computed_by_run' order by ordinal_position"
        ).fetchall()
    ]
    return conn.execute(
        f"select {', '.join(columns)} from analytics.fct_chart_caches order by portfolio_id, period"
    ).fetchall()


def _close(a: object, b: object) -> bool:
    """Equal, floats within 1e-12 (incremental snapshots chain cum_twr on the stored row, so
    their returns differ from a full rebuild's in the last bits); rows and arrays element by element."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-12
    return a == b


def test_nightly_chart_caches_with_kept_heads_equal_a_full_rebuild(db_url, conn) -> None:
    # Two years of history: 5Y and MAX are thinned, their heads kept in int_chart_heads and
    # continued night after night; a corrected close in the last month drops some of them.
    datagen.generate(db_url, "tiny", portfolios=40, years=2, spare_sessions=4)
    assert refresh(conn, "full")["status"] == "succeeded"
    assert conn.execute("select count(*) from analytics.int_chart_heads").fetchone()[0] > 0
    for night in range(4):
        datagen.add_session(db_url, seed=night)
        if night == 2:
            conn.execute(
                "update market.prices set close = close * 1.05 where (symbol, price_date) in"
                " (select symbol, max(price_date) - 10 from market.prices group by symbol limit 3)"
            )
        assert refresh(conn)["status"] == "succeeded"
    kept = conn.execute(
        "select count(*) from analytics.int_chart_heads"
        " where computed_by_run < (select max(run_id) from ops.runs)"
    ).fetchone()[0]
    assert kept > 0  # the last night reused heads computed before it
    nightly = _chart_rows(conn)
    assert refresh(conn, "full")["status"] == "succeeded"
    full = _chart_rows(conn)
    assert len(full) == len(nightly) > 40 * 9 - 40
    different = [(a[:2], b[:2]) for a, b in zip(nightly, full, strict=True) if not _close(a, b)]
    assert different == []


def _points_agree_with_pandas(db_url: str, conn: psycopg.Connection) -> int:
    """Every chart's points (app.chart_points) equal the pandas oracle's computed from the
    snapshots (bench/baselines/pandas_impl.py: periods, thinning, rebasing); the number of
    charts compared."""
    import numpy as np
    import pandas as pd

    from bench.baselines import pandas_impl as P

    inputs = P.load(db_url)
    cur = conn.execute(
        "select portfolio_id, session_date, market_value::float8 as market_value, cum_twr,"
        " benchmark_close::float8 as benchmark_close from analytics.fct_portfolio_snapshots"
    )
    snaps = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    snaps["session_date"] = pd.to_datetime(snaps["session_date"])
    with np.errstate(invalid="ignore", divide="ignore"):
        _, points_pd = P.compute_charts(snaps, inputs.sessions)
    ours = {
        (r[0], r[1]): r[2:]
        for r in conn.execute(
            "select caches.portfolio_id, caches.period, point_dates, point_values::float8[],"
            " point_cum_returns, point_benchmark_cum_returns"
            " from analytics.fct_chart_caches as caches" + POINT_ARRAYS
        )
    }
    theirs_by = dict(tuple(points_pd.groupby(["portfolio_id", "period"])))
    assert set(ours) == set(theirs_by)
    for key, (dates, values, cum, bench) in ours.items():
        theirs = theirs_by[key]
        assert list(dates) == [d.date() for d in theirs["session_date"]], key
        for mine, column in (
            (values, "value"),
            (cum, "cum_return"),
            (bench, "benchmark_cum_return"),
        ):
            mine = np.array([np.nan if v is None else v for v in mine], dtype=float)
            assert np.allclose(
                mine, theirs[column].to_numpy(dtype=float), rtol=1e-12, atol=1e-9, equal_nan=True
            ), (key, column)
    return len(ours)


def _series_rows(conn: psycopg.Connection) -> dict[int, int]:
    """Rows of fct_chart_series per portfolio."""
    return dict(
        conn.execute(
            "select portfolio_id, count(*) from analytics.fct_chart_series group by portfolio_id"
        ).fetchall()
    )


def test_nightly_series_appends_and_an_edit_inside_its_window_rebuilds_it(db_url, conn) -> None:
    # Two years: the series holds each old portfolio's last 260 sessions of about 500.
    datagen.generate(db_url, "tiny", portfolios=40, years=2, spare_sessions=3)
    assert refresh(conn, "full")["status"] == "succeeded"
    assert set(_series_rows(conn).values()) == {1}
    # the series of each portfolio's charts' END: its last (at most 260) snapshots, recomputed
    # here by a query of its own
    latest_equals_snapshots = """
        select count(*) filter (where series.portfolio_id is null
            or (series.series_idx, series.series_dates, series.series_values,
                series.series_cum_twrs, series.series_benchmark_closes)
            is distinct from (expected.series_idx, expected.dates, expected.vals,
                expected.cum_twrs, expected.closes)), count(*)
        from (
            select ends.portfolio_id, min(snapshots.session_idx) as series_idx,
                array_agg(snapshots.session_date order by snapshots.session_idx) as dates,
                array_agg(snapshots.market_value::numeric order by snapshots.session_idx) as vals,
                array_agg(snapshots.cum_twr order by snapshots.session_idx) as cum_twrs,
                array_agg(snapshots.benchmark_close order by snapshots.session_idx) as closes,
                ends.end_idx
            from (
                select portfolio_id, max(session_idx) as end_idx
                from analytics.fct_portfolio_snapshots group by portfolio_id
            ) as ends
            inner join analytics.fct_portfolio_snapshots as snapshots
                on snapshots.portfolio_id = ends.portfolio_id
                and snapshots.session_idx > ends.end_idx - 260
            group by ends.portfolio_id, ends.end_idx
        ) as expected
        left join analytics.fct_chart_series as series
            on series.portfolio_id = expected.portfolio_id and series.end_idx = expected.end_idx
    """
    assert conn.execute(latest_equals_snapshots).fetchone()[0] == 0

    # A night: each portfolio with a new session gets a new row appended from its previous
    # one, which stays until its next refresh.
    datagen.add_session(db_url, seed=0)
    assert refresh(conn)["status"] == "succeeded"
    night = conn.execute("select max(run_id) from ops.runs").fetchone()[0]
    appended = {pid for pid, n in _series_rows(conn).items() if n == 2}
    assert len(appended) > 20
    rows = dict(
        conn.execute(
            "select portfolio_id, count(*) filter (where computed_by_run = %s)"
            " from analytics.fct_chart_series group by portfolio_id",
            [night],
        ).fetchall()
    )
    assert all(rows[pid] == 1 for pid in appended)
    wrong, compared = conn.execute(latest_equals_snapshots).fetchone()
    assert (wrong, compared) == (0, 40)
    assert _points_agree_with_pandas(db_url, conn) == 40 * 9

    # The next night corrects closes 20 sessions back, inside every series' window: their
    # holders' rows are rebuilt from the corrected snapshots (their stored rows deleted, the
    # older one too), the others' appended again.
    datagen.add_session(db_url, seed=1)
    # a few symbols with one or two holders each, none a benchmark or the risk-free proxy (those
    # would put every portfolio in the scope)
    corrected = conn.execute(
        "update market.prices set close = close * 1.07"
        " where price_date = (select days.session_date from market.trading_days as days"
        "   where days.calendar = 'XNYS' and days.session_idx = (select max(session_idx) - 20"
        "   from market.trading_days where calendar = 'XNYS'"
        "   and session_date <= (select max(price_date) from market.prices)))"
        " and symbol in (select positions.symbol from core.positions as positions"
        "   where positions.symbol not in (select benchmark_symbol from core.portfolios)"
        "   and positions.symbol <> ops.setting('risk_free_symbol')"
        "   group by positions.symbol having count(distinct positions.portfolio_id) <= 2"
        "   order by positions.symbol limit 3)"
        " returning symbol"
    ).fetchall()
    assert corrected
    assert refresh(conn)["status"] == "succeeded"
    holders = {
        r[0]
        for r in conn.execute(
            "select distinct portfolio_id from core.positions where symbol = any(%s)",
            [[r[0] for r in corrected]],
        )
    }
    counts = _series_rows(conn)
    rebuilt = {pid for pid, n in counts.items() if n == 1}
    assert holders & set(counts) and holders & set(counts) <= rebuilt
    assert {pid for pid, n in counts.items() if n == 2} - holders  # some appended again
    assert conn.execute(latest_equals_snapshots).fetchone()[0] == 0
    assert _points_agree_with_pandas(db_url, conn) == 40 * 9
