"""The ORM baseline and the pandas implementation follow the same spec: same numbers.

On the tiny generated scale (50 portfolios, 1 year, with stale prices, late listings, PRIVATE
valuations, OPTIONS, closed positions) plus the 13-position reference portfolio (entered
2025-01-06, so its longer periods are thinned), every snapshot, chart cache, chart point and
leaderboard row of the row-by-row ORM baseline equals pandas' to 1e-9 (the ORM on a sample of
users that covers each of those).
"""

from __future__ import annotations

import psycopg
import psycopg.conninfo
import pytest

from bench import datagen
from bench.baselines import compare
from bench.baselines import orm_impl as O
from bench.baselines import pandas_impl as P


@pytest.fixture
def tiny(db_url: str) -> dict:
    summary = datagen.generate(db_url, "tiny", seed=7)
    summary["reference"] = datagen.add_reference_portfolio(db_url, is_public=True)
    return summary


def _fingerprint(url: str, since: str, exclude_user: str = "") -> tuple:
    """md5 of positions (without ids) and of the prices generated from ``since`` on.

    The reference portfolio extends some series back before the generated window: only the
    window is compared.
    """
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select (select md5(string_agg(concat_ws(',', u.email, p.name, x.symbol,"
            " x.investment_class, x.quantity, x.entry_date, x.entry_price, x.exit_date,"
            " x.exit_price), ';' order by x.position_id))"
            " from core.positions as x inner join core.portfolios as p using (portfolio_id)"
            " inner join core.users as u using (user_id) where u.email <> %s),"
            " (select md5(string_agg(concat_ws(',', symbol, price_date, close), ';'"
            " order by symbol, price_date)) from market.prices"
            " where price_date >= %s and symbol <> all(%s))",
            [exclude_user, since, [r[0] for r in datagen.REFERENCE_PORTFOLIO]],
        ).fetchone()


def test_generator_is_deterministic_and_exercises_the_fallbacks(
    tiny: dict, db_url: str, other_db_url: str
) -> None:
    assert tiny["portfolios"] == 50 and tiny["positions"] > 500
    assert tiny["private_positions"] > 0 and tiny["options_positions"] > 0
    assert tiny["valuations"] >= 2 * tiny["private_positions"] * 0.8
    assert tiny["symbols_with_missing_sessions"] and tiny["symbols_listed_late"]
    with psycopg.connect(db_url) as conn:
        occ = conn.execute(
            "select count(*) from core.positions where investment_class = 'OPTIONS'"
            " and symbol ~ '^[A-Z]{1,6}[0-9]{6}[CP][0-9]{8}$'"
        ).fetchone()[0]
        assert occ == tiny["options_positions"]
        ref = conn.execute(
            "select count(*), min(entry_date) from core.positions where portfolio_id = %s",
            [tiny["reference"]["portfolio_id"]],
        ).fetchone()
        assert ref[0] == 13 and ref[1].isoformat() == "2025-01-06"
    # Same seed into a second fresh database: the same rows (ids aside).
    again = datagen.generate(other_db_url, "tiny", seed=7)
    assert {k: v for k, v in again.items() if k != "seconds"} == {
        k: v for k, v in tiny.items() if k not in ("seconds", "reference")
    }
    since = tiny["start_date"]
    assert _fingerprint(other_db_url, since) == _fingerprint(
        db_url, since, exclude_user="reference@example.com"
    )
    snaps = P.compute_snapshots(P.load(db_url))
    assert (snaps["n_stale"] > 0).any() and (snaps["n_entry"] > 0).any()
    assert (snaps["n_manual"] > 0).any()
    assert (snaps.loc[snaps["positions_held"] > 0, "market_value"] > 0).all()


def test_orm_baseline_matches_pandas(tiny: dict, db_url: str) -> None:
    """The row-by-row baseline on a sample of users that covers every valuation path (the
    reference portfolio, a stale close, a price from before a late listing, a manual valuation,
    an option, a closed position, the first two users and the last): the whole tiny set takes the ORM a
    minute, and the bench checks its first users again before timing it."""
    inputs = P.load(db_url)
    snaps = P.compute_snapshots(inputs)
    charts, points = P.compute_charts(snaps, inputs.sessions)
    assert (charts["n_sessions"] > 260).any()  # thinning is exercised (reference portfolio)

    owner = inputs.portfolios.set_index("portfolio_id")["user_id"]
    sample = {int(owner[tiny["reference"]["portfolio_id"]])}
    for column in ("n_stale", "n_entry", "n_manual"):
        sample.add(int(owner[snaps.loc[snaps[column] > 0, "portfolio_id"].min()]))
    with psycopg.connect(db_url) as conn:
        sample |= {
            r[0]
            for r in conn.execute(
                "(select p.user_id from core.positions as x join core.portfolios as p"
                "  using (portfolio_id) where x.investment_class = 'OPTIONS' order by 1 limit 1)"
                " union (select p.user_id from core.positions as x join core.portfolios as p"
                "  using (portfolio_id) where x.exit_date is not null order by 1 limit 1)"
                " union (select user_id from core.users order by user_id limit 2)"
                " union (select max(user_id) from core.users where email <> 'reference@example.com')"
            )
        }
    ids = set(owner[owner.isin(sample)].index)

    def of_sample(frame):
        return frame[frame["portfolio_id"].isin(ids)]

    ranked, excluded = P.compute_leaderboards(
        of_sample(charts), inputs.portfolios, inputs.rank_tie_tolerance
    )
    assert len(ranked) > 0 and len(excluded) > 0  # a leaderboard, and what it leaves out

    stats = O.run(db_url, user_ids=sorted(sample))
    assert stats["users"] == len(sample) and stats["portfolios"] == len(ids) >= 4

    diffs = compare.compare_schema(
        db_url,
        O.SCHEMA,
        {
            "snapshots": of_sample(snaps),
            "chart_caches": of_sample(charts),
            "chart_points": of_sample(points),
            "leaderboards": ranked,
            "leaderboard_exclusions": excluded,
        },
    )
    assert diffs == {table: [] for table in diffs}


def test_pandas_write_back_matches_its_frames(tiny: dict, db_url: str) -> None:
    inputs = P.load(db_url)
    snaps = P.compute_snapshots(inputs)
    charts, points = P.compute_charts(snaps, inputs.sessions)
    ranked, excluded = P.compute_leaderboards(charts, inputs.portfolios, inputs.rank_tie_tolerance)
    P.write_back(db_url, snaps, charts, points, ranked, excluded)
    diffs = compare.compare_schema(
        db_url,
        P.SCHEMA,
        {
            "snapshots": snaps,
            "chart_caches": charts,
            "chart_points": points,
            "leaderboards": ranked,
            "leaderboard_exclusions": excluded,
        },
    )
    assert diffs == {table: [] for table in diffs}


def test_orm_limit_users_processes_a_subset(tiny: dict, db_url: str) -> None:
    stats = O.run(db_url, limit_users=2)
    assert stats["users"] == 2 and stats["total_users"] == 35
    with psycopg.connect(db_url) as conn:
        n = conn.execute(
            "select count(distinct portfolio_id) from bench_orm.chart_caches"
        ).fetchone()[0]
    assert n == stats["portfolios"]
