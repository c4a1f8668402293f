"""The finance conventions on hand-worked cases (docs/semantics.md, docs/factors.md):

- a period's return runs from the close before its first session (YTD from the previous
  year's last close);
- returns closer than ops.settings.rank_tie_tolerance share a rank, tied leaders have
  percentile 100;
- a Sharpe ratio is null, with the reason, when too few returns have a real quote or the
  excess returns are flat;
- beta and correlation pair only sessions where the portfolio and the benchmark both have a
  real quote (on the session and the one before);
- the dashboard says apart "the refresh is behind" and "some holdings' prices are old";
- a risk-free proxy without data is said, not silently 0.

Every expected number is worked out in the comments from the closes the test writes (or, for
the regressions, computed with numpy from those closes).
"""

from __future__ import annotations

import json
import math

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from bench.baselines import orm_impl as O
from bench.baselines import pandas_impl as P
from cli.main import cli
from tests.builders import add_portfolio, add_position, add_prices, refresh

# XNYS sessions: 2025-01-01 is a holiday, 2025-01-09 a closure (National Day of Mourning).
SESSIONS = [
    "2024-12-27",
    "2024-12-30",
    "2024-12-31",
    "2025-01-02",
    "2025-01-03",
    "2025-01-06",
    "2025-01-07",
    "2025-01-08",
    "2025-01-10",
    "2025-01-13",
    "2025-01-14",
    "2025-01-15",
]


def rows(conn: psycopg.Connection, query: str, params: list | None = None) -> list[dict]:
    cur = conn.execute(query, params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def chart(conn: psycopg.Connection, portfolio_id: int, period: str) -> dict:
    """The chart row, with its points as the read contract (app.chart_points) gives them."""
    return rows(
        conn,
        "select caches.*, points.* from analytics.fct_chart_caches as caches"
        " cross join lateral (select array_agg(point_date order by point_no) as point_dates,"
        " array_agg(value order by point_no) as point_values,"
        " array_agg(cum_return order by point_no) as point_cum_returns,"
        " array_agg(benchmark_cum_return order by point_no) as point_benchmark_cum_returns"
        " from app.chart_points where (portfolio_id, period) = (caches.portfolio_id, caches.period))"
        " as points where caches.portfolio_id = %s and caches.period = %s",
        [portfolio_id, period],
    )[0]


def risk(conn: psycopg.Connection, portfolio_id: int) -> dict[str, dict]:
    found = rows(
        conn, "select * from analytics.fct_portfolio_risk where portfolio_id = %s", [portfolio_id]
    )
    return {row["period"]: row for row in found}


def board(conn: psycopg.Connection, period: str) -> dict[int, tuple]:
    return {
        row["portfolio_id"]: (row["rank"], row["percentile"], row["exclusion_reason"])
        for row in rows(
            conn,
            "select portfolio_id, rank, percentile, exclusion_reason from app.leaderboards"
            " where period = %s",
            [period],
        )
    }


# ------------------------------------------------------------------------------------ YTD


def test_ytd_runs_from_the_previous_years_last_close(conn, db_url) -> None:
    days = SESSIONS[1:6]  # 2024-12-30 … 2025-01-06
    add_prices(conn, "^GSPC", dict(zip(days, [100, 100, 102, 102, 103], strict=True)))
    add_prices(conn, "AAA", dict(zip(days, [10, 10, 11, 11.55, 11.55], strict=True)))
    old = add_portfolio(conn, "old", is_public=True)
    add_position(conn, old, "AAA", 10, "2024-12-30", 10)
    new = add_portfolio(conn, "new", email="new@example.com", is_public=True)
    add_position(conn, new, "AAA", 10, "2025-01-02", 11)
    assert refresh(conn)["status"] == "succeeded"

    # Values 100, 100, 110, 115.5, 115.5: cum_twr 0, 0, 0.10, 0.155, 0.155 (bought at the close).
    # YTD: START = 2024-12-31, the last close of 2024, so the +10 % of 2025-01-02 (the year's
    # first session) is in: 1.155 / 1.0 − 1 = 0.155 (the old rule, from 01-02: 0.05).
    ytd = chart(conn, old, "YTD")
    assert (str(ytd["start_date"]), str(ytd["end_date"]), ytd["is_partial"]) == (
        "2024-12-31",
        "2025-01-06",
        False,
    )
    assert ytd["period_twr"] == pytest.approx(0.155, abs=1e-12)
    assert ytd["benchmark_return"] == pytest.approx(103 / 100 - 1, abs=1e-12)
    # the chart's first point is the START close
    assert [str(d) for d in ytd["point_dates"]] == [
        "2024-12-31",
        "2025-01-02",
        "2025-01-03",
        "2025-01-06",
    ]
    assert ytd["point_values"] == [100, 110, 115.5, 115.5]
    assert ytd["point_cum_returns"] == pytest.approx([0, 0.10, 0.155, 0.155], abs=1e-12)
    assert ytd["point_benchmark_cum_returns"] == pytest.approx([0, 0.02, 0.02, 0.03], abs=1e-12)
    # risk over the same returns: 01-02, 01-03, 01-06
    ytd_risk = risk(conn, old)["YTD"]
    assert (str(ytd_risk["start_date"]), ytd_risk["n_returns"]) == ("2024-12-31", 3)
    assert ytd_risk["best_day_return"] == pytest.approx(0.10, abs=1e-12)

    # Entered on the year's first session: the previous year's last close is before its
    # history, so YTD is partial (from its first close: 115.5 / 110 − 1 = 0.05) and not ranked.
    young = chart(conn, new, "YTD")
    assert (str(young["start_date"]), young["is_partial"]) == ("2025-01-02", True)
    assert young["period_twr"] == pytest.approx(0.05, abs=1e-12)
    assert board(conn, "YTD") == {
        old: (1, 100, None),
        new: (None, None, "history shorter than period"),
    }

    # The pandas oracle and the ORM baseline follow the same rule.
    inputs = P.load(db_url)
    charts_pd, _ = P.compute_charts(P.compute_snapshots(inputs), inputs.sessions)
    oracle = charts_pd.set_index(["portfolio_id", "period"])
    assert str(oracle.loc[(old, "YTD"), "start_date"].date()) == "2024-12-31"
    assert oracle.loc[(old, "YTD"), "period_twr"] == pytest.approx(0.155, abs=1e-12)
    assert bool(oracle.loc[(new, "YTD"), "is_partial"])
    O.run(db_url)
    orm = conn.execute(
        "select start_date, period_twr, is_partial from bench_orm.chart_caches"
        " where portfolio_id = %s and period = 'YTD'",
        [old],
    ).fetchone()
    assert (str(orm[0]), orm[2]) == ("2024-12-31", False)
    assert orm[1] == pytest.approx(0.155, abs=1e-12)


# ---------------------------------------------------------------------------------- ties


def test_returns_within_the_tolerance_share_a_rank_and_tied_leaders_get_100(conn, db_url):
    days = ["2024-12-30", "2024-12-31"]
    add_prices(conn, "^GSPC", dict(zip(days, [100, 101], strict=True)))
    # Each portfolio buys 1 share at the close 1,000,000 on 12-30; 12-31's close sets its 1D:
    ends = {
        "AAA": "1100000",  # 0.1
        "BBB": "1100000.000001",  # 0.1 + 1e-12: within 1e-10 of AAA, a tie
        "CCC": "1050000",  # 0.05
        "DDD": "1050000",  # 0.05 exactly
        "EEE": "1000000",  # 0
    }
    ids = {}
    for n, (symbol, close) in enumerate(ends.items()):
        add_prices(conn, symbol, {days[0]: 1000000, days[1]: close})
        ids[symbol] = add_portfolio(conn, symbol, email=f"u{n}@example.com", is_public=True)
        add_position(conn, ids[symbol], symbol, 1, days[0], 1000000)
    assert refresh(conn)["status"] == "succeeded"
    twr = {s: chart(conn, pid, "1D")["period_twr"] for s, pid in ids.items()}
    assert 0 < twr["BBB"] - twr["AAA"] < 1e-10  # different floats, economically equal

    # ranks 1, 1, 3, 3, 5; percentile = 100 × (n − rank) / (n − 1), n = 5: 100, 100, 50, 50, 0
    expected = {"AAA": (1, 100), "BBB": (1, 100), "CCC": (3, 50), "DDD": (3, 50), "EEE": (5, 0)}
    got = {s: board(conn, "1D")[pid][:2] for s, pid in ids.items()}
    assert got == expected
    # a second refresh of the same data ranks the same
    assert refresh(conn, "full")["status"] == "succeeded"
    assert {s: board(conn, "1D")[pid][:2] for s, pid in ids.items()} == expected

    # The oracle and the ORM baseline rank the same way.
    inputs = P.load(db_url)
    assert inputs.rank_tie_tolerance == 1e-10
    charts_pd, _ = P.compute_charts(P.compute_snapshots(inputs), inputs.sessions)
    ranked_pd, _ = P.compute_leaderboards(charts_pd, inputs.portfolios, inputs.rank_tie_tolerance)
    one_day = ranked_pd[ranked_pd["period"] == "1D"].set_index("portfolio_id")
    assert {
        s: (one_day.loc[pid, "rank"], one_day.loc[pid, "percentile"]) for s, pid in ids.items()
    } == expected
    O.run(db_url)
    orm = {
        pid: (rank, pct)
        for pid, rank, pct in conn.execute(
            "select portfolio_id, rank, percentile from bench_orm.leaderboards where period = '1D'"
        )
    }
    assert {s: orm[pid] for s, pid in ids.items()} == expected

    # FFF: 0.1 + 2e-10, at least the tolerance above AAA and BBB, ranks alone above them:
    # ranks 1, 2, 2, 4, 4, 6; n = 6: percentiles 100, 80, 80, 40, 40, 0
    add_prices(conn, "FFF", {days[0]: 1000000, days[1]: "1100000.0002"})
    ids["FFF"] = add_portfolio(conn, "FFF", email="f@example.com", is_public=True)
    add_position(conn, ids["FFF"], "FFF", 1, days[0], 1000000)
    assert refresh(conn)["status"] == "succeeded"
    got = {s: board(conn, "1D")[pid][:2] for s, pid in ids.items()}
    assert got == (
        {
            "FFF": (1, 100),
            "AAA": (2, 80),
            "BBB": (2, 80),
            "CCC": (4, 40),
            "DDD": (4, 40),
            "EEE": (6, 0),
        }
    )


# -------------------------------------------------------------------- degenerate ratios


def test_sharpe_is_null_with_a_reason_for_flat_or_unquoted_returns(conn) -> None:
    days = SESSIONS[1:8]  # 2024-12-30 … 2025-01-08: 7 sessions, 6 returns
    add_prices(conn, "^GSPC", {day: 100 + i for i, day in enumerate(days)})
    # BIL rises 0.01 a session: rf(k) = 0.01 / (100 + 0.01 (k − 1)), about 1e-4, nearly constant
    bil = [100 + 0.01 * i for i in range(len(days))]
    add_prices(conn, "BIL", dict(zip(days, bil, strict=True)))
    add_prices(conn, "FLT", {day: 50 for day in days})  # quoted every session, never moves
    add_prices(conn, "FRZ", {days[0]: 40})  # quoted once: valued from that close ever after
    aaa = [100, 102, 101, 104, 103, 106, 105]
    add_prices(conn, "AAA", dict(zip(days, aaa, strict=True)))
    flat, frozen, live = (add_portfolio(conn, name) for name in ("flat", "frozen", "live"))
    add_position(conn, flat, "FLT", 10, days[0], 50)
    add_position(conn, frozen, "FRZ", 10, days[0], 40)
    add_position(conn, live, "AAA", 1, days[0], 100)
    assert refresh(conn)["status"] == "succeeded"

    # Flat: r = 0, excess = −rf, whose spread is ~2e-8 a session: by the formula a Sharpe of
    # about −5,000 × √252; its annualized spread (~3e-7) is below the floor 1e-4.
    flat_max = risk(conn, flat)["MAX"]
    assert (flat_max["n_returns"], flat_max["n_quoted_returns"]) == (6, 6)
    assert flat_max["sharpe_ratio"] is None
    assert flat_max["sharpe_null_reason"].startswith("excess returns too flat: annualized spread")
    assert flat_max["sharpe_null_reason"].endswith("below the floor 0.0001")
    assert flat_max["annualized_volatility"] == 0

    # Frozen: only the first session has a real quote; no return has one on both days.
    frozen_max = risk(conn, frozen)["MAX"]
    assert (frozen_max["n_returns"], frozen_max["n_quoted_returns"]) == (6, 0)
    assert frozen_max["sharpe_ratio"] is None
    assert frozen_max["sharpe_null_reason"] == (
        "too few sessions with a real quote: 0 of 6 returns (at least 50 % needed)"
    )
    assert frozen_max["benchmark_beta"] is None and frozen_max["n_benchmark_returns"] == 0

    # Live: published, √252 × mean(r − rf) / sample stdev(r − rf) from the closes above.
    r = np.diff(aaa) / np.array(aaa[:-1])
    rf = np.diff(bil) / np.array(bil[:-1])
    excess = r - rf
    live_risk = risk(conn, live)
    assert live_risk["MAX"]["sharpe_null_reason"] is None
    assert live_risk["MAX"]["sharpe_ratio"] == pytest.approx(
        math.sqrt(252) * excess.mean() / excess.std(ddof=1), abs=1e-9
    )
    # 1D: a single return
    assert live_risk["1D"]["sharpe_ratio"] is None
    assert live_risk["1D"]["sharpe_null_reason"] == "fewer than two returns"

    # The floor is a setting: at 1e-9 the flat portfolio's ratio is published (and useless).
    conn.execute(
        "update ops.settings set value = '1e-9' where key = 'sharpe_min_excess_volatility'"
    )
    assert refresh(conn, "full")["status"] == "succeeded"
    assert risk(conn, flat)["MAX"]["sharpe_ratio"] < -1000


# ------------------------------------------------------------------------- beta pairs


def test_beta_and_correlation_pair_only_real_quotes_on_both_sides(conn) -> None:
    days = SESSIONS[3:]  # 2025-01-02 … 2025-01-15: 9 sessions (01-09 closed)
    gspc = dict(zip(days, [100, 101, 99, None, 102, 103, 101, 104, 105], strict=True))
    aaa = dict(zip(days, [50, 51, 50, 52, 53, 52.5, None, 54, 55], strict=True))
    add_prices(conn, "^GSPC", {d: c for d, c in gspc.items() if c is not None})  # none on 01-07
    add_prices(conn, "AAA", {d: c for d, c in aaa.items() if c is not None})  # none on 01-13
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 10, days[0], 50)
    assert refresh(conn)["status"] == "succeeded"

    # Returns k = 1 … 8 (01-03 … 01-15). The portfolio has a real quote on every session but
    # 01-13 (k = 6, carried forward): its returns k = 6 and 7 are not real. ^GSPC has none on
    # 01-07 (k = 3): its returns k = 3 and 4 are not real. Pairs: k = 1, 2, 5, 8.
    filled_aaa = [50, 51, 50, 52, 53, 52.5, 52.5, 54, 55]
    r = np.diff(filled_aaa) / np.array(filled_aaa[:-1])
    b = {1: 101 / 100 - 1, 2: 99 / 101 - 1, 5: 103 / 102 - 1, 8: 105 / 104 - 1}
    x = np.array(list(b.values()))
    y = np.array([r[k - 1] for k in b])
    row = risk(conn, pid)["MAX"]
    assert (row["n_returns"], row["n_quoted_returns"], row["n_benchmark_returns"]) == (8, 6, 4)
    assert row["benchmark_beta"] == pytest.approx(np.polyfit(x, y, 1)[0], abs=1e-12)
    assert row["benchmark_correlation"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    # 5D: START 01-07 (k = 3), returns k = 4 … 8: pairs k = 5 and 8
    five = risk(conn, pid)["5D"]
    assert (five["n_returns"], five["n_benchmark_returns"]) == (5, 2)
    x5, y5 = np.array([b[5], b[8]]), np.array([r[4], r[7]])
    assert five["benchmark_beta"] == pytest.approx(np.polyfit(x5, y5, 1)[0], rel=1e-9)


# --------------------------------------------------------------------------- staleness


def test_dashboard_says_apart_a_late_refresh_and_old_prices(conn) -> None:
    add_prices(conn, "^GSPC", {day: 100 for day in SESSIONS})
    add_prices(conn, "AAA", {day: 10 for day in SESSIONS})
    add_prices(conn, "OLD", {day: 20 for day in SESSIONS[:2]})  # last close 12-30: 10 sessions old
    add_prices(conn, "MID", {day: 30 for day in SESSIONS[:9]})  # last close 01-10: 3 sessions old
    aged = add_portfolio(conn, "aged")
    for symbol, price in (("AAA", 10), ("OLD", 20), ("MID", 30)):
        add_position(conn, aged, symbol, 1, SESSIONS[0], price)
    fresh = add_portfolio(conn, "fresh")
    add_position(conn, fresh, "AAA", 1, SESSIONS[0], 10)
    add_position(conn, fresh, "OLD", 1, SESSIONS[0], 20, SESSIONS[3], 20)  # sold before END
    run = refresh(conn)
    assert run["status"] == "succeeded", run

    def dashboard(pid: int) -> dict:
        return rows(conn, "select * from app.portfolio_dashboard where portfolio_id = %s", [pid])[0]

    # END is 2025-01-15, long before the last closed session: both refreshes are behind,
    # whatever their prices. Only "aged" holds a close older than 5 sessions (OLD, 10).
    row = dashboard(aged)
    assert str(row["as_of"]) == "2025-01-15"
    assert row["is_refresh_behind"] and row["is_stale"] == row["is_refresh_behind"]
    assert (row["n_stale"], row["max_stale_sessions"]) == (2, 10)
    assert (row["stale_price_sessions"], row["n_stale_prices"], row["has_stale_prices"]) == (
        5,
        1,
        True,
    )
    other = dashboard(fresh)
    assert other["is_refresh_behind"]
    assert (other["n_stale"], other["n_stale_prices"], other["has_stale_prices"]) == (0, 0, False)

    # The limit is a setting, read when the dashboard is read: at 2 sessions MID counts too.
    conn.execute("update ops.settings set value = '2' where key = 'stale_price_sessions'")
    row = dashboard(aged)
    assert (row["stale_price_sessions"], row["n_stale_prices"]) == (2, 2)


# ---------------------------------------------------------------------- risk-free data


def test_a_risk_free_symbol_without_data_is_said(conn, use_db) -> None:
    days = SESSIONS[1:8]
    add_prices(conn, "^GSPC", {day: 100 + i for i, day in enumerate(days)})
    add_prices(conn, "AAA", {day: 100 + (i % 2) for i, day in enumerate(days)})
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 1, days[0], 100)

    conn.execute("update ops.settings set value = 'NODATA' where key = 'risk_free_symbol'")
    assert refresh(conn)["status"] == "succeeded"
    found = risk(conn, pid)
    assert {row["risk_free_coverage"] for row in found.values()} == {"none"}
    assert (
        found["MAX"]["risk_free_note"] == "NODATA has no prices: the risk-free rate is taken as 0"
    )
    assert found["MAX"]["risk_free_annual_rate"] == 0

    result = CliRunner().invoke(cli, ["exposures", str(pid), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    by_period = {row["period"]: row for row in data["risk"]}
    assert by_period["MAX"]["risk_free_coverage"] == "none"
    assert by_period["MAX"]["risk_free_note"].startswith("NODATA has no prices")
    table = CliRunner().invoke(cli, ["exposures", str(pid)], terminal_width=200)
    assert table.exit_code == 0 and "NODATA has no prices" in table.output

    # BIL quoted from 01-02 on: MAX (START 12-30) is partial, 1D (START 01-07) full.
    add_prices(conn, "BIL", {day: 100 for day in days[2:]})
    conn.execute("update ops.settings set value = 'BIL' where key = 'risk_free_symbol'")
    assert refresh(conn, "full")["status"] == "succeeded"
    found = risk(conn, pid)
    assert found["MAX"]["risk_free_coverage"] == "partial"
    assert found["MAX"]["risk_free_note"] == (
        "BIL has prices only from 2025-01-02: the risk-free rate is 0 before"
    )
    assert (found["1D"]["risk_free_coverage"], found["1D"]["risk_free_note"]) == ("full", None)

    # A zero rate by choice is no gap.
    conn.execute("update ops.settings set value = '0' where key = 'risk_free_symbol'")
    assert refresh(conn, "full")["status"] == "succeeded"
    found = risk(conn, pid)
    assert {(row["risk_free_coverage"], row["risk_free_note"]) for row in found.values()} == {
        ("zero rate", None)
    }
