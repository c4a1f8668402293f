"""ops.xirr (sql/routines/60_xirr.sql) on the real test database, against scipy.

The reference takes the rule docs/activities.md states (of several rates, the one closest to
0 in ln(1 + r); null without a sign change) and solves it with scipy's brentq, independently of
the SQL's Newton steps. Agreement: |r_sql - r_scipy| <= 1e-9 * max(1, |r_scipy|) (absolute
below 100 %, relative above: a rate of 1e109 carries 16 significant digits, not 1e-9 absolute).
"""

from __future__ import annotations

import math

import numpy as np
import psycopg
import pytest
from scipy.optimize import brentq

YEAR = 365.0
TOLERANCE = 1e-9


def sql_xirr(conn: psycopg.Connection, amounts: list[float], days: list[float]) -> float | None:
    return conn.execute(
        "select ops.xirr(%s::float8[], %s::float8[])",
        [[None if x is None else float(x) for x in amounts], [float(x) for x in days]],
    ).fetchone()[0]


def _scaled_value(a: np.ndarray, t: np.ndarray, x: float) -> float:
    # sum(a * (1 + r) ** -t) with 1 + r = exp(x), times exp(x * t_max) when x < 0 (positive:
    # same sign and roots), so no term overflows
    arg = -x * t if x >= 0 else x * (t.max() - t)
    return float(np.sum(a * np.exp(np.maximum(arg, -745.0))))


def reference_xirr(amounts: list[float], days: list[float]) -> float | None:
    a = np.asarray(amounts, dtype=float)
    d = np.asarray(days, dtype=float)
    if len(a) < 2 or not (a > 0).any() or not (a < 0).any():
        return None
    t = (d - d.min()) / YEAR
    if t.max() <= 0:
        return None
    # every sign change on a fine grid of x = ln(1 + r); the one nearest to 0 is the rate
    xs = np.unique(
        np.concatenate(
            [
                np.linspace(-5, 5, 20_001),
                np.geomspace(5, 700, 4_000),
                -np.geomspace(5, 700, 4_000),
            ]
        )
    )
    args = np.where(xs[:, None] >= 0, -xs[:, None] * t, xs[:, None] * (t.max() - t))
    values = (a * np.exp(np.maximum(args, -745.0))).sum(axis=1)
    exact = xs[values == 0]
    changes = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]
    candidates = [(abs(x), x, x) for x in exact] + [
        (min(abs(xs[i]), abs(xs[i + 1])), xs[i], xs[i + 1]) for i in changes
    ]
    if not candidates:
        return None
    _, lo, hi = min(candidates)
    if lo == hi:
        return math.expm1(lo)
    x = brentq(lambda x: _scaled_value(a, t, x), lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    return math.expm1(x)


def generated_ledgers(count: int, seed: int = 15) -> list[tuple[list[float], list[float]]]:
    """Money-weighted cash-flow sets from the investor's side: a first deposit (negative), then
    deposits and withdrawals of either sign on irregular days, and an end value (positive);
    handed over in shuffled order, with days counted from an arbitrary origin."""
    rng = np.random.default_rng(seed)
    ledgers = []
    for _ in range(count):
        n = int(rng.integers(2, 30))
        span = int(rng.integers(2, 3_650))
        days = np.sort(rng.choice(np.arange(1, span + 1), size=n - 1, replace=n - 1 > span))
        days = np.concatenate([[0], days]).astype(float)
        amounts = [-float(rng.lognormal(8, 1.5))]
        for _ in range(n - 2):
            size = float(rng.lognormal(6, 2))
            amounts.append(-size if rng.random() < 0.6 else size)
        invested = -sum(x for x in amounts if x < 0)
        amounts.append(invested * float(rng.lognormal(0.1, 0.8)))
        order = rng.permutation(n)
        origin = float(rng.integers(-5_000, 20_000))
        ledgers.append(([amounts[i] for i in order], [days[i] + origin for i in order]))
    return ledgers


HARD_CASES = {
    # 1,000 in, 0.000001 back a year later: r = 1e-9 - 1
    "near_minus_100_percent": ([-1000.0, 1e-6], [0.0, 365.0]),
    # 1 in, 1e9 back a year later: r = 1e9 - 1
    "huge_gain": ([-1.0, 1e9], [0.0, 365.0]),
    # doubling in one day: r = 2 ** 365 - 1, about 7.5e109
    "doubling_in_a_day": ([-100.0, 200.0], [10.0, 11.0]),
    # losing half in one day: r = 0.5 ** 365 - 1, just above -100 %
    "halving_in_a_day": ([-100.0, 50.0], [10.0, 11.0]),
    # two rates, 10 % and 20 %: -100 (1+r)^2 + 230 (1+r) - 132 = 0 → 1+r = (230 ± 10) / 200
    "two_rates": ([-100.0, 230.0, -132.0], [0.0, 365.0, 730.0]),
    # a tiny end value after large flows over ten years
    "almost_everything_lost": ([-5e5, -2e5, 3.0], [0.0, 1_800.0, 3_650.0]),
}


def test_hand_worked_rates(conn: psycopg.Connection) -> None:
    # 100 becomes 110 in a year: 10 %
    assert sql_xirr(conn, [-100, 110], [0, 365]) == pytest.approx(0.10, abs=1e-12)
    # order does not matter, nor the origin of the days, nor the sign convention
    assert sql_xirr(conn, [110, -100], [20_365, 20_000]) == pytest.approx(0.10, abs=1e-12)
    assert sql_xirr(conn, [100, -110], [0, 365]) == pytest.approx(0.10, abs=1e-12)
    # 100 becomes 121 in two years: 10 % a year
    assert sql_xirr(conn, [-100, 121], [0, 730]) == pytest.approx(0.10, abs=1e-12)
    # 100 becomes 100: 0 %
    assert sql_xirr(conn, [-100, 100], [0, 100]) == pytest.approx(0.0, abs=1e-15)
    # half a year at 21 % a year: 100 becomes 110 after 182.5 days
    assert sql_xirr(conn, [-100, 110], [0, 182.5]) == pytest.approx(0.21, abs=1e-12)
    # two rates (10 % and 20 %): the one nearest to 0 is returned
    assert sql_xirr(conn, *HARD_CASES["two_rates"]) == pytest.approx(0.10, abs=1e-12)
    # 1e-9 of the money left after a year
    near = sql_xirr(conn, *HARD_CASES["near_minus_100_percent"])
    assert 1 + near == pytest.approx(1e-9, rel=1e-6)
    assert sql_xirr(conn, *HARD_CASES["huge_gain"]) == pytest.approx(1e9 - 1, rel=1e-12)
    assert sql_xirr(conn, *HARD_CASES["doubling_in_a_day"]) == pytest.approx(
        2.0**365 - 1, rel=1e-12
    )


@pytest.mark.parametrize(
    ("amounts", "days"),
    [
        pytest.param([-100.0], [0.0], id="single_flow"),
        pytest.param([], [], id="no_flows"),
        pytest.param([-100.0, -50.0], [0.0, 365.0], id="no_inflow"),
        pytest.param([100.0, 50.0], [0.0, 365.0], id="no_outflow"),
        pytest.param([-100.0, 110.0], [5.0, 5.0], id="all_on_one_day"),
        pytest.param([-100.0, 110.0], [0.0], id="lengths_differ"),
        pytest.param([-100.0, None], [0.0, 365.0], id="null_amount"),
        # -100 (1+r)^2 + 150 (1+r) - 100 < 0 for every r: no rate
        pytest.param([-100.0, 150.0, -100.0], [0.0, 365.0, 730.0], id="no_solution"),
    ],
)
def test_no_rate_is_null(conn: psycopg.Connection, amounts: list, days: list) -> None:
    assert sql_xirr(conn, amounts, days) is None


def test_equals_scipy_on_200_generated_ledgers(conn: psycopg.Connection) -> None:
    cases = generated_ledgers(200 - len(HARD_CASES)) + list(HARD_CASES.values())
    assert len(cases) == 200
    compared = 0
    for amounts, days in cases:
        expected = reference_xirr(amounts, days)
        got = sql_xirr(conn, amounts, days)
        if expected is None:
            assert got is None, (amounts, days)
            continue
        assert got is not None, (amounts, days, expected)
        assert abs(got - expected) <= TOLERANCE * max(1.0, abs(expected)), (
            amounts,
            days,
            got,
            expected,
        )
        compared += 1
    assert compared >= 195  # the generated ledgers all have a rate


def test_rate_zeroes_the_present_value(conn: psycopg.Connection) -> None:
    # independent of any solver: at the rate returned, the flows' present value in
    # (1 + r) ** (-t) form is zero relative to their size
    for amounts, days in generated_ledgers(50, seed=1515):
        rate = sql_xirr(conn, amounts, days)
        t = (np.asarray(days) - min(days)) / YEAR
        discounted = np.asarray(amounts) * np.power(1.0 + rate, -t)
        assert abs(discounted.sum()) <= 1e-9 * np.abs(discounted).sum(), (amounts, days, rate)


def test_is_immutable_parallel_safe_and_not_public(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        """
        select procs.proname, procs.provolatile, procs.proparallel,
            has_function_privilege('public', procs.oid, 'execute') as public_may,
            has_function_privilege('folio_refresh', procs.oid, 'execute') as refresh_may,
            has_function_privilege('folio_reader', procs.oid, 'execute') as reader_may
        from pg_proc as procs
        where procs.pronamespace = 'ops'::regnamespace and procs.proname like 'xirr%'
        order by procs.proname
        """
    ).fetchall()
    assert [row[0] for row in rows] == ["xirr"]
    for _name, volatile, parallel, public_may, refresh_may, reader_may in rows:
        assert (volatile, parallel) == ("i", "s")
        assert not public_may and not reader_may
        assert refresh_may
