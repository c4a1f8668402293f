"""Check that two implementations produced the same numbers (docs/semantics.md, Tolerance).

Values (money) agree to a relative 1e-9, returns to an absolute 1e-9, counts, dates and flags
exactly. Used by tests/test_baselines.py and by the benchmark runner before it times anything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg

from bench.baselines import pandas_impl as P

VALUE_COLS = {
    "market_value",
    "cost_basis",
    "unrealized_pnl",
    "inflow",
    "outflow",
    "benchmark_close",
    "start_value",
    "end_value",
    "value",
    "cash_balance",
    "income",
    "costs",
    "realized_gain",
}
RETURN_COLS = {
    "daily_return",
    "cum_twr",
    "benchmark_cum_return",
    "period_twr",
    "benchmark_return",
    "excess_return",
    "cum_return",
    "relative_return",
    "percentile",
    "income_return",
    "cost_return",
}
KEYS = {
    "snapshots": ["portfolio_id", "session_date"],
    "chart_caches": ["portfolio_id", "period"],
    "chart_points": ["portfolio_id", "period", "session_date"],
    "leaderboards": ["period", "portfolio_id"],
    "leaderboard_exclusions": ["period", "portfolio_id"],
}
COLUMNS = {
    "snapshots": P.SNAPSHOT_COLUMNS,
    "chart_caches": P.CHART_COLUMNS,
    "chart_points": P.POINT_COLUMNS,
    "leaderboards": P.RANKED_COLUMNS,
    "leaderboard_exclusions": P.EXCLUDED_COLUMNS,
}


def read_table(url: str, schema: str, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    cols = columns or COLUMNS[table]
    query = f"select {', '.join(cols)} from {schema}.{table}"  # names from constants only
    with psycopg.connect(url) as conn:
        cur = conn.execute(query)
        frame = pd.DataFrame(cur.fetchall(), columns=cols)
    return _normalize(frame)


def _normalize(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if col.endswith("_date"):
            out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
        elif col in VALUE_COLS or col in RETURN_COLS:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    return out


def differences(
    expected: pd.DataFrame,
    actual: pd.DataFrame,
    keys: list[str],
    rtol: float = 1e-9,
    atol: float = 1e-9,
) -> list[str]:
    """Human-readable differences (empty when they agree)."""
    exp, act = _normalize(expected), _normalize(actual)
    problems: list[str] = []
    merged = exp.merge(act, on=keys, how="outer", suffixes=("_exp", "_act"), indicator=True)
    only = merged[merged["_merge"] != "both"]
    if len(only):
        problems.append(
            f"{len(only)} keys in only one side, e.g. {only[[*keys, '_merge']].head(5).to_dict('records')}"
        )
    both = merged[merged["_merge"] == "both"]
    for col in exp.columns:
        if col in keys or col not in act.columns:
            continue
        a, b = both[f"{col}_exp"], both[f"{col}_act"]
        if col in VALUE_COLS or col in RETURN_COLS:
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            nan_mismatch = np.isnan(x) != np.isnan(y)
            tol = rtol * np.abs(x) + (atol if col in RETURN_COLS else 1e-9)
            bad = nan_mismatch | (~np.isnan(x) & ~np.isnan(y) & (np.abs(x - y) > tol))
        else:
            bad = ~((a == b) | (a.isna() & b.isna())).to_numpy()
        if bad.any():
            sample = both.loc[bad, [*keys, f"{col}_exp", f"{col}_act"]].head(3).to_dict("records")
            problems.append(f"{col}: {int(bad.sum())} rows differ, e.g. {sample}")
    return problems


def compare_schema(url: str, schema: str, frames: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Compare the tables of ``schema`` with in-memory frames keyed by table name."""
    return {
        table: differences(frame, read_table(url, schema, table), KEYS[table])
        for table, frame in frames.items()
    }
