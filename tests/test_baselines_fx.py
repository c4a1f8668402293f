"""The pandas baseline converts foreign holdings by docs/semantics.md's currency rules, and
agrees with foliodb on a multi-currency dataset (issue 16's bench).

Hand-worked first: a USD portfolio holding a EUR share (one session without a EURUSD rate:
the last rate, its age counted), a London listing quoted in pence (GBp: GBPUSD / 100) and a
yen share with no USDJPY rate at all (left out of value, cost and flows, counted, never 1.0);
a EUR portfolio holding a USD ETF (the inverse of EURUSD) and the pence listing (a cross rate
through USD, its age the older leg's), its benchmark in EUR. Then the bench's generated data
with about 20 % of holdings in a foreign currency: pandas equals foliodb on every snapshot,
chart cache, chart point and leaderboard row after a full refresh and after a new session.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest

from bench import datagen, runner
from bench.baselines import pandas_impl as P
from tests.builders import add_portfolio, add_position, add_prices, refresh
from tests.test_fx_conversion import SESSIONS, add_fx_market


def _frames(url: str) -> dict[str, pd.DataFrame]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return runner.pandas_frames(P.load(url))


def _assert_pandas_equals_foliodb(url: str, frames: dict[str, pd.DataFrame]) -> None:
    ids = sorted(int(x) for x in frames["snapshots"]["portfolio_id"].unique())
    check = runner.check_against_foliodb(
        url, "pandas", {k: frames[k] for k in ("snapshots", "chart_caches", "chart_points")}, ids
    )
    assert check["equal"], check["differences"]
    assert check["rows_compared"] > 0
    boards = runner.check_leaderboards(
        url, frames["leaderboards"], frames["leaderboard_exclusions"]
    )
    assert boards["equal"], boards["differences"]


@pytest.fixture
def hand_worked(conn: psycopg.Connection) -> dict[str, int]:
    # test_fx_conversion's market (^GSPC, SPY, VOD.L in GBp; EURUSD without 01-08, GBPUSD),
    # plus a EUR share and a yen share (no USDJPY at all)
    add_fx_market(conn)
    add_prices(conn, "SAP.DE", dict(zip(SESSIONS, [200, 202, 204, 203, 205], strict=True)))
    add_prices(conn, "7203.T", dict(zip(SESSIONS, [2800, 2810, 2820, 2830, 2840], strict=True)))
    conn.execute(
        "update market.symbols set currency = case symbol when 'SAP.DE' then 'EUR' else 'JPY' end"
        " where symbol in ('SAP.DE', '7203.T')"
    )
    usd = add_portfolio(conn, "usd", email="usd@example.com", is_public=True)
    add_position(conn, usd, "SAP.DE", 10, "2025-01-06", 200, "2025-01-10", 203)
    add_position(conn, usd, "VOD.L", 100, "2025-01-07", 7050)
    add_position(conn, usd, "7203.T", 5, "2025-01-06", 2800)
    add_position(conn, usd, "SPY", 1, "2025-01-06", 590)
    eur = add_portfolio(conn, "eur", email="eur@example.com", is_public=True)
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [eur])
    add_position(conn, eur, "SPY", 10, "2025-01-06", 590)
    add_position(conn, eur, "VOD.L", 100, "2025-01-07", 7050)
    return {"usd": usd, "eur": eur}


def _by_date(snaps: pd.DataFrame, portfolio_id: int) -> pd.DataFrame:
    rows = snaps[snaps["portfolio_id"] == portfolio_id].copy()
    rows.index = pd.to_datetime(rows["session_date"]).dt.strftime("%Y-%m-%d")
    return rows


def test_pandas_converts_by_the_rules_hand_worked(db_url: str, hand_worked: dict) -> None:
    snaps = P.compute_snapshots(P.load(db_url))
    assert set(P.FX_SNAPSHOT_COLUMNS) <= set(snaps.columns)
    usd = _by_date(snaps, hand_worked["usd"])
    assert list(usd.index) == SESSIONS
    # USD portfolio. 01-06: 10 SAP.DE x 200 EUR x 1.04 + 1 SPY x 590; the yen share has no
    # rate at all: out of value, cost and inflow, counted.
    mv = {
        "2025-01-06": 10 * 200 * 1.04 + 590,
        "2025-01-07": 10 * 202 * 1.03 + 100 * 70.50 * 1.24 + 592,
        # no EURUSD on 01-08: the last rate, 1.03, one session old
        "2025-01-08": 10 * 204 * 1.03 + 100 * 71.00 * 1.23 + 594,
        # SAP.DE left at the 01-10 open: not held, its exit at 203 EUR x 1.025 is an outflow
        "2025-01-10": 100 * 70.80 * 1.22 + 596,
        "2025-01-13": 100 * 71.20 * 1.21 + 598,
    }
    cost = {
        "2025-01-06": 10 * 200 * 1.04 + 590,
        "2025-01-07": 10 * 200 * 1.04 + 100 * 70.50 * 1.24 + 590,
        "2025-01-08": 10 * 200 * 1.04 + 100 * 70.50 * 1.24 + 590,
        "2025-01-10": 100 * 70.50 * 1.24 + 590,
        "2025-01-13": 100 * 70.50 * 1.24 + 590,
    }
    inflow = {"2025-01-06": 10 * 200 * 1.04 + 590, "2025-01-07": 100 * 70.50 * 1.24}
    outflow = {"2025-01-10": 10 * 203 * 1.025}
    for day in SESSIONS:
        row = usd.loc[day]
        assert row["market_value"] == pytest.approx(mv[day], rel=1e-12), day
        assert row["cost_basis"] == pytest.approx(cost[day], rel=1e-12), day
        assert row["inflow"] == pytest.approx(inflow.get(day, 0.0), abs=1e-9), day
        assert row["outflow"] == pytest.approx(outflow.get(day, 0.0), abs=1e-9), day
        assert row["n_fx_none"] == 1, day  # the yen share, every session
    returns = {
        "2025-01-07": mv["2025-01-07"] / (mv["2025-01-06"] + inflow["2025-01-07"]) - 1,
        "2025-01-08": mv["2025-01-08"] / mv["2025-01-07"] - 1,
        "2025-01-10": (mv["2025-01-10"] + outflow["2025-01-10"]) / mv["2025-01-08"] - 1,
        "2025-01-13": mv["2025-01-13"] / mv["2025-01-10"] - 1,
    }
    assert usd.loc["2025-01-06", "daily_return"] == 0
    for day, expected in returns.items():
        assert usd.loc[day, "daily_return"] == pytest.approx(expected, abs=1e-12), day
    counts = usd[["n_fx_session", "n_fx_last_rate", "max_fx_stale_sessions"]]
    assert counts.loc["2025-01-06"].tolist() == [1, 0, 0]  # SAP.DE
    assert counts.loc["2025-01-07"].tolist() == [2, 0, 0]  # SAP.DE, VOD.L
    assert counts.loc["2025-01-08"].tolist() == [1, 1, 1]  # VOD.L; SAP.DE at the last rate
    assert counts.loc["2025-01-10"].tolist() == [1, 0, 0]  # VOD.L
    assert usd["positions_held"].tolist() == [3, 4, 4, 3, 3]
    assert (usd["benchmark_close"] == [100, 101, 102, 104, 105]).all()  # a USD benchmark

    eur = _by_date(snaps, hand_worked["eur"])
    # EUR portfolio: SPY at 1 / EURUSD; VOD.L at GBPUSD / EURUSD / 100; on 01-08 the EUR leg
    # is one session old, so the cross rate is (rule last_rate, age 1)
    eur_usd = {"2025-01-06": 1.04, "2025-01-07": 1.03, "2025-01-08": 1.03}
    eur_usd |= {"2025-01-10": 1.025, "2025-01-13": 1.02}
    gbp_usd = dict(zip(SESSIONS, [1.25, 1.24, 1.23, 1.22, 1.21], strict=True))
    spy = dict(zip(SESSIONS, [590, 592, 594, 596, 598], strict=True))
    vod = dict(zip(SESSIONS, [7000, 7050, 7100, 7080, 7120], strict=True))
    gspc = dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True))
    for day in SESSIONS:
        value = 10 * spy[day] / eur_usd[day]
        if day != "2025-01-06":
            value += 100 * vod[day] / 100 * gbp_usd[day] / eur_usd[day]
        assert eur.loc[day, "market_value"] == pytest.approx(value, rel=1e-12), day
        assert eur.loc[day, "benchmark_close"] == pytest.approx(gspc[day] / eur_usd[day], rel=1e-12)
        assert eur.loc[day, "benchmark_cum_return"] == pytest.approx(
            (gspc[day] / eur_usd[day]) / (100 / 1.04) - 1, abs=1e-12
        )
    assert eur.loc["2025-01-07", "inflow"] == pytest.approx(100 * 70.50 * 1.24 / 1.03, rel=1e-12)
    assert eur.loc["2025-01-08", "cost_basis"] == pytest.approx(
        5900 / 1.04 + 100 * 70.50 * 1.24 / 1.03, rel=1e-12
    )
    assert eur[["n_fx_session", "n_fx_last_rate", "n_fx_none"]].loc["2025-01-08"].tolist() == [
        0,
        2,
        0,
    ]
    assert eur.loc["2025-01-08", "max_fx_stale_sessions"] == 1


def test_pandas_equals_foliodb_on_the_hand_worked_currencies(
    db_url: str, conn: psycopg.Connection, hand_worked: dict
) -> None:
    assert refresh(conn, "full")["status"] == "succeeded"
    _assert_pandas_equals_foliodb(db_url, _frames(db_url))


def _fingerprint(url: str) -> tuple:
    """md5 of the generated positions (without ids) and prices."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select (select md5(string_agg(concat_ws(',', p.name, x.symbol, x.investment_class,"
            " x.quantity, x.entry_date, x.entry_price, x.exit_date, x.exit_price), ';'"
            " order by x.position_id)) from core.positions as x"
            " inner join core.portfolios as p using (portfolio_id)),"
            " (select md5(string_agg(concat_ws(',', symbol, price_date, close), ';'"
            " order by symbol, price_date)) from market.prices)"
        ).fetchone()


def test_foreign_dataset_is_the_usd_one_with_currencies_and_agrees_with_foliodb(
    db_url: str, conn: psycopg.Connection, other_db_url: str
) -> None:
    summary = datagen.generate(db_url, "tiny", seed=7, foreign_share=0.2)
    assert 0.15 <= summary["foreign_position_share"] <= 0.3
    assert all(n > 0 for n in summary["foreign_symbols_by_currency"].values())
    held = conn.execute(
        "select count(*) filter (where s.currency <> 'USD')::float8 / count(*),"
        " count(distinct s.currency)"
        " from core.positions as p inner join market.symbols as s using (symbol)"
    ).fetchone()
    assert held[0] == pytest.approx(summary["foreign_position_share"], abs=1e-4)
    assert held[1] == 5  # USD, EUR, GBp, JPY, CHF
    pairs = conn.execute(
        "select base_currency || quote_currency, count(*), bool_and(source = 'demo')"
        " from market.fx_rates group by 1 order by 1"
    ).fetchall()
    assert [p[0] for p in pairs] == ["EURUSD", "GBPUSD", "USDCHF", "USDJPY"]
    assert all(p[2] for p in pairs)  # synthetic, marked so
    # a few sessions of the history without a rate, per pair
    assert all(summary["sessions"] - 6 < p[1] <= summary["sessions"] - 2 for p in pairs)

    # Same seed without foreign_share: the same positions and prices, all in USD, no rates.
    usd = datagen.generate(other_db_url, "tiny", seed=7)
    assert _fingerprint(other_db_url) == _fingerprint(db_url)
    assert usd["positions"] == summary["positions"] and "foreign_symbols" not in usd
    with psycopg.connect(other_db_url) as oc:
        assert oc.execute("select count(*) from market.fx_rates").fetchone()[0] == 0
        assert (
            oc.execute("select count(*) from market.symbols where currency <> 'USD'").fetchone()[0]
            == 0
        )

    assert refresh(conn, "full")["status"] == "succeeded"
    frames = _frames(db_url)
    snaps = frames["snapshots"]
    assert (snaps["n_fx_session"] > 0).any() and (snaps["n_fx_last_rate"] > 0).any()
    _assert_pandas_equals_foliodb(db_url, frames)

    # the nightly: a new session's prices and rates, an incremental refresh
    added = datagen.add_session(db_url, seed=0)
    assert added["fx_rates"] == 4
    assert refresh(conn)["status"] == "succeeded"
    frames = _frames(db_url)
    assert frames["snapshots"]["session_date"].max() == pd.Timestamp(added["session_date"])
    _assert_pandas_equals_foliodb(db_url, frames)


def test_pandas_converts_at_the_rate_activities_imply_where_the_market_has_none(
    db_url: str, conn: psycopg.Connection
) -> None:
    """Rule ``activity`` (docs/semantics.md, "Currencies", 5) in the pandas baseline, on
    tests/test_fx_activity_rate.py's hand-worked EUR ledgers (the market's first EURUSD rate
    on 01-08): 10 SPY bought on 01-07 at 570 EUR settled at 0.96 EUR per USD are worth
    10 × 592 × 0.96 EUR that day; two buys on one session (5,700 EUR at 0.96, 2,900 EUR at
    0.98) imply 8,600 / (5,700 / 0.96 + 2,900 / 0.98); from 01-08 the market's rate comes
    first, a stated one (0.95 on 01-10) changing nothing. pandas equals foliodb on every row."""
    from tests.test_fx_activity_rate import EURUSD, seed_eur_ledger, seed_two_buys
    from tests.test_fx_conversion import add_rates

    one = seed_eur_ledger(conn)
    two = seed_two_buys(conn)
    add_rates(conn, "EUR", "USD", EURUSD)
    assert refresh(conn, "full")["status"] == "succeeded"
    frames = _frames(db_url)
    snaps = frames["snapshots"].set_index(["portfolio_id", "session_date"])

    def day(pid: int, d: str) -> pd.Series:
        return snaps.loc[(pid, pd.Timestamp(d))]

    assert day(one, "2025-01-07")["market_value"] == pytest.approx(4300 + 10 * 592 * 0.96)
    assert tuple(day(one, "2025-01-07")[c] for c in ("n_fx_activity", "n_fx_none")) == (1, 0)
    # the sell of 01-10 states 0.95, but the market's rate of 01-08 comes first
    ten = day(one, "2025-01-10")
    assert ten["market_value"] == pytest.approx(5450 + 8 * 596 / 1.04)
    assert (ten["n_fx_last_rate"], ten["n_fx_activity"]) == (1, 0)
    implied = 8600 / (5700 / 0.96 + 2900 / 0.98)
    assert day(two, "2025-01-07")["market_value"] == pytest.approx(15 * 592 * implied)
    assert day(two, "2025-01-07")["n_fx_activity"] == 1
    # 01-08: the market's first rate, 1 / 1.04, for both
    eight = day(two, "2025-01-08")
    assert eight["market_value"] == pytest.approx(15 * 594 / 1.04)
    assert (eight["n_fx_session"], eight["n_fx_activity"]) == (1, 0)
    _assert_pandas_equals_foliodb(db_url, frames)
