"""Benchmark of the factor models: the exposure refresh at 2,000 symbols × 5 years (full) and
its incremental cost for one new session.

    python -m bench.factors_bench [DATABASE_URL]      # prints JSON

``run(url)`` fills the database with bench/datagen.py's ``large`` symbol universe (2,000
generated symbols + the seeded ETFs, 5 years of sessions; a few hundred portfolios, since
portfolios are not what this measures) unless it already holds that many priced symbols, then
times, through the in-database refresh (what pg_cron runs):

1. ``call ops.refresh('full')``: every symbol's exposures at the as-of session, every
   portfolio's exposures and risk per period;
2. ``datagen.add_session`` + ``call ops.refresh()``: the nightly case, one new session.

The per-model durations come from the refresh ledger (ops.run_steps).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import psycopg

from bench import datagen
from foliodb import config, models

FACTOR_STEPS = ("fct_symbol_exposures", "fct_portfolio_exposures", "fct_portfolio_risk")
SYMBOLS = 2_000
YEARS = 5


def _refresh(url: str, mode: str) -> dict[str, Any]:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("call ops.refresh(%s)", [mode])
        seconds = time.perf_counter() - started
        run_id, status, error = conn.execute(
            "select run_id, status::text, error from ops.runs where kind = 'refresh'"
            " order by run_id desc limit 1"
        ).fetchone()
        if status != "succeeded":
            raise RuntimeError(f"refresh {mode} run {run_id} {status}: {error}")
        steps = {
            step: {"rows": rows, "ms": float(ms)}
            for step, rows, ms in conn.execute(
                "select step, rows, duration_ms from ops.run_steps where run_id = %s"
                " order by step_no",
                [run_id],
            ).fetchall()
        }
    factor_ms = sum(steps[name]["ms"] for name in FACTOR_STEPS if name in steps)
    return {
        "run_id": run_id,
        "refresh_seconds": round(seconds, 3),
        "factor_models_ms": round(factor_ms, 1),
        "steps": steps,
    }


def _shape(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        symbols, sessions, prices = conn.execute(
            "select count(distinct symbol), count(distinct price_date), count(*) from market.prices"
        ).fetchone()
        portfolios = conn.execute("select count(*) from core.portfolios").fetchone()[0]
        exposures = conn.execute(
            "select count(*) filter (where is_published), count(*)"
            " from analytics.fct_symbol_exposures"
            " where as_of_idx = (select max(as_of_idx) from analytics.fct_symbol_exposures)"
        ).fetchone()
    return {
        "symbols_priced": symbols,
        "sessions": sessions,
        "prices": prices,
        "portfolios": portfolios,
        "exposure_rows_published_at_as_of": exposures[0],
        "exposure_rows_at_as_of": exposures[1],
    }


def run(url: str, portfolios: int = 300, seed: int = 42) -> dict[str, Any]:
    """Time the factor models' full refresh and one incremental day; returns the numbers."""
    result: dict[str, Any] = {"bench": "factors", "symbols": SYMBOLS, "years": YEARS}
    with psycopg.connect(url) as conn:
        priced = conn.execute("select count(distinct symbol) from market.prices").fetchone()[0]
        # Installed, and every refresh function of the current graph exists.
        installed = conn.execute(
            "select exists (select from ops.model_steps) and not exists ("
            " select from ops.model_steps where to_regproc(refresh_function) is null)"
        ).fetchone()[0]
    if priced < SYMBOLS:
        started = time.perf_counter()
        datagen.generate(
            url, "large", seed=seed, portfolios=portfolios, symbols=SYMBOLS, years=YEARS
        )
        result["generate_seconds"] = round(time.perf_counter() - started, 1)
    if not installed:
        started = time.perf_counter()
        models.install(url)
        result["install_seconds"] = round(time.perf_counter() - started, 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select ops.reap()")
    result["full"] = _refresh(url, "full")
    result["new_session"] = datagen.add_session(url, seed=seed)
    result["incremental_one_day"] = _refresh(url, "incremental")
    result["shape"] = _shape(url)
    return result


BENCH_DATABASE = "folio_bench_factors"


def main() -> None:  # pragma: no cover - command line
    """Without a URL: its own database on foliodb's server (never the user's data)."""
    if len(sys.argv) > 1:
        url = sys.argv[1]
    else:
        from foliodb import cluster
        from ingest import calendar

        cluster.ensure_database(BENCH_DATABASE)
        url = config.with_dbname(config.database_url(), BENCH_DATABASE)
        calendar.prepare(url)
    print(json.dumps(run(url), indent=2, default=str))


if __name__ == "__main__":  # pragma: no cover
    main()
