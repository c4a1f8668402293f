"""Hand-worked cases for the independent pandas implementation (bench/baselines/pandas_impl.py).

Every expected number is worked by hand in the comments from docs/semantics.md; none was pasted
from running the code. XNYS sessions used below (2025-01-09 was a market closure):

    ... 2024-12-13, 16, 17, 18, 19, 20, 23, 24, 26, 27, 30, 31,
        2025-01-02, 03, 06, 07, 08, (09 closed), 10, 13, 14 ...
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg
import pytest

from bench import datagen
from bench.baselines import pandas_impl as P

D = date.fromisoformat


def _load_world(
    url: str,
    prices: dict[str, dict[str, float]],
    portfolios: dict[str, bool],
    positions: list[tuple],
    valuations: list[tuple[str, str, float]] = (),
) -> dict[str, int]:
    """Insert symbols, prices, one user, portfolios (name -> is_public) and positions.

    positions: (key, portfolio name, symbol, class, quantity, entry, entry_price, exit, exit_price)
    valuations: (position key, date, value). Returns portfolio name -> id and position key -> id.
    """
    datagen.ensure_calendar(url)
    ids: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        syms = {s for s in prices} | {p[2] for p in positions}
        for s in syms:
            conn.execute(
                "insert into market.symbols (symbol, kind) values (%s, 'equity')"
                " on conflict do nothing",
                [s],
            )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into market.prices (symbol, price_date, close, source)"
                " values (%s, %s, %s, 'manual')",
                [(s, D(d), c) for s, series in prices.items() for d, c in series.items()],
            )
        uid = conn.execute(
            "insert into core.users (email) values ('t@example.com') returning user_id"
        ).fetchone()[0]
        for name, public in portfolios.items():
            ids[name] = conn.execute(
                "insert into core.portfolios (user_id, name, is_public) values (%s, %s, %s)"
                " returning portfolio_id",
                [uid, name, public],
            ).fetchone()[0]
        for key, pf, sym, klass, q, e, pe, x, px in positions:
            ids[key] = conn.execute(
                "insert into core.positions (portfolio_id, symbol, investment_class, quantity,"
                " entry_date, entry_price, exit_date, exit_price)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s) returning position_id",
                [ids[pf], sym, klass, q, D(e), pe, x and D(x), px],
            ).fetchone()[0]
        for key, d, v in valuations:
            pf = next(p[1] for p in positions if p[0] == key)
            conn.execute(
                "insert into core.valuations (portfolio_id, position_id, valuation_date, value)"
                " values (%s, %s, %s, %s)",
                [ids[pf], ids[key], D(d), v],
            )
    return ids


def _rows(snaps: pd.DataFrame, pid: int) -> pd.DataFrame:
    out = snaps[snaps["portfolio_id"] == pid].copy()
    out.index = [d.date().isoformat() for d in out["session_date"]]
    return out


# --------------------------------------------------------------------------------------------
# Snapshots: a five-session world, 2025-01-06 .. 2025-01-13
#
# AAA closes: 01-06 10, 01-07 11, (01-08 missing), (01-10 missing), 01-13 12.
# BBB: no price ever.  CCC closes: 01-07 50, 01-08 50, 01-10 50, 01-13 50.
# ^GSPC: 01-06 100, 01-07 101, 01-08 102, 01-10 99, 01-13 104.  S* = 2025-01-13.

WORLD_PRICES = {
    "AAA": {"2025-01-06": 10, "2025-01-07": 11, "2025-01-13": 12},
    "CCC": {"2025-01-07": 50, "2025-01-08": 50, "2025-01-10": 50, "2025-01-13": 50},
    "^GSPC": {
        "2025-01-06": 100,
        "2025-01-07": 101,
        "2025-01-08": 102,
        "2025-01-10": 99,
        "2025-01-13": 104,
    },
}
WORLD_POSITIONS = [
    # fallbacks: AAA goes stale, BBB is valued at its entry price
    ("f_aaa", "fallbacks", "AAA", "PUBLIC", 10, "2025-01-06", 10, None, None),
    ("f_bbb", "fallbacks", "BBB", "PUBLIC", 5, "2025-01-06", 20, None, None),
    # added: AAA from the start, CCC bought on 01-07 and on 01-08 at that day's close
    ("a_aaa", "added", "AAA", "PUBLIC", 10, "2025-01-06", 10, None, None),
    ("a_ccc", "added", "CCC", "PUBLIC", 4, "2025-01-07", 50, None, None),
    ("a_ccc2", "added", "CCC", "PUBLIC", 2, "2025-01-08", 50, None, None),
    # closed: exit on 01-10 with a price, and a second one without a price
    ("c_aaa", "closed", "AAA", "PUBLIC", 10, "2025-01-06", 10, "2025-01-10", 11.5),
    ("c_nopx", "closed2", "AAA", "PUBLIC", 10, "2025-01-06", 10, "2025-01-10", None),
    # private: valuations on 01-08 (1100) and Saturday 01-11 (1210)
    ("p_pvt", "private", "PVT1", "PRIVATE", 1, "2025-01-06", 1000, None, None),
    # entered on a Saturday: enters on Monday 01-06
    ("w_aaa", "weekend", "AAA", "PUBLIC", 1, "2025-01-04", 10, None, None),
]
WORLD_PORTFOLIOS = {
    "fallbacks": False,
    "added": False,
    "closed": False,
    "closed2": False,
    "private": False,
    "weekend": False,
}


@pytest.fixture
def world(db_url: str) -> tuple[dict[str, int], pd.DataFrame]:
    ids = _load_world(
        db_url,
        WORLD_PRICES,
        WORLD_PORTFOLIOS,
        WORLD_POSITIONS,
        [("p_pvt", "2025-01-08", 1100), ("p_pvt", "2025-01-11", 1210)],
    )
    inputs = P.load(db_url)
    assert inputs.as_of == pd.Timestamp("2025-01-13")
    return ids, P.compute_snapshots(inputs)


def test_missing_price_falls_back_to_last_close_then_entry_price(world) -> None:
    ids, snaps = world
    r = _rows(snaps, ids["fallbacks"])
    assert list(r.index) == ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13"]
    # AAA 10 x close, BBB 5 x entry 20 = 100 every day.
    # 01-06: 10*10 + 100 = 200;  01-07: 10*11 + 100 = 210
    # 01-08: AAA stale (last close 01-07, age 1): 110 + 100 = 210
    # 01-10: AAA stale, age = idx(01-10) - idx(01-07) = 2 (01-09 is no session): 210
    # 01-13: 10*12 + 100 = 220
    assert r["market_value"].tolist() == pytest.approx([200, 210, 210, 210, 220], rel=1e-12)
    assert r["cost_basis"].tolist() == pytest.approx([200] * 5)
    assert r["unrealized_pnl"].tolist() == pytest.approx([0, 10, 10, 10, 20], abs=1e-9)
    assert r["n_close"].tolist() == [1, 1, 0, 0, 1]
    assert r["n_stale"].tolist() == [0, 0, 1, 1, 0]
    assert r["max_stale_sessions"].tolist() == [0, 0, 1, 2, 0]
    assert r["n_entry"].tolist() == [1] * 5
    assert r["positions_held"].tolist() == [2] * 5
    # r: 01-06 200/(0+200)-1 = 0; 01-07 210/200-1 = 0.05; 0; 0; 01-13 220/210-1 = 1/21
    assert r["daily_return"].tolist() == pytest.approx([0, 0.05, 0, 0, 1 / 21], abs=1e-12)
    # cum: 1.05 * (22/21) - 1 = 0.1
    assert r["cum_twr"].tolist() == pytest.approx([0, 0.05, 0.05, 0.05, 0.1], abs=1e-12)
    # benchmark over the same sessions, base 100 on 01-06
    assert r["benchmark_close"].tolist() == [100, 101, 102, 99, 104]
    assert r["benchmark_cum_return"].tolist() == pytest.approx(
        [0, 0.01, 0.02, -0.01, 0.04], abs=1e-12
    )
    # Never zero by accident: every session holding a (long) position has a positive value.
    assert (snaps.loc[snaps["positions_held"] > 0, "market_value"] > 0).all()


def test_closure_2025_01_09_has_no_snapshot(world) -> None:
    _, snaps = world
    assert not (snaps["session_date"] == pd.Timestamp("2025-01-09")).any()


def test_position_added_at_the_days_close_is_a_flow_not_a_gain(world) -> None:
    ids, snaps = world
    r = _rows(snaps, ids["added"])
    # 01-06: AAA 100, inflow 100: r = 100/100 - 1 = 0
    # 01-07: AAA 110 + CCC 4*50 = 310, inflow 200: r = 310/(100+200) - 1 = 1/30
    #        (the 200 jump in value is a flow: r is not 310/100 - 1)
    # 01-08: AAA stale 110 + CCC 6*50 = 410, inflow 100 at the close of 50:
    #        r = 410/(310+100) - 1 = 0: the rest of the portfolio was flat, so buying at the
    #        day's close changed nothing.
    # 01-10: 110 + 300 = 410: r = 0;  01-13: 120 + 300 = 420: r = 420/410 - 1 = 1/41
    assert r["inflow"].tolist() == pytest.approx([100, 200, 100, 0, 0])
    assert r["market_value"].tolist() == pytest.approx([100, 310, 410, 410, 420])
    assert r["daily_return"].tolist() == pytest.approx([0, 1 / 30, 0, 0, 1 / 41], abs=1e-12)
    # cum = (31/30) * (42/41) - 1
    assert r["cum_twr"].iloc[-1] == pytest.approx(31 / 30 * 42 / 41 - 1, abs=1e-12)
    assert r["positions_held"].tolist() == [1, 2, 3, 3, 3]


def test_closed_position_with_exit_price_is_an_outflow(world) -> None:
    ids, snaps = world
    r = _rows(snaps, ids["closed"])
    # Held 01-06 .. 01-08; exit session 01-10 (not held), portfolio ends at its last exit.
    assert list(r.index) == ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10"]
    assert r["market_value"].tolist() == pytest.approx([100, 110, 110, 0])
    assert r["positions_held"].tolist() == [1, 1, 1, 0]
    # 01-10: outflow 10 * 11.5 = 115; r = (0 + 115)/(110 + 0) - 1 = 5/110
    assert r["outflow"].tolist() == pytest.approx([0, 0, 0, 115])
    assert r["daily_return"].iloc[-1] == pytest.approx(5 / 110, abs=1e-12)
    # cum = 1.1 * 115/110 - 1 = 0.15 (bought at 10, sold at 11.5)
    assert r["cum_twr"].iloc[-1] == pytest.approx(0.15, abs=1e-12)
    # Without an exit price the outflow is the value on the exit session: stale 11 -> 110.
    r2 = _rows(snaps, ids["closed2"])
    assert r2["outflow"].iloc[-1] == pytest.approx(110)
    assert r2["daily_return"].iloc[-1] == pytest.approx(0, abs=1e-12)


def test_private_position_uses_last_manual_valuation_else_cost(world) -> None:
    ids, snaps = world
    r = _rows(snaps, ids["private"])
    # 01-06, 01-07: no valuation yet -> cost 1 * 1000 (entry)
    # 01-08, 01-10: valuation of 01-08 -> 1100 (manual)
    # 01-13: valuation of Saturday 01-11 -> 1210 (manual)
    assert r["market_value"].tolist() == pytest.approx([1000, 1000, 1100, 1100, 1210])
    assert r["n_entry"].tolist() == [1, 1, 0, 0, 0]
    assert r["n_manual"].tolist() == [0, 0, 1, 1, 1]
    # r: 0, 0, 0.1, 0, 0.1;  cum = 1.1 * 1.1 - 1 = 0.21
    assert r["daily_return"].tolist() == pytest.approx([0, 0, 0.1, 0, 0.1], abs=1e-12)
    assert r["cum_twr"].iloc[-1] == pytest.approx(0.21, abs=1e-12)


def test_entry_on_a_saturday_enters_on_the_next_session(world) -> None:
    ids, snaps = world
    r = _rows(snaps, ids["weekend"])
    assert r.index[0] == "2025-01-06"
    assert r["inflow"].iloc[0] == pytest.approx(10)


# --------------------------------------------------------------------------------------------
# Charts: YYY closes 40 every session 2024-12-02 .. 2024-12-31, 50 on 2025-01-02,
# 55 on 01-03 .. 01-10, 60 on 01-13. ^GSPC 1000 through 01-02, 1050 on 01-03 .. 01-10,
# 1100 on 01-13. Portfolio "chart": 1 YYY bought at 40 on 2024-12-02, so cum_twr(d) = close/40 - 1.


def _sessions_between(url: str, lo: str, hi: str) -> list[date]:
    datagen.ensure_calendar(url)
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select session_date from market.trading_days where calendar = 'XNYS'"
                " and session_date between %s and %s order by session_date",
                [D(lo), D(hi)],
            ).fetchall()
        ]


@pytest.fixture
def chart_world(db_url: str):
    days = _sessions_between(db_url, "2024-12-02", "2025-01-13")

    def yyy(d: date) -> float:
        return (
            40
            if d < D("2025-01-02")
            else 50
            if d == D("2025-01-02")
            else 55
            if d < D("2025-01-13")
            else 60
        )

    def spx(d: date) -> float:
        return 1000 if d <= D("2025-01-02") else 1050 if d < D("2025-01-13") else 1100

    prices = {
        "YYY": {d.isoformat(): yyy(d) for d in days},
        "^GSPC": {d.isoformat(): spx(d) for d in days},
    }
    ids = _load_world(
        db_url,
        prices,
        {"chart": True},
        [("y", "chart", "YYY", "PUBLIC", 1, "2024-12-02", 40, None, None)],
    )
    inputs = P.load(db_url)
    snaps = P.compute_snapshots(inputs)
    charts, points = P.compute_charts(snaps, inputs.sessions)
    return ids, charts.set_index("period"), points


def test_ytd_starts_at_the_previous_years_last_close(chart_world) -> None:
    _, charts, _ = chart_world
    ytd = charts.loc["YTD"]
    # 2025-01-01 is a holiday: the first session of 2025 is 01-02, and YTD runs from the close
    # before it, 2024-12-31 (40), so 01-02's +25 % is in.
    assert ytd["start_date"] == pd.Timestamp("2024-12-31")
    assert ytd["end_date"] == pd.Timestamp("2025-01-13")
    # (1 + 60/40 - 1) / (1 + 40/40 - 1) - 1 = 60/40 - 1 = 0.5; benchmark 1100/1000 - 1 = 0.1
    assert ytd["period_twr"] == pytest.approx(0.5, abs=1e-12)
    assert ytd["benchmark_return"] == pytest.approx(0.1, abs=1e-12)
    assert ytd["excess_return"] == pytest.approx(0.4, abs=1e-12)
    assert (ytd["start_value"], ytd["end_value"]) == (40, 60)
    assert not ytd["is_partial"]


def test_1d_compares_the_last_two_sessions_with_two_points(chart_world) -> None:
    ids, charts, points = chart_world
    one = charts.loc["1D"]
    # START = the session before 01-13, i.e. 01-10 (01-09 closed): 60/55 - 1 = 1/11
    assert one["start_date"] == pd.Timestamp("2025-01-10")
    assert one["period_twr"] == pytest.approx(1 / 11, abs=1e-12)
    assert one["benchmark_return"] == pytest.approx(1100 / 1050 - 1, abs=1e-12)
    pts = points[points["period"] == "1D"]
    assert pts["session_date"].tolist() == [pd.Timestamp("2025-01-10"), pd.Timestamp("2025-01-13")]
    assert pts["value"].tolist() == [55, 60]
    assert pts["cum_return"].tolist() == pytest.approx([0, 1 / 11], abs=1e-12)
    assert pts["benchmark_cum_return"].tolist() == pytest.approx([0, 1 / 21], abs=1e-12)


def test_other_period_boundaries(chart_world) -> None:
    _, charts, _ = chart_world
    # 5D: 5 sessions before 01-13: 01-10, 08, 07, 06, 03 -> 01-03 (close 55)
    assert charts.loc["5D", "start_date"] == pd.Timestamp("2025-01-03")
    assert charts.loc["5D", "period_twr"] == pytest.approx(60 / 55 - 1, abs=1e-12)
    # 1M: 2025-01-13 minus 1 month = 2024-12-13, a session (close 40): 60/40 - 1 = 0.5
    assert charts.loc["1M", "start_date"] == pd.Timestamp("2024-12-13")
    assert charts.loc["1M", "period_twr"] == pytest.approx(0.5, abs=1e-12)
    # 1Y would start 2024-01-12, before the first session 2024-12-02: partial, from 12-02
    assert charts.loc["1Y", "is_partial"]
    assert charts.loc["1Y", "start_date"] == pd.Timestamp("2024-12-02")
    assert charts.loc["1Y", "period_twr"] == pytest.approx(0.5, abs=1e-12)
    # MAX: from the first session, never partial; December has 21 sessions + 7 in January = 28
    assert not charts.loc["MAX", "is_partial"]
    assert charts.loc["MAX", "n_sessions"] == 28
    assert charts.loc["MAX", "n_points"] == 28


def test_thinning_keeps_first_last_and_the_last_month(db_url: str) -> None:
    days = _sessions_between(db_url, "2023-01-03", "2025-01-13")
    # 2023 had 250 XNYS sessions, 2024 had 252, 2025 up to 01-13 has 7 (02,03,06,07,08,10,13).
    assert len(days) == 250 + 252 + 7 == 509
    prices = {"ZZZ": {d.isoformat(): 10 for d in days}, "^GSPC": {d.isoformat(): 100 for d in days}}
    ids = _load_world(
        db_url,
        prices,
        {"long": False},
        [("z", "long", "ZZZ", "PUBLIC", 1, "2023-01-03", 10, None, None)],
    )
    inputs = P.load(db_url)
    charts, points = P.compute_charts(P.compute_snapshots(inputs), inputs.sessions)
    pts = points[(points["portfolio_id"] == ids["long"]) & (points["period"] == "MAX")]
    kept = [d.date() for d in pts["session_date"]]
    # n = 509 > 260. recent: sessions strictly between START and END dated after 2024-12-13:
    # 12-16 17 18 19 20 23 24 26 27 30 31, 01-02 03 06 07 08 10 = 17.
    # remaining = 509 - 2 - 17 = 490; step = ceil(490 / (260 - 2 - 17)) = ceil(490/241) = 3;
    # kept of them: numbers 0, 3, ..., 489 -> 164. Total 2 + 17 + 164 = 183.
    assert len(kept) == 183
    assert kept[0] == D("2023-01-03") and kept[-1] == D("2025-01-13")
    recent = [d for d in days if D("2024-12-13") < d < D("2025-01-13")]
    assert len(recent) == 17 and set(recent) <= set(kept)
    # Number 0 is 2023-01-04, number 3 is 2023-01-09 (01-04, 05, 06, 09).
    assert kept[1:3] == [D("2023-01-04"), D("2023-01-09")]
    # 5Y is older than the portfolio: partial, same sessions as MAX.
    five = charts[(charts["portfolio_id"] == ids["long"]) & (charts["period"] == "5Y")].iloc[0]
    assert five["is_partial"] and five["n_points"] == 183
    # Periods of at most 260 sessions keep every point: 1Y = 2024-01-12 .. 2025-01-13.
    one_y = charts[(charts["portfolio_id"] == ids["long"]) & (charts["period"] == "1Y")].iloc[0]
    assert one_y["n_points"] == one_y["n_sessions"] <= 260


# --------------------------------------------------------------------------------------------
# Leaderboards, from hand-built chart rows


def _chart(pid: int, period: str, twr: float, partial: bool = False, n: int = 300) -> dict:
    return {
        "portfolio_id": pid,
        "period": period,
        "period_twr": twr,
        "benchmark_return": 0.05,
        "is_partial": partial,
        "n_sessions": n,
    }


def test_leaderboard_tie_shares_a_rank_and_short_history_is_excluded() -> None:
    charts = pd.DataFrame(
        [
            _chart(1, "1Y", 0.30),
            _chart(2, "1Y", 0.20),
            _chart(3, "1Y", 0.20 + 3e-15),  # float noise: within the tolerance, a tie
            _chart(4, "1Y", 0.10),
            _chart(5, "1Y", 0.90, partial=True),  # younger than 1Y
            _chart(6, "1Y", 0.50),  # not public
            _chart(1, "MAX", 0.30, n=21),
            _chart(2, "MAX", 0.20, n=20),  # 20 sessions < 21
        ]
    )
    portfolios = pd.DataFrame(
        {"portfolio_id": [1, 2, 3, 4, 5, 6], "is_public": [True] * 5 + [False]}
    )
    ranked, excluded = P.compute_leaderboards(charts, portfolios)
    one = ranked[ranked["period"] == "1Y"].set_index("portfolio_id")
    # competition ranks by TWR descending, returns within 1e-10 tied: 0.30 -> 1, 0.20 -> 2,
    # 0.20 + 3e-15 -> 2, 0.10 -> 4
    assert one["rank"].to_dict() == {1: 1, 2: 2, 3: 2, 4: 4}
    # percentile = 100 (n - rank) / (n - 1), n = 4: 100, 200/3, 200/3, 0
    assert one["percentile"].to_dict() == pytest.approx({1: 100, 2: 200 / 3, 3: 200 / 3, 4: 0})
    # relative to the benchmark's 0.05
    assert one.loc[1, "relative_return"] == pytest.approx(0.25)
    assert set(excluded.itertuples(index=False, name=None)) == {
        ("1Y", 5, "history shorter than period"),
        ("MAX", 2, "history shorter than period"),
    }
    # A single ranked portfolio has percentile 100.
    solo = ranked[ranked["period"] == "MAX"]
    assert solo["portfolio_id"].tolist() == [1] and solo["percentile"].tolist() == [100]


def test_write_back_round_trips(world, db_url: str) -> None:
    _, snaps = world
    inputs = P.load(db_url)
    charts, points = P.compute_charts(snaps, inputs.sessions)
    ranked, excluded = P.compute_leaderboards(charts, inputs.portfolios, inputs.rank_tie_tolerance)
    P.write_back(db_url, snaps, charts, points, ranked, excluded)
    with psycopg.connect(db_url) as conn:
        n = conn.execute("select count(*) from bench_pandas.snapshots").fetchone()[0]
        mv = conn.execute(
            "select market_value from bench_pandas.snapshots"
            " where portfolio_id = (select min(portfolio_id) from core.portfolios)"
            " and session_date = '2025-01-13'"
        ).fetchone()[0]
    assert n == len(snaps)
    assert mv == 220  # the "fallbacks" portfolio on 01-13, worked above
