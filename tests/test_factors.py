"""Factor exposures and risk figures (dbt_project/models/marts/factors, docs/factors.md).

Expected numbers come from independent implementations on the same prices: numpy/statsmodels
OLS for the exposures, empyrical-reloaded (and pandas) for the risk figures, and from the
known betas the returns were generated with.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import empyrical
import numpy as np
import pandas as pd
import psycopg
import pytest
import statsmodels.api as sm
from click.testing import CliRunner

from cli.factors import exposures as exposures_cmd
from foliodb import factors as factors_module
from tests.builders import add_portfolio, add_position, refresh

STYLES = {
    "growth": "VUG",
    "value": "VTV",
    "momentum": "MTUM",
    "quality": "QUAL",
    "size": "IWM",
    "low_volatility": "USMV",
    "rates": "TLT",
}
WINDOW = 252
MIN_OBS = 60
# The true exposures the generated symbols are built from (styles not named are 0).
TRUTH = {
    "HIBETA": {"alpha": 0.0002, "market": 1.3, "growth": 0.6, "value": -0.4, "size": 0.3},
    "LOWVOL": {"alpha": 0.0, "market": 0.6, "low_volatility": 0.8, "rates": 0.2},
}
OLS_TOLERANCE = 1e-9  # SQL regr_* vs numpy/statsmodels on the same rows
RISK_TOLERANCE = 1e-9  # SQL risk figures vs empyrical/pandas on the same daily returns


# -------------------------------------------------------------------------------- data


def closed_sessions(conn: psycopg.Connection, n: int) -> list[dt.date]:
    """The last n closed XNYS sessions, oldest first."""
    rows = conn.execute(
        "select session_date from market.trading_days where calendar = 'XNYS'"
        " and close_at <= ops.now() order by session_date desc limit %s",
        [n],
    ).fetchall()
    return [row[0] for row in reversed(rows)]


def write_closes(conn: psycopg.Connection, closes: pd.DataFrame) -> None:
    """COPY a sessions × symbols frame of closes (NaN = no quote) into market.prices."""
    with conn.cursor() as cur:
        for symbol in closes.columns:
            cur.execute(
                "insert into market.symbols (symbol) values (%s) on conflict do nothing", [symbol]
            )
        with cur.copy("copy market.prices (symbol, price_date, close, source) from stdin") as copy:
            for symbol in closes.columns:
                for day, close in closes[symbol].dropna().items():
                    copy.write_row([symbol, day, Decimal(str(close)), "csv"])


def generated_closes(sessions: list[dt.date], seed: int = 7) -> pd.DataFrame:
    """Closes of SPY, the style proxies, ^GSPC, BIL and the TRUTH symbols.

    SPY returns m ~ N(3e-4, 1 %); each style proxy returns m + s_k with independent spreads
    s_k ~ N(0, 0.5 %); a TRUTH symbol returns alpha + beta·m + Σ b_k·s_k + ε, ε ~ N(0, 0.2 %).
    """
    rng = np.random.default_rng(seed)
    n = len(sessions) - 1
    market = rng.normal(3e-4, 0.01, n)
    spreads = {factor: rng.normal(0, 0.005, n) for factor in STYLES}
    returns = {"SPY": market, "^GSPC": market + rng.normal(0, 0.001, n)}
    returns["BIL"] = rng.normal(1.6e-4, 2e-4, n)
    for factor, proxy in STYLES.items():
        returns[proxy] = market + spreads[factor]
    for symbol, truth in TRUTH.items():
        returns[symbol] = (
            truth["alpha"]
            + truth["market"] * market
            + sum(truth.get(factor, 0.0) * spreads[factor] for factor in STYLES)
            + rng.normal(0, 0.002, n)
        )
    frame = pd.DataFrame(returns)
    closes = 100 * (1 + frame).cumprod()
    closes = pd.concat([pd.DataFrame(100.0, index=[0], columns=frame.columns), closes + 0])
    closes.index = sessions
    return closes.round(6)


@pytest.fixture
def market(conn):
    """300 sessions of generated closes ending at the last closed session."""
    sessions = closed_sessions(conn, 300)
    closes = generated_closes(sessions)
    write_closes(conn, closes)
    return conn, closes


def symbol_exposures(conn: psycopg.Connection, symbol: str) -> dict[str, dict]:
    cur = conn.execute(
        "select * from analytics.fct_symbol_exposures where symbol = %s"
        " and as_of_idx = (select max(as_of_idx) from analytics.fct_symbol_exposures)",
        [symbol],
    )
    names = [c.name for c in cur.description]
    return {row[names.index("factor")]: dict(zip(names, row, strict=True)) for row in cur}


def portfolio_exposures(conn: psycopg.Connection, portfolio_id: int) -> dict[str, dict]:
    cur = conn.execute(
        "select * from analytics.fct_portfolio_exposures where portfolio_id = %s", [portfolio_id]
    )
    names = [c.name for c in cur.description]
    return {row[names.index("factor")]: dict(zip(names, row, strict=True)) for row in cur}


def ols(y: pd.Series, x: pd.Series):
    """statsmodels OLS of y on a constant and x over the rows where both exist."""
    rows = pd.DataFrame({"y": y, "x": x}).dropna()
    return sm.OLS(rows["y"], sm.add_constant(rows["x"])).fit(), len(rows)


def reference_exposures(closes: pd.DataFrame, symbol: str) -> dict[str, dict]:
    """The method of docs/factors.md in pandas/statsmodels on the stored closes."""
    returns = (closes / closes.shift(1) - 1).iloc[-WINDOW:]  # NaN unless quoted on both days
    market_fit, n_market = ols(returns[symbol], returns["SPY"])
    alpha, beta = market_fit.params["const"], market_fit.params["x"]
    out = {
        "market": {
            "exposure": beta,
            "intercept": alpha,
            "r_squared": market_fit.rsquared,
            "n_obs": n_market,
            "bse": market_fit.bse["x"],
        }
    }
    residual = returns[symbol] - (alpha + beta * returns["SPY"])
    for factor, proxy in STYLES.items():
        fit, n = ols(residual, returns[proxy] - returns["SPY"])
        out[factor] = {
            "exposure": fit.params["x"],
            "intercept": fit.params["const"],
            "r_squared": fit.rsquared,
            "n_obs": n,
            "bse": fit.bse["x"],
        }
    return out


# -------------------------------------------------------------------------------- exposures


def test_recovers_known_betas_within_the_noise(market) -> None:
    conn, closes = market
    assert refresh(conn, "full")["status"] == "succeeded"
    for symbol, truth in TRUTH.items():
        got = symbol_exposures(conn, symbol)
        reference = reference_exposures(closes, symbol)
        assert set(got) == {"market", *STYLES}
        for factor, row in got.items():
            assert row["is_published"], row["unpublished_reason"]
            assert row["n_obs"] == WINDOW
            # The noise tolerance: 4 standard errors of the OLS estimate on these rows.
            standard_error = reference[factor]["bse"]
            assert standard_error < 0.08  # the tolerance is tight enough to mean something
            expected = truth.get(factor, 0.0)
            assert abs(row["exposure"] - expected) < 4 * standard_error, (symbol, factor)
        # R² of the market fit: beta²·var(m) / var(r) = 0.83 (HIBETA), 0.63 (LOWVOL) in truth.
        assert got["market"]["r_squared"] > 0.5
    # The market proxy on itself: beta 1, R² 1. A style proxy loads ≈ 1 on its own spread
    # (not exactly: its market residual takes out the spread's sample covariance with SPY).
    spy = symbol_exposures(conn, "SPY")["market"]
    assert spy["exposure"] == pytest.approx(1, abs=1e-12)
    assert spy["r_squared"] == pytest.approx(1, abs=1e-12)
    assert symbol_exposures(conn, "VUG")["growth"]["exposure"] == pytest.approx(1, abs=0.02)


def assert_exposures_equal_reference(
    conn: psycopg.Connection, closes: pd.DataFrame, symbol: str
) -> dict[str, dict]:
    """The symbol's stored exposures equal statsmodels' on ``closes`` (observations exact,
    exposure, intercept and R² to OLS_TOLERANCE); returns the stored ones."""
    got = symbol_exposures(conn, symbol)
    for factor, expected in reference_exposures(closes, symbol).items():
        row = got[factor]
        assert row["n_obs"] == expected["n_obs"], (symbol, factor)
        for key in ("exposure", "intercept", "r_squared"):
            assert row[key] == pytest.approx(expected[key], rel=0, abs=OLS_TOLERANCE), (
                symbol,
                factor,
                key,
            )
    return got


def test_sql_betas_equal_statsmodels_ols_on_the_same_rows(conn) -> None:
    sessions = closed_sessions(conn, 300)
    closes = generated_closes(sessions, seed=11)
    rng = np.random.default_rng(3)
    # Gaps: quotes missing for the symbol, for the market and for a style proxy, and a symbol
    # listed 100 sessions before the as-of session.
    for symbol, holes in {"HIBETA": 12, "SPY": 4, "MTUM": 20}.items():
        closes.loc[closes.index[rng.choice(np.arange(1, 299), holes, replace=False)], symbol] = None
    closes["LATE"] = closes["LOWVOL"] * 0.5
    closes.loc[closes.index[:200], "LATE"] = None
    write_closes(conn, closes)
    assert refresh(conn, "full")["status"] == "succeeded"

    for symbol in ["HIBETA", "LOWVOL", "LATE", "MTUM"]:
        assert_exposures_equal_reference(conn, closes, symbol)
    assert symbol_exposures(conn, "LATE")["market"]["n_obs"] == 99


def test_nightly_fits_read_the_stored_returns_and_equal_statsmodels(conn) -> None:
    """Night after night the fits read the stored daily returns (int_symbol_returns_daily), each
    night adding the new session's: after three nights, one with HIBETA unquoted (two returns
    gone, the one into the gap and the one out of it), they equal the reference on all closes."""
    sessions = closed_sessions(conn, 300)
    closes = generated_closes(sessions, seed=5)
    closes.loc[closes.index[-2], "HIBETA"] = None
    write_closes(conn, closes.iloc[:-3])
    assert refresh(conn)["status"] == "succeeded"
    for night in (-3, -2, -1):
        write_closes(conn, closes.iloc[[night]].dropna(axis=1))
        assert refresh(conn)["status"] == "succeeded"
    stored = conn.execute(
        "select count(*) from analytics.int_symbol_returns_daily where symbol = 'HIBETA'"
    ).fetchone()[0]
    assert stored == len(closes) - 1 - 2  # a return per pair of sessions, but the gap's two
    for symbol in ["HIBETA", "LOWVOL"]:
        got = assert_exposures_equal_reference(conn, closes, symbol)
        assert got["market"]["as_of_date"] == closes.index[-1]


def test_below_the_minimum_observations_the_reason_is_recorded(market) -> None:
    conn, closes = market
    young = closes[["LOWVOL"]].rename(columns={"LOWVOL": "YOUNG"}).iloc[-30:]
    write_closes(conn, young)
    pid = add_portfolio(conn)
    add_position(conn, pid, "YOUNG", 10, str(young.index[0]), 100)
    add_position(conn, pid, "HIBETA", 10, str(young.index[0]), 100)
    assert refresh(conn, "full")["status"] == "succeeded"

    got = symbol_exposures(conn, "YOUNG")
    market_row = got["market"]
    assert not market_row["is_published"]
    assert market_row["exposure"] is None and market_row["r_squared"] is None
    assert market_row["n_obs"] == 29
    assert market_row["unpublished_reason"] == (
        f"insufficient history: 29 of at least {MIN_OBS} daily returns with SPY"
        f" in the last {WINDOW} sessions"
    )
    for factor in STYLES:
        assert got[factor]["exposure"] is None
        assert got[factor]["unpublished_reason"].startswith("market beta not published: 29 of")
    # The portfolio is weighted over HIBETA only and lists YOUNG as missing.
    exposures = portfolio_exposures(conn, pid)
    hibeta = symbol_exposures(conn, "HIBETA")
    assert exposures["market"]["missing_symbols"] == ["YOUNG"]
    assert exposures["market"]["exposure"] == pytest.approx(hibeta["market"]["exposure"], abs=1e-12)
    assert exposures["market"]["missing_share"] > 0


def test_portfolio_exposure_is_value_weighted_over_public_positions(market) -> None:
    conn, closes = market
    start = str(closes.index[0])
    pid = add_portfolio(conn)
    add_position(conn, pid, "HIBETA", 30, start, 100)
    add_position(conn, pid, "LOWVOL", 50, start, 100)
    add_position(conn, pid, "ACME-PRIVATE", 1, start, 2000, investment_class="PRIVATE")
    # An OPTIONS position on an unpriced contract is valued at its entry price × 100.
    add_position(conn, pid, "HIBETA270115C00100000", 2, start, 5, investment_class="OPTIONS")
    assert refresh(conn, "full")["status"] == "succeeded"

    last = closes.iloc[-1]
    values = {
        "HIBETA": 30 * last["HIBETA"],
        "LOWVOL": 50 * last["LOWVOL"],
        "private": 2000.0,
        "options": 2 * 100 * 5.0,
    }
    total = sum(values.values())
    exposures = portfolio_exposures(conn, pid)
    assert set(exposures) == {"market", *STYLES}
    for factor, row in exposures.items():
        betas = {s: symbol_exposures(conn, s)[factor]["exposure"] for s in ("HIBETA", "LOWVOL")}
        expected = (values["HIBETA"] * betas["HIBETA"] + values["LOWVOL"] * betas["LOWVOL"]) / (
            values["HIBETA"] + values["LOWVOL"]
        )
        assert row["exposure"] == pytest.approx(expected, rel=1e-9)
        assert row["missing_symbols"] == []
        assert row["covered_share"] == pytest.approx(
            (values["HIBETA"] + values["LOWVOL"]) / total, rel=1e-9
        )
    market_row = exposures["market"]
    assert market_row["private_share"] == pytest.approx(values["private"] / total, rel=1e-9)
    assert market_row["options_share"] == pytest.approx(values["options"] / total, rel=1e-9)
    assert market_row["positions_held"] == 4


@pytest.mark.parametrize("with_new_session", [False, True], ids=["same-session", "new-session"])
def test_symbol_onboarded_after_a_refresh_gets_exposures_in_the_next(
    conn, with_new_session: bool
) -> None:
    sessions = closed_sessions(conn, 300)
    closes = generated_closes(sessions)
    first = closes.iloc[:-1] if with_new_session else closes
    write_closes(conn, first.drop(columns=["LOWVOL"]))
    pid = add_portfolio(conn)
    add_position(conn, pid, "HIBETA", 10, str(sessions[0]), 100)
    add_position(conn, pid, "LOWVOL", 10, str(sessions[0]), 100)  # not priced yet
    assert refresh(conn)["status"] == "succeeded"
    assert portfolio_exposures(conn, pid)["market"]["missing_symbols"] == ["LOWVOL"]
    assert symbol_exposures(conn, "LOWVOL") == {}

    # The symbol is onboarded with its history (and, in the nightly case, a new session comes).
    write_closes(conn, first[["LOWVOL"]])
    if with_new_session:
        write_closes(conn, closes.iloc[-1:])
    assert refresh(conn)["status"] == "succeeded"
    lowvol = symbol_exposures(conn, "LOWVOL")
    assert all(row["is_published"] for row in lowvol.values())
    assert lowvol["market"]["as_of_date"] == closes.index[-1]
    exposures = portfolio_exposures(conn, pid)
    for row in exposures.values():
        assert row["missing_symbols"] == [], row["factor"]
        assert row["missing_share"] == 0
        assert row["as_of_date"] == closes.index[-1]


def test_exposures_are_kept_per_as_of_session_and_only_the_new_day_is_computed(conn) -> None:
    sessions = closed_sessions(conn, 300)
    closes = generated_closes(sessions)
    write_closes(conn, closes.iloc[:-1])
    first_run = refresh(conn)
    write_closes(conn, closes.iloc[-1:])
    second_run = refresh(conn)
    rows = conn.execute(
        "select as_of_date, count(*), min(computed_by_run), max(computed_by_run)"
        " from analytics.fct_symbol_exposures where symbol = 'HIBETA' group by 1 order by 1"
    ).fetchall()
    assert rows == [
        (closes.index[-2], 8, first_run["run_id"], first_run["run_id"]),
        (closes.index[-1], 8, second_run["run_id"], second_run["run_id"]),
    ]


def test_a_factor_proxy_correction_refits_every_symbol_and_portfolio(market) -> None:
    conn, closes = market
    pid = add_portfolio(conn)
    add_position(conn, pid, "LOWVOL", 10, str(closes.index[0]), 100)
    refresh(conn)
    before = symbol_exposures(conn, "LOWVOL")["market"]["exposure"]
    conn.execute(
        "update market.prices set close = close * 1.05 where symbol = 'SPY' and price_date = %s",
        [closes.index[-10]],
    )
    run = refresh(conn)
    after = symbol_exposures(conn, "LOWVOL")["market"]
    assert after["computed_by_run"] == run["run_id"]
    assert after["exposure"] != pytest.approx(before, abs=1e-6)
    corrected = closes.copy()
    corrected.loc[corrected.index[-10], "SPY"] = float(
        Decimal(str(closes["SPY"].iloc[-10])) * Decimal("1.05")
    )
    expected = reference_exposures(corrected, "LOWVOL")["market"]["exposure"]
    assert after["exposure"] == pytest.approx(expected, abs=OLS_TOLERANCE)
    portfolio = portfolio_exposures(conn, pid)["market"]
    assert portfolio["computed_by_run"] == run["run_id"]
    assert portfolio["exposure"] == pytest.approx(after["exposure"], rel=1e-12)


# -------------------------------------------------------------------------------- risk


def risk_rows(conn: psycopg.Connection, portfolio_id: int) -> dict[str, dict]:
    cur = conn.execute(
        "select risk.*, periods.start_idx, periods.end_idx"
        " from analytics.fct_portfolio_risk as risk"
        " inner join analytics.int_portfolio_periods as periods using (portfolio_id, period)"
        " where portfolio_id = %s",
        [portfolio_id],
    )
    names = [c.name for c in cur.description]
    return {row[names.index("period")]: dict(zip(names, row, strict=True)) for row in cur}


def daily_returns(conn: psycopg.Connection, portfolio_id: int) -> pd.DataFrame:
    rows = conn.execute(
        "select session_idx, session_date, daily_return from analytics.fct_portfolio_snapshots"
        " where portfolio_id = %s order by session_idx",
        [portfolio_id],
    ).fetchall()
    return pd.DataFrame(rows, columns=["session_idx", "session_date", "r"]).set_index("session_idx")


@pytest.mark.parametrize("risk_free", ["BIL", "0"])
def test_risk_figures_agree_with_empyrical(market, risk_free: str) -> None:
    conn, closes = market
    conn.execute("update ops.settings set value = %s where key = 'risk_free_symbol'", [risk_free])
    # Gaps: ^GSPC has no quote on four sessions, HIBETA none on session 10 (when it is all the
    # portfolio holds). Beta and correlation pair only the sessions where the portfolio and the
    # benchmark both have a real quote on the session and the one before.
    gaps = {"^GSPC": [50, 120, 250, 297], "HIBETA": [10]}
    conn.execute(
        "delete from market.prices where (symbol = '^GSPC' and price_date = any(%s))"
        " or (symbol = 'HIBETA' and price_date = any(%s))",
        [[closes.index[i] for i in gaps["^GSPC"]], [closes.index[i] for i in gaps["HIBETA"]]],
    )
    quoted = closes.copy()
    for symbol, at in gaps.items():
        quoted.iloc[at, quoted.columns.get_loc(symbol)] = np.nan
    pid = add_portfolio(conn)
    add_position(conn, pid, "HIBETA", 10, str(closes.index[0]), 100)
    # A second lot bought mid-history at its close, and a sale: flows, not gains or losses.
    add_position(conn, pid, "LOWVOL", 20, str(closes.index[150]), closes["LOWVOL"].iloc[150])
    add_position(conn, pid, "VUG", 5, str(closes.index[20]), 100, str(closes.index[200]), 110)
    assert refresh(conn, "full")["status"] == "succeeded"

    returns = daily_returns(conn, pid)
    by_date = closes.copy()
    filled = quoted.ffill()
    benchmark = (filled["^GSPC"] / filled["^GSPC"].shift(1) - 1).to_numpy()
    rf_all = (by_date["BIL"] / by_date["BIL"].shift(1) - 1).to_numpy()
    position = {day: i for i, day in enumerate(by_date.index)}
    # a real quote of the portfolio: a held position quoted that session (HIBETA from 0, VUG
    # 20 … 199, LOWVOL from 150); of the benchmark: ^GSPC quoted
    k = np.arange(len(closes))
    has = quoted.notna().to_numpy()
    col = {symbol: quoted.columns.get_loc(symbol) for symbol in quoted.columns}
    portfolio_quoted = (
        has[:, col["HIBETA"]]
        | ((k >= 20) & (k < 200) & has[:, col["VUG"]])
        | ((k >= 150) & has[:, col["LOWVOL"]])
    )
    pair_ok = np.zeros(len(k), dtype=bool)
    pair_ok[1:] = (
        portfolio_quoted[1:]
        & portfolio_quoted[:-1]
        & has[1:, col["^GSPC"]]
        & has[:-1, col["^GSPC"]]
    )
    assert (~pair_ok[1:]).sum() == 10  # 4 benchmark gaps × 2 returns + 2 around HIBETA's

    rows = risk_rows(conn, pid)
    assert set(rows) == {"1D", "5D", "1M", "3M", "6M", "YTD", "1Y", "5Y", "MAX"}
    checked = 0
    for period, row in rows.items():
        series = returns.loc[row["start_idx"] + 1 : row["end_idx"]]
        r = series["r"].to_numpy()
        at = [position[day] for day in series["session_date"]]
        b = np.where(pair_ok[at], benchmark[at], np.nan)
        rf = rf_all[at] if risk_free == "BIL" else np.zeros(len(r))
        assert row["n_returns"] == len(r)
        assert row["n_benchmark_returns"] == int(pair_ok[at].sum())
        paired = ~np.isnan(b)
        assert row["risk_free_symbol"] == (None if risk_free == "0" else "BIL")
        expected = {
            "annualized_volatility": empyrical.annual_volatility(r),
            "sharpe_ratio": empyrical.sharpe_ratio(r, risk_free=rf),
            "max_drawdown": empyrical.max_drawdown(r),
            "benchmark_beta": empyrical.beta(r, b) if paired.sum() > 1 else np.nan,
            "benchmark_correlation": (
                np.corrcoef(r[paired], b[paired])[0, 1] if paired.sum() > 1 else np.nan
            ),
            "best_day_return": r.max(),
            "worst_day_return": r.min(),
        }
        for key, value in expected.items():
            if np.isnan(value):
                assert row[key] is None, (period, key)
            else:
                assert row[key] == pytest.approx(value, rel=0, abs=RISK_TOLERANCE), (period, key)
        # Dates: best/worst day, and the drawdown's peak (last high before) and trough.
        assert row["best_day_date"] == series["session_date"].iloc[int(np.argmax(r))]
        assert row["worst_day_date"] == series["session_date"].iloc[int(np.argmin(r))]
        wealth = np.concatenate([[1.0], np.cumprod(1 + r)])
        drawdown = wealth / np.maximum.accumulate(wealth) - 1
        dates = [returns.loc[row["start_idx"], "session_date"], *series["session_date"]]
        trough = int(np.argmin(drawdown))
        if drawdown[trough] < -1e-12:
            peak = max(i for i in range(trough + 1) if drawdown[i] == 0)
            assert row["drawdown_trough_date"] == dates[trough], period
            assert row["drawdown_peak_date"] == dates[peak], period
        checked += 1
    assert checked == 9
    assert rows["MAX"]["n_returns"] == 299
    assert rows["MAX"]["max_drawdown"] < 0


RISK_COLUMNS = (
    "n_returns, n_quoted_returns, mean_daily_return, annualized_volatility, max_drawdown,"
    " drawdown_peak_date, drawdown_trough_date, sharpe_ratio, sharpe_null_reason,"
    " risk_free_annual_rate, risk_free_coverage, risk_free_note, benchmark_beta,"
    " benchmark_correlation, n_benchmark_returns, best_day_return, best_day_date,"
    " worst_day_return, worst_day_date"
)


def all_risk(conn: psycopg.Connection) -> dict[tuple, tuple]:
    rows = conn.execute(
        f"select portfolio_id, period, {RISK_COLUMNS} from analytics.fct_portfolio_risk"
    ).fetchall()
    return {row[:2]: row[2:] for row in rows}


def test_incremental_risk_equals_a_full_rebuild(conn) -> None:
    """Risk is combined from stored blocks and histories to date, updated incrementally: after
    new sessions, a position added mid-history and a corrected risk-free close, every figure
    of every period equals a full rebuild's."""
    sessions = closed_sessions(conn, 300)
    closes = generated_closes(sessions)
    write_closes(conn, closes.iloc[:240])
    old = add_portfolio(conn, name="old")
    add_position(conn, old, "HIBETA", 10, str(sessions[0]), 100)
    add_position(
        conn, old, "VUG", 5, str(sessions[30]), closes["VUG"].iloc[30], str(sessions[200]), 120
    )
    young = add_portfolio(conn, name="young", email="young@example.com")
    add_position(conn, young, "LOWVOL", 7, str(sessions[225]), closes["LOWVOL"].iloc[225])
    assert refresh(conn, "full")["status"] == "succeeded"

    write_closes(conn, closes.iloc[240:270])  # new sessions, in two nights
    assert refresh(conn)["status"] == "succeeded"
    write_closes(conn, closes.iloc[270:])
    add_position(conn, old, "LOWVOL", 3, str(sessions[100]), closes["LOWVOL"].iloc[100])
    assert refresh(conn)["status"] == "succeeded"
    conn.execute(
        "update market.prices set close = close * 1.001 where symbol = 'BIL' and price_date = %s",
        [sessions[150]],
    )
    assert refresh(conn)["status"] == "succeeded"
    incremental = all_risk(conn)
    blocks = conn.execute("select count(*) from analytics.int_portfolio_risk_blocks").fetchone()[0]

    assert refresh(conn, "full")["status"] == "succeeded"
    full = all_risk(conn)
    assert set(incremental) == set(full) and len(full) == 18
    assert (
        blocks
        == conn.execute("select count(*) from analytics.int_portfolio_risk_blocks").fetchone()[0]
    )
    for key, values in full.items():
        for name, ours, theirs in zip(
            RISK_COLUMNS.split(", "), incremental[key], values, strict=True
        ):
            if isinstance(theirs, float):
                assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-12), (key, name)
            else:
                assert ours == theirs, (key, name)
    # the young portfolio's periods longer than it are its history to date, like MAX
    assert incremental[(young, "1Y")] == incremental[(young, "MAX")]


# -------------------------------------------------------------------------------- reading


def test_exposures_command_prints_tables_and_json(market, use_db) -> None:
    conn, closes = market
    pid = add_portfolio(conn, name="growthy")
    add_position(conn, pid, "HIBETA", 10, str(closes.index[0]), 100)
    add_position(conn, pid, "NOPRICE", 10, str(closes.index[0]), 100)
    refresh(conn, "full")
    runner = CliRunner()

    result = runner.invoke(exposures_cmd, ["growthy"], terminal_width=160)
    assert result.exit_code == 0, result.output
    assert "market (beta)" in result.output and "NOPRICE" in result.output
    assert "risk by period" in result.output

    result = runner.invoke(exposures_cmd, [str(pid), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["missing_symbols"] == ["NOPRICE"]
    assert [f["factor"] for f in data["factors"]][0] == "market"
    assert [r["period"] for r in data["risk"]][-1] == "MAX"
    beta = symbol_exposures(conn, "HIBETA")["market"]["exposure"]
    assert data["factors"][0]["exposure"] == pytest.approx(beta, rel=1e-12)

    result = runner.invoke(exposures_cmd, ["999999"])
    assert result.exit_code == 1
    assert "no portfolio with id 999999" in result.output
    assert runner.invoke(exposures_cmd, ["--help"]).exit_code == 0


def test_symbol_exposures_reader_returns_latest_rows(market) -> None:
    conn, _ = market
    refresh(conn, "full")
    rows = factors_module.symbol_exposures(conn, "hibeta")
    assert len(rows) == 8
    assert rows[0]["factor"] == "market" and rows[0]["is_published"]
    assert factors_module.symbol_exposures(conn, "UNKNOWN") == []
