"""The benchmark runner behind `folio bench`: datasets, scenarios, raw results.

Everything runs in the runner's own databases on the same server, never in the user's
``foliodb`` database:

- ``folio_bench_tpl_<tree>``: migrated, calendar filled, dbt models installed on no data (keyed
  by a hash of sql/ and the dbt project, like the tests' template);
- ``folio_bench_<label>_<hash>``: a generated dataset (bench/datagen.py) cloned from that
  template, fully refreshed once, kept as a template database and reused by later runs while
  its hash (dataset parameters, seed, sql/ and dbt tree) matches;
- ``folio_bench_work_<pid>_<n>``: clones a scenario mutates (``create database … template …``),
  dropped when the scenario ends.

Scenarios: a onboarding, b nightly incremental, c chart-cache rebuild, d full rebuild,
e price ingest, f reads under refresh, g cost growth, h one ledger's rebuild and edit refresh
and a 50,000-activity one's import, rebuild and edit, once (bench/ledger_bench.py); i, not part of ``--quick`` (selected with ``--only i``, and part of a
full-scale run without ``--only``): b and d on the same dataset with about 20 % of its holdings
in a foreign currency, beside the USD-only one. Baselines (bench/baselines) are checked
equal to foliodb's results (compare.py tolerances) before they are timed; the check result is
part of the results. :func:`run` returns a JSON-able dict; bench/report.py renders it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy.exc
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bench import datagen
from bench.baselines import compare
from bench.baselines import orm_impl as O
from bench.baselines import pandas_impl as P
from foliodb import config, models
from foliodb.models import definition_hash
from foliodb.refresh import run_refresh
from ingest import calendar
from ingest.prices import fetch_for_import

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("a", "b", "c", "d", "e", "f", "g", "h")  # the default run's, and --quick's
OPTIONAL_SCENARIOS = ("i",)  # only when asked (--only), or by a full-scale run without --only
SELECTABLE = SCENARIOS + OPTIONAL_SCENARIOS
FOREIGN_SHARE = 0.20  # scenario i: the share of positions in a foreign currency (datagen)
FOREIGN_NIGHTS = 3  # scenario i: nights per dataset at least (medians; repeat can raise it)
SCENARIO_TITLES = {
    "a": "onboarding backfill of the 13-position reference portfolio",
    "b": "nightly incremental refresh after one new session",
    "c": "full chart-cache rebuild (every portfolio x every period)",
    "d": "full rebuild of all history",
    "e": "price ingest: 500 symbols x 5 years from frames; 100k and 1M-row price CSVs",
    "f": "read latency at 32 clients during a full refresh",
    "g": "cost growth: full refresh vs portfolios and vs years",
    "h": "one ledger (2,000 activities, 8 years): full rebuild and refresh after an edit; a"
    " 50,000-activity one imported, rebuilt and edited once (not in --quick)",
    "i": "about 20 % of holdings in a foreign currency: nightly and full rebuild beside USD-only",
}
BUILD_LOCK = 8_261_100
LONG_TIMEOUT = "120min"  # bench databases only: a 10k full rebuild may outlast the 10 min default

CONTRACT_QUERIES = {
    # The read contract as docs/read_contract_plans.md and tests/test_serving.py query it.
    "portfolio_dashboard": "select * from app.portfolio_dashboard where portfolio_id = %s",
    "chart_points": "select point_no, point_date, value, cum_return, benchmark_cum_return"
    " from app.chart_points where portfolio_id = %s and period = %s order by point_no",
    "leaderboards": "select rank, portfolio_id, portfolio_name, period_twr, relative_return,"
    " percentile from app.leaderboards where period = %s and is_ranked order by rank limit 20",
}


@dataclass(frozen=True)
class Plan:
    """What a scale measures."""

    main: str  # datagen scale of the main dataset
    portfolio_growth: tuple[int, ...]  # portfolio counts at the main dataset's years
    years_growth: tuple[int, ...]
    years_growth_portfolios: int
    orm_users: int  # users the ORM baseline processes (then extrapolated)
    check_sample: int  # portfolios whose snapshots are compared row by row
    ingest: tuple[int, int]  # symbols, years
    ingest_csv_rows: tuple[int, int] = (100_000, 1_000_000)  # price CSV sizes (scenario e)
    read_clients: int = 32
    read_max_s: float = 900.0
    read_idle_s: float = 10.0
    rls_s: float | None = None  # each state's pgbench run (scenario f); None: 6 x read_idle_s
    ledger: tuple[int, int] = (2_000, 8)  # activities, years (scenario h)
    # scenario h's large ledger (issue 15: "a 50,000-activity ledger works"), run once; None:
    # not run (--quick, so that the test suite does not grow)
    ledger_large: tuple[int, int] | None = (50_000, 8)
    # datagen parameters of every dataset the plan generates (main, g's, i's): () = positions
    dataset: tuple[tuple[str, float], ...] = ()


# The datasets with ledgers (issues 15 and 17): a fifth of the portfolios as activity ledgers
# (deposits, withdrawals, buys, partial sells FIFO or average cost, fees, interest, taxes,
# recorded dividends), 30 % of the generated equities paying quarterly dividends, a 2:1, 3:1,
# 4:1 and 1:5 split (bench/datagen.py).
LEDGER_DATASET: tuple[tuple[str, float], ...] = (
    ("ledger_share", 0.2),
    ("dividend_share", 0.3),
    ("splits", 4),
)


PLANS: dict[str, Plan] = {
    "quick": Plan(
        "tiny",
        (20, 50),
        (1, 2),
        20,
        1,
        50,
        (20, 1),
        ingest_csv_rows=(10_000, 100_000),
        read_max_s=20,
        read_idle_s=2,
        rls_s=3,
        ledger=(200, 2),
        ledger_large=None,
        dataset=LEDGER_DATASET,
    ),
    "small": Plan("small", (300, 1_000), (1, 2, 5), 300, 3, 300, (500, 5), dataset=LEDGER_DATASET),
    "medium": Plan(
        "medium", (1_000, 10_000), (1, 2, 5), 1_000, 3, 300, (500, 5), dataset=LEDGER_DATASET
    ),
    "large": Plan(
        "large",
        (1_000, 10_000, 100_000),
        (1, 2, 5),
        1_000,
        3,
        300,
        (500, 5),
        dataset=LEDGER_DATASET,
    ),
}


@dataclass
class Options:
    scale: str = "medium"
    repeat: int = 3
    only: tuple[str, ...] = SCENARIOS
    quick: bool = False
    out: Path = field(default_factory=lambda: ROOT / "bench" / "results")
    seed: int = 42
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))


# ---------------------------------------------------------------------------------------------
# Small helpers


def summarize(values: list[float]) -> dict[str, Any]:
    """median / min / max of repeated measurements (with the raw values)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "values": []}
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "values": [round(v, 3) for v in vals],
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def tree_hash() -> str:
    """Hash of sql/ and the dbt project (datasets are rebuilt when it changes)."""
    return definition_hash()


def _db_exists(admin: psycopg.Connection, name: str) -> bool:
    return (
        admin.execute("select 1 from pg_database where datname = %s", [name]).fetchone() is not None
    )


def _drop(admin: psycopg.Connection, name: str) -> None:
    ident = sql.Identifier(name)
    if _db_exists(admin, name):
        admin.execute(sql.SQL("alter database {} is_template false").format(ident))
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(ident))


def with_retry(func: Callable[[], Any], log: Callable[[str], None], attempts: int = 4) -> Any:
    """Run ``func`` again when the shared server restarts under it (other sessions' tests kill
    backends, which makes the postmaster reinitialize and drop every connection)."""
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except psycopg.OperationalError as exc:
            if attempt == attempts:
                raise
            log(f"connection lost ({str(exc).strip()[:120]}); retry {attempt} in 20 s")
            time.sleep(20)
    return None


class Server:
    """The server the benchmark runs on, reached through its maintenance database."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._n = 0

    def url(self, dbname: str) -> str:
        return config.with_dbname(self.admin_url, dbname)

    def tcp_url(self, dbname: str) -> str:
        """The readers' connection: the embedded cluster's Unix socket (its admin login takes
        folio_reader per client); TCP only for an external server given by host name (the
        embedded cluster refuses its admin role over TCP)."""
        return self.url(dbname)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_url, autocommit=True)

    def drop_orphans(self, log: Callable[[str], None]) -> list[str]:
        """Drop the work clones of bench runs that were killed (their process is gone), which
        a clone's own cleanup could not do; a live run's clones stay. Only on the embedded
        cluster: a server named by DATABASE_URL may serve runs from other machines, whose
        process ids say nothing here."""
        if config.external_url():
            return []
        dropped = []
        with self.admin() as admin:
            names = [
                r[0]
                for r in admin.execute(
                    "select datname from pg_database where datname ~ '^folio_bench_work_[0-9]+_'"
                ).fetchall()
            ]
            for name in names:
                pid = int(name.split("_")[3])
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    _drop(admin, name)
                    dropped.append(name)
                except PermissionError:  # another user's live process
                    pass
        if dropped:
            log(
                f"dropped {len(dropped)} work database(s) left by killed runs: {', '.join(dropped)}"
            )
        return dropped

    @contextmanager
    def clone(self, template: str, tag: str) -> Iterator[str]:
        """A throwaway copy of ``template`` (file copy), dropped afterwards."""
        self._n += 1
        name = f"folio_bench_work_{os.getpid()}_{self._n}_{tag}"[:63]
        with self.admin() as admin:
            _drop(admin, name)
            admin.execute(
                sql.SQL("create database {} template {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        try:
            yield self.url(name)
        finally:
            with self.admin() as admin:
                _drop(admin, name)


# ---------------------------------------------------------------------------------------------
# Datasets


def _models_template(server: Server, log: Callable[[str], None]) -> str:
    """Migrated, calendar filled, models installed on no data; built once per sql/dbt tree."""
    name = f"folio_bench_tpl_{tree_hash()}"
    with server.admin() as admin:
        admin.execute("select pg_advisory_lock(%s)", [BUILD_LOCK])
        try:
            row = admin.execute(
                "select datistemplate from pg_database where datname = %s", [name]
            ).fetchone()
            if row is None or not row[0]:
                for (old,) in admin.execute(
                    "select datname from pg_database where datname like 'folio\\_bench\\_tpl\\_%%'"
                    " and datname not like '%%\\_building' order by oid desc offset 2"
                ).fetchall():
                    # The newest older ones stay: a run started before an edit still clones them.
                    _drop(admin, old)
                building = f"{name}_building"
                _drop(admin, building)
                admin.execute(sql.SQL("create database {}").format(sql.Identifier(building)))
                url = server.url(building)
                log(f"building the models template {name} (migrate, calendar, dbt run)")
                calendar.prepare(url)
                models.install(url)
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(
                        "update ops.settings set value = %s where key = 'refresh_statement_timeout'",
                        [LONG_TIMEOUT],
                    )
                admin.execute(
                    sql.SQL("alter database {} rename to {}").format(
                        sql.Identifier(building), sql.Identifier(name)
                    )
                )
                admin.execute(
                    sql.SQL("alter database {} is_template true").format(sql.Identifier(name))
                )
        finally:
            admin.execute("select pg_advisory_unlock(%s)", [BUILD_LOCK])
    return name


@dataclass
class Dataset:
    label: str
    dbname: str
    params: dict[str, Any]
    summary: dict[str, Any]
    built_now: bool


def ensure_dataset(
    server: Server,
    template: str,
    scale: str,
    seed: int,
    log: Callable[[str], None],
    **overrides: Any,
) -> Dataset:
    """The dataset of ``scale`` (with overrides), fully refreshed; reused while its hash matches."""
    params = datagen.params_for(scale, **overrides)
    label = f"p{params.portfolios}_y{params.years:g}"
    key_params = asdict(params)
    # a dataset with an optional part off keeps the hash it had before that part (the same rows)
    for name, off in datagen.OPTIONAL_PARAMS.items():
        if key_params[name] == off:
            key_params.pop(name)
    if params.ledger_share or params.dividend_share or params.splits:
        label = (
            f"l{params.ledger_share * 100:g}_d{params.dividend_share * 100:g}"
            f"_s{params.splits}_{label}"
        )
    if params.foreign_share:
        label = f"fx{params.foreign_share * 100:g}_{label}"
        # how foreign datasets are generated (a change rebuilds them, not the USD-only ones)
        key_params["foreign_generation"] = datagen.FOREIGN_GENERATION
    key = json.dumps({"params": key_params, "seed": seed, "tree": template}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    name = f"folio_bench_{label}_{digest}"
    # One lock per dataset: building a 10k dataset must not hold up another run's tiny one.
    lock = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)
    with server.admin() as admin:
        admin.execute("select pg_advisory_lock(%s, %s)", [BUILD_LOCK, lock])
        try:
            row = admin.execute(
                "select datistemplate from pg_database where datname = %s", [name]
            ).fetchone()
            if row is not None and row[0]:
                with psycopg.connect(server.url(name)) as conn:
                    found = conn.execute(
                        "select value from ops.settings where key = 'bench_dataset'"
                    ).fetchone()
                summary = json.loads(found[0]) if found else {}
                return Dataset(label, name, asdict(params), summary, built_now=False)
            for (old,) in admin.execute(
                "select datname from pg_database where datname like %s",
                [f"folio\\_bench\\_{label}\\_%"],
            ).fetchall():
                _drop(admin, old)
            building = f"{name}_building"
            _drop(admin, building)
            admin.execute(
                sql.SQL("create database {} template {}").format(
                    sql.Identifier(building), sql.Identifier(template)
                )
            )
            url = server.url(building)
            log(
                f"generating dataset {label} ({params.portfolios:,} portfolios, {params.years:g} y)"
            )
            summary = datagen.generate(url, params, seed=seed)
            t0 = time.perf_counter()
            first = run_refresh(url, full=True)
            summary["initial_full_refresh_ms"] = first.get("duration_ms")
            summary["initial_full_refresh_status"] = first.get("status")
            if first.get("status") != "succeeded":
                raise RuntimeError(f"initial full refresh of {label} failed: {first.get('error')}")
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("vacuum analyze")
                summary["build_refresh_wall_s"] = round(time.perf_counter() - t0, 1)
                summary["database_size"] = conn.execute(
                    "select pg_size_pretty(pg_database_size(current_database()))"
                ).fetchone()[0]
                summary["snapshot_rows"] = conn.execute(
                    "select count(*) from analytics.fct_portfolio_snapshots"
                ).fetchone()[0]
                slim = {
                    k: v
                    for k, v in summary.items()
                    if k not in ("symbols_with_missing_sessions", "symbols_listed_late")
                }
                conn.execute(
                    "insert into ops.settings (key, value, description) values"
                    " ('bench_dataset', %s, 'the benchmark dataset summary')"
                    " on conflict (key) do update set value = excluded.value",
                    [json.dumps(slim, default=str)],
                )
            admin.execute(
                sql.SQL("alter database {} rename to {}").format(
                    sql.Identifier(building), sql.Identifier(name)
                )
            )
            admin.execute(
                sql.SQL("alter database {} is_template true").format(sql.Identifier(name))
            )
            return Dataset(label, name, asdict(params), slim, built_now=True)
        finally:
            admin.execute("select pg_advisory_unlock(%s, %s)", [BUILD_LOCK, lock])


# ---------------------------------------------------------------------------------------------
# Machine


def machine_info(server: Server) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    with server.admin() as admin:
        pg = admin.execute("select split_part(version(), ' on ', 1)").fetchone()[0]
        settings = dict(
            admin.execute(
                "select name, setting || coalesce(unit, '') from pg_settings where name = any(%s)",
                [["shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit"]],
            ).fetchall()
        )
        cron = admin.execute(
            "select default_version from pg_available_extensions where name = 'pg_cron'"
        ).fetchone()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "postgresql": pg,
        "pg_cron": cron[0] if cron else None,
        "python": platform.python_version(),
        "pg_settings": settings,
        "git_commit": commit,
    }


# ---------------------------------------------------------------------------------------------
# foliodb measurements


# The refresh steps that build the chart caches: the thinned charts' heads, then the charts.
# the chart caches' steps: the thinned charts' heads, each portfolio's last sessions (the
# charts' tails), the period figures
CHART_STEPS = ("int_chart_heads", "fct_chart_series", "fct_chart_caches")


def current_sessions(url: str) -> int:
    """Add the closes of every closed session after the history (datagen.add_session); how many."""
    added = 0
    while True:
        try:
            datagen.add_session(url, seed=1000 + added)
        except RuntimeError:  # no closed session left to add
            return added
        added += 1


def refresh_once(url: str, full: bool = False, portfolio_id: int | None = None) -> dict[str, Any]:
    """One ``call ops.refresh``: database time (ops.runs), wall time from Python, steps."""
    t0 = time.perf_counter()
    run = run_refresh(url, full=full, portfolio_id=portfolio_id)
    wall = time.perf_counter() - t0
    if run.get("status") != "succeeded":
        raise RuntimeError(f"refresh {run.get('target')} {run.get('status')}: {run.get('error')}")
    return {
        "db_ms": float(run["duration_ms"]),
        "wall_ms": _ms(wall),
        "rows": run.get("rows"),
        "steps": {s["step"]: float(s["duration_ms"]) for s in run["steps"]},
        "step_rows": {s["step"]: s["rows"] for s in run["steps"]},
        "chart_ms": sum(float(s["duration_ms"]) for s in run["steps"] if s["step"] in CHART_STEPS),
    }


def full_refreshes(url: str, repeat: int, log: Callable[[str], None], what: str) -> dict[str, Any]:
    runs = []
    for i in range(repeat):
        runs.append(refresh_once(url, full=True))
        log(f"  {what}: full refresh {i + 1}/{repeat}: {runs[-1]['db_ms'] / 1000:.1f} s")
    steps = list(runs[0]["steps"])
    return {
        "db_ms": summarize([r["db_ms"] for r in runs]),
        "wall_ms": summarize([r["wall_ms"] for r in runs]),
        "steps_ms": {s: summarize([r["steps"].get(s) for r in runs]) for s in steps},
        "step_rows": runs[0]["step_rows"],
        "chart_ms": summarize([r["chart_ms"] for r in runs]),
    }


def incrementals(url: str, repeat: int, log: Callable[[str], None], what: str) -> dict[str, Any]:
    """Night after night: one new session's prices, then ``call ops.refresh()``."""
    runs = []
    sessions = []
    for i in range(repeat):
        added = datagen.add_session(url, seed=i)
        sessions.append(added["session_date"])
        runs.append(refresh_once(url))
        log(f"  {what}: incremental {i + 1}/{repeat}: {runs[-1]['wall_ms']:.0f} ms")
    return {
        "db_ms": summarize([r["db_ms"] for r in runs]),
        "wall_ms": summarize([r["wall_ms"] for r in runs]),
        "steps_ms": {s: summarize([r["steps"].get(s) for r in runs]) for s in runs[0]["steps"]},
        "rows": runs[0]["rows"],
        "sessions_added": sessions,
    }


# ---------------------------------------------------------------------------------------------
# Checks: baselines equal foliodb


SNAP_SQL = (
    "select portfolio_id, session_date, session_idx, market_value, cost_basis, unrealized_pnl,"
    " positions_held, n_close, n_stale, max_stale_sessions, n_entry, n_manual, inflow, outflow,"
    " daily_return, cum_twr, benchmark_close::float8 as benchmark_close, benchmark_cum_return,"
    " n_fx_session, n_fx_last_rate, n_fx_none, max_fx_stale_sessions, n_fx_activity,"
    " cash_balance::float8 as cash_balance, income::float8 as income, costs::float8 as costs,"
    " realized_gain::float8 as realized_gain, income_return, cost_return"
    " from analytics.fct_portfolio_snapshots where portfolio_id = any(%s)"
)
CHART_SQL = (
    "select portfolio_id, period, start_idx as start_session_idx, end_idx as end_session_idx,"
    " start_date, end_date, start_value::float8 as start_value, end_value::float8 as end_value,"
    " period_twr, benchmark_return, excess_return, is_partial, n_sessions, n_points"
    " from analytics.fct_chart_caches where portfolio_id = any(%s)"
)
POINTS_SQL = (
    "select portfolio_id, period, point_date as session_date, value::float8 as value, cum_return,"
    " benchmark_cum_return from app.chart_points where portfolio_id = any(%s)"
)


def _read(url: str, query: str, params: list[Any]) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


FOLIODB_SQL = {"snapshots": SNAP_SQL, "chart_caches": CHART_SQL, "chart_points": POINTS_SQL}


def foliodb_frames(
    url: str, portfolio_ids: list[int], tables: Collection[str] = tuple(FOLIODB_SQL)
) -> dict[str, pd.DataFrame]:
    """foliodb's rows of ``tables`` for the portfolios (only those asked for: the check of
    every chart cache at 10,000 portfolios must not read 11.6 M snapshot rows into Python,
    which took 21 GB and the OOM killer's attention)."""
    return {table: _read(url, FOLIODB_SQL[table], [portfolio_ids]) for table in tables}


def _subset(frame: pd.DataFrame, ids: list[int]) -> pd.DataFrame:
    return frame[frame["portfolio_id"].isin(ids)].reset_index(drop=True)


def check_against_foliodb(
    url: str,
    name: str,
    frames: dict[str, pd.DataFrame],
    ids: list[int],
    batch: int | None = None,
) -> dict[str, Any]:
    """compare.differences of a baseline's frames against foliodb's rows for ``ids``, read
    and compared ``batch`` portfolios at a time (None: the baseline's own batch,
    P.BATCH_PORTFOLIOS), so that foliodb's rows in Python follow the batch, not ``ids``:
    every row is compared, as at once."""
    batch = batch or P.BATCH_PORTFOLIOS
    problems: dict[str, list[str]] = {}
    rows = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        ours = foliodb_frames(url, chunk, frames.keys())
        for table, frame in frames.items():
            theirs = _subset(frame, chunk)
            mine = ours[table][[c for c in theirs.columns if c in ours[table].columns]]
            rows += len(theirs)
            diffs = compare.differences(mine, theirs, compare.KEYS[table])
            if diffs:
                problems[table] = (problems.get(table, []) + diffs)[:5]
        del ours
    return {
        "baseline": name,
        "portfolios": len(ids),
        "rows_compared": rows,
        "equal": not problems,
        "differences": problems,
        "tolerance": "values rel 1e-9, returns abs 1e-9, counts/dates exact (compare.py)",
    }


def check_leaderboards(url: str, ranked: pd.DataFrame, excluded: pd.DataFrame) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select period, portfolio_id, is_ranked, rank from analytics.fct_leaderboards"
        ).fetchall()
    ours_ranked = {(p, pid): r for p, pid, ok, r in rows if ok}
    ours_excluded = {(p, pid) for p, pid, ok, _ in rows if not ok}
    theirs_ranked = {(r.period, int(r.portfolio_id)): int(r.rank) for r in ranked.itertuples()}
    theirs_excluded = {(r.period, int(r.portfolio_id)) for r in excluded.itertuples()}
    bad_rank = sum(1 for k, v in theirs_ranked.items() if ours_ranked.get(k) != v)
    return {
        "baseline": "pandas leaderboards",
        "rows_compared": len(theirs_ranked) + len(theirs_excluded),
        "equal": ours_ranked == theirs_ranked and ours_excluded == theirs_excluded,
        "differences": {
            "ranks_differing": bad_rank,
            "ranked_only_foliodb": len(set(ours_ranked) - set(theirs_ranked)),
            "excluded_symmetric_difference": len(ours_excluded ^ theirs_excluded),
        },
    }


# ---------------------------------------------------------------------------------------------
# Baselines


# the snapshots' values converted per rule (scenario i's conversions_in_snapshots)
FX_COUNTS = ["n_fx_session", "n_fx_last_rate", "n_fx_activity", "n_fx_none"]


def pandas_frames(inputs: P.Inputs, keep: Collection[int] | None = None) -> dict[str, pd.DataFrame]:
    """pandas' results on every portfolio of ``inputs``, computed in portfolio batches
    (P.snapshot_batches): every chart cache and the leaderboards; the snapshots and chart
    points of the portfolios in ``keep`` only (all when None: at 10,000 portfolios the whole
    book's snapshots take gigabytes); ``fx_counts``, the snapshots' values converted per rule
    over the whole book (one row; empty without foreign holdings)."""
    snaps_parts, charts_parts, points_parts, fx_parts = [], [], [], []
    with np.errstate(invalid="ignore", divide="ignore"):
        for snaps in P.snapshot_batches(inputs):
            charts, points = P.compute_charts(snaps, inputs.sessions)
            charts_parts.append(charts)
            if set(FX_COUNTS) <= set(snaps.columns):
                fx_parts.append(snaps[FX_COUNTS].sum().to_frame().T)
            if keep is not None:
                snaps = snaps[snaps["portfolio_id"].isin(keep)]
                points = points[points["portfolio_id"].isin(keep)]
            snaps_parts.append(snaps)
            points_parts.append(points)
        charts = pd.concat(charts_parts, ignore_index=True)
        ranked, excluded = P.compute_leaderboards(
            charts, inputs.portfolios, inputs.rank_tie_tolerance
        )
    fx_counts = pd.concat(fx_parts).sum().to_frame().T if fx_parts else pd.DataFrame()
    return {
        "snapshots": pd.concat(snaps_parts, ignore_index=True),
        "chart_caches": charts,
        "chart_points": pd.concat(points_parts, ignore_index=True),
        "leaderboards": ranked,
        "leaderboard_exclusions": excluded,
        "fx_counts": fx_counts,
    }


def load_one_portfolio(url: str, portfolio_id: int) -> P.Inputs:
    """What a capable developer loads to recompute one portfolio: its rows and its symbols."""
    with psycopg.connect(url) as conn:
        sessions = P._frame(
            conn,
            "select session_date, session_idx from market.trading_days"
            " where calendar = %s order by session_date",
            [datagen.CALENDAR],
        )
        as_of = conn.execute(
            "select max(p.price_date) from market.prices as p inner join market.trading_days as td"
            " on td.calendar = %s and td.session_date = p.price_date where td.close_at <= ops.now()",
            [datagen.CALENDAR],
        ).fetchone()[0]
        positions = P._frame(
            conn,
            "select portfolio_id, position_id, symbol, investment_class::text as investment_class,"
            " quantity::float8 as quantity, entry_date, entry_price::float8 as entry_price,"
            " exit_date, exit_price::float8 as exit_price from core.positions"
            " where deleted_at is null and portfolio_id = %s order by position_id",
            [portfolio_id],
        )
        portfolios = P._frame(
            conn,
            "select portfolio_id, user_id, name, is_public,"
            " coalesce(benchmark_symbol, %s) as benchmark_symbol"
            " from core.portfolios where portfolio_id = %s",
            [datagen.BENCHMARK, portfolio_id],
        )
        symbols = sorted(set(positions["symbol"]) | set(portfolios["benchmark_symbol"]))
        prices = P._frame(
            conn,
            "select symbol, price_date, close::float8 as close from market.prices"
            " where symbol = any(%s) order by symbol, price_date",
            [symbols],
        )
        valuations = P._frame(
            conn,
            "select v.portfolio_id, v.position_id, v.valuation_date, v.value::float8 as value"
            " from core.valuations as v where v.portfolio_id = %s"
            " order by v.position_id, v.valuation_date",
            [portfolio_id],
        )
    positions["exit_price"] = positions["exit_price"].astype(float)
    return P.Inputs(
        positions=P._dates(positions, "entry_date", "exit_date"),
        portfolios=portfolios,
        prices=P._dates(prices, "price_date").astype({"close": float}),
        valuations=P._dates(valuations, "valuation_date").astype({"value": float}),
        sessions=P._dates(sessions, "session_date"),
        as_of=None if as_of is None else pd.Timestamp(as_of),
    )


def _get_median(cache: dict[str, dict[str, Any]]) -> float | None:
    for full in cache.values():
        return full["wall_ms"]["median"]
    return None


def _floats(frame: pd.DataFrame) -> pd.DataFrame:
    """Money and return columns as float64 (an all-zero column may come out as integers)."""
    cols = [c for c in frame.columns if c in compare.VALUE_COLS or c in compare.RETURN_COLS]
    return frame.astype({c: "float64" for c in cols})


def pandas_one_portfolio(url: str, portfolio_id: int) -> tuple[float, dict[str, pd.DataFrame]]:
    """Load, compute snapshots and charts, write back with COPY: seconds and the frames."""
    t0 = time.perf_counter()
    inputs = load_one_portfolio(url, portfolio_id)
    with np.errstate(invalid="ignore", divide="ignore"):
        snaps = P.compute_snapshots(inputs)
        charts, points = P.compute_charts(snaps, inputs.sessions)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        # What the app would do: replace that portfolio's rows (tables made once).
        if cur.execute("select to_regclass(%s)", [f"{P.SCHEMA}.snapshots"]).fetchone()[0] is None:
            cur.execute(P.DDL)
        for table in ("snapshots", "chart_caches", "chart_points"):
            cur.execute(
                sql.SQL("delete from {} where portfolio_id = %s").format(
                    sql.Identifier(P.SCHEMA, table)
                ),
                [portfolio_id],
            )
        P._copy(cur, "snapshots", _floats(snaps[P.SNAPSHOT_COLUMNS]))
        P._copy(cur, "chart_caches", _floats(charts[P.CHART_COLUMNS]))
        P._copy(cur, "chart_points", _floats(points[P.POINT_COLUMNS]))
    return time.perf_counter() - t0, {
        "snapshots": snaps,
        "chart_caches": charts,
        "chart_points": points,
    }


def pandas_charts_only(url: str, snaps: pd.DataFrame, sessions: pd.DataFrame) -> float:
    """Seconds to recompute every chart cache from in-memory snapshots and COPY them back."""
    t0 = time.perf_counter()
    with np.errstate(invalid="ignore", divide="ignore"):
        charts, points = P.compute_charts(snaps, sessions)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(P.DDL)
        P._copy(cur, "chart_caches", charts[P.CHART_COLUMNS])
        P._copy(cur, "chart_points", points[P.POINT_COLUMNS])
    return time.perf_counter() - t0


def orm_portfolios(url: str, portfolio_ids: list[int]) -> dict[str, Any]:
    """The ORM service on these portfolios: snapshots then charts, commit per portfolio, timed."""
    from sqlalchemy.orm import Session

    engine = O.engine_for(url)
    O.create_tables(engine)
    snap_s: list[float] = []
    chart_s: list[float] = []
    with Session(engine) as s:
        service = O.PortfolioService(s)
        as_of = service.as_of()
        for pid in portfolio_ids:
            portfolio = s.get(O.Portfolio, pid)
            t0 = time.perf_counter()
            service.rebuild_snapshots(portfolio, as_of)
            s.flush()
            t1 = time.perf_counter()
            service.rebuild_charts(portfolio)
            s.commit()
            t2 = time.perf_counter()
            snap_s.append(t1 - t0)
            chart_s.append(t2 - t1)
    engine.dispose()
    return {"portfolios": len(portfolio_ids), "snapshots_s": snap_s, "charts_s": chart_s}


def orm_frames(url: str, ids: list[int]) -> dict[str, pd.DataFrame]:
    out = {}
    for table in ("snapshots", "chart_caches", "chart_points"):
        cols = compare.COLUMNS[table]
        out[table] = compare._normalize(
            _read(
                url,
                f"select {', '.join(cols)} from {O.SCHEMA}.{table} where portfolio_id = any(%s)",
                [ids],
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Reads under load


def _percentiles(a: np.ndarray) -> dict[str, float | int | None]:
    if a.size == 0:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    return {
        "n": int(a.size),
        "p50": round(float(np.percentile(a, 50)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "max": round(float(a.max()), 3),
    }


def pgbench_pair(
    urls: dict[str, str],
    clients: int,
    seconds: float,
    user_id: int,
    portfolio_ids: list[int],
    pace_interval_s: float = 0.05,
) -> dict[str, dict[str, Any]]:
    """The read contract's three queries (CONTRACT_QUERIES, period 1Y) by one pgbench process
    per URL, all at the same time: ``clients`` clients each, paced at one query per
    ``pace_interval_s`` per client, prepared statements, as folio_app acting for ``user_id``
    (``foliodb.user_id``), each dashboard and chart read of a portfolio drawn from
    ``portfolio_ids``. Latency per query is pgbench's own time of the transaction less its
    schedule lag (the query's time, not the wait for its turn), from its per-transaction log."""
    pgbench = config.pg_bin_dir() / "pgbench"
    # pgbench draws an index; the id is looked up in a CASE (its expressions have no arrays)
    pick = " ".join(f"when :k = {i} then {pid}" for i, pid in enumerate(portfolio_ids))
    draw = f"\\set k random(0, {len(portfolio_ids) - 1})\n\\set pid case {pick} else 0 end\n"
    scripts = {
        "portfolio_dashboard": draw + CONTRACT_QUERIES["portfolio_dashboard"].replace("%s", ":pid"),
        "chart_points": draw
        + CONTRACT_QUERIES["chart_points"].replace("= %s and", "= :pid and").replace("%s", "'1Y'"),
        "leaderboards": CONTRACT_QUERIES["leaderboards"].replace("%s", "'1Y'"),
    }
    with tempfile.TemporaryDirectory(prefix="folio_pgbench_") as tmp:
        files = []
        for name, text in scripts.items():
            path = Path(tmp) / f"{name}.sql"
            path.write_text(text + ";\n")
            files += ["-f", f"{path}@1"]
        env = os.environ | {"PGOPTIONS": f"-c role=folio_app -c foliodb.user_id={user_id}"}
        procs = {
            state: subprocess.Popen(
                [
                    str(pgbench),
                    "--no-vacuum",
                    "--protocol=prepared",
                    f"--client={clients}",
                    "--jobs=2",
                    f"--time={max(int(seconds), 1)}",
                    f"--rate={clients / pace_interval_s:g}",
                    "--log",
                    f"--log-prefix={tmp}/{state}",
                    *files,
                    url,
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for state, url in urls.items()
        }
        outputs = {state: proc.communicate(timeout=seconds + 120) for state, proc in procs.items()}
        results: dict[str, dict[str, Any]] = {}
        names = list(scripts)
        for state, (stdout, stderr) in outputs.items():
            latencies: dict[str, list[float]] = {name: [] for name in names}
            for log in Path(tmp).glob(f"{state}.*"):
                for line in log.read_text().splitlines():
                    # client_id transaction_no time script_no time_epoch time_us schedule_lag
                    fields = line.split()
                    latencies[names[int(fields[3])]].append(
                        (int(fields[2]) - int(fields[6])) / 1000.0
                    )
            every = np.array([x for v in latencies.values() for x in v])
            errors = [] if procs[state].returncode == 0 else [stderr.strip()[-500:]]
            results[state] = {
                "all": _percentiles(every),
                "qps": round(every.size / seconds, 1) if seconds else None,
                "by_relation": {k: _percentiles(np.array(v)) for k, v in latencies.items()},
                "errors": errors,
                "summary": stdout.strip().splitlines()[-3:],
            }
    return results


def read_load(
    url: str,
    clients: int,
    max_s: float,
    log: Callable[[str], None],
    during: Callable[[], Any] | None = None,
    paced_s: float = 5.0,
    pace_interval_s: float = 0.05,
) -> dict[str, Any]:
    """``clients`` threads, each with its own connection (as folio_reader), querying the read
    contract in two phases: ``paced`` (each client sends one query every ``pace_interval_s``, an
    app's users) for ``paced_s``, then ``saturated`` (no pause: the server's capacity, latency is
    then mostly queueing) until ``during`` returns, or for ``max_s`` in total without it."""
    with psycopg.connect(url) as conn:
        pids = [r[0] for r in conn.execute("select portfolio_id from core.portfolios").fetchall()]
        periods = [
            r[0]
            for r in conn.execute(
                "select distinct period from analytics.fct_chart_caches"
            ).fetchall()
        ]
    stop = threading.Event()
    saturate = threading.Event()
    phases = ("paced", "saturated")
    latencies: dict[str, dict[str, list[float]]] = {
        ph: {k: [] for k in CONTRACT_QUERIES} for ph in phases
    }
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        local = {ph: {k: [] for k in CONTRACT_QUERIES} for ph in phases}
        r = random.Random(n)
        try:
            with psycopg.connect(url, autocommit=True) as c:
                with suppress(psycopg.Error):
                    c.execute("set role folio_reader")
                ready.wait()
                i = 0
                next_at = time.perf_counter() + r.random() * pace_interval_s
                while not stop.is_set():
                    phase = "saturated" if saturate.is_set() else "paced"
                    if phase == "paced":
                        pause = next_at - time.perf_counter()
                        if pause > 0:
                            time.sleep(pause)
                        next_at += pace_interval_s
                    kind = ("portfolio_dashboard", "chart_points", "leaderboards")[i % 3]
                    i += 1
                    if kind == "portfolio_dashboard":
                        args = [r.choice(pids)]
                    elif kind == "chart_points":
                        args = [r.choice(pids), r.choice(periods)]
                    else:
                        args = [r.choice(periods)]
                    t0 = time.perf_counter()
                    c.execute(CONTRACT_QUERIES[kind], args).fetchall()
                    local[phase][kind].append(time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            errors.append(f"client {n}: {exc}")
            with suppress(threading.BrokenBarrierError):
                ready.abort()
        with lock:
            for ph in phases:
                for k, v in local[ph].items():
                    latencies[ph][k].extend(v)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    ready.wait(timeout=60)
    t0 = time.perf_counter()
    refresh_result: dict[str, Any] = {}
    switch = threading.Timer(paced_s, saturate.set)
    switch.start()
    if during is not None:
        worker = threading.Thread(target=lambda: refresh_result.update(during()), daemon=True)
        worker.start()
        worker.join(timeout=max_s)
        if worker.is_alive():
            log("  reads: the refresh outlasted the read window; stopping the readers")
    else:
        time.sleep(max_s)
    switch.cancel()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "paced_seconds": round(min(paced_s, elapsed), 2),
        "pace_interval_ms": pace_interval_s * 1000,
        "errors": errors[:5],
        "refresh": refresh_result,
    }
    sample_rng = np.random.default_rng(1)
    for ph in phases:
        all_ms = np.array([x for v in latencies[ph].values() for x in v]) * 1000.0
        seconds = min(paced_s, elapsed) if ph == "paced" else max(elapsed - paced_s, 0.0)
        out[ph] = {
            "queries": int(all_ms.size),
            "qps": round(all_ms.size / seconds, 1) if seconds else None,
            "all": _percentiles(all_ms),
            "by_relation": {
                k: _percentiles(np.array(v) * 1000.0) for k, v in latencies[ph].items()
            },
            "latencies_ms_sample": [
                round(float(x), 3)
                for x in sample_rng.choice(all_ms, size=min(20000, all_ms.size), replace=False)
            ]
            if all_ms.size
            else [],
        }
    return out


# ---------------------------------------------------------------------------------------------
# The run


class Runner:
    def __init__(self, options: Options, server: Server) -> None:
        self.o = options
        self.server = server
        self.plan = PLANS["quick" if options.quick else options.scale]
        self.repeat = 1 if options.quick else max(1, options.repeat)
        self.log = options.log
        self.results: dict[str, Any] = {
            "meta": {},
            "datasets": {},
            "scenarios": {},
            "checks": {},
            "errors": {},
        }
        self._template = ""
        self._full_cache: dict[str, dict[str, Any]] = {}

    # -- plumbing
    def save(self) -> None:
        """Write latest.json, latest.md and the plots so far (a long run reports as it goes)."""
        from bench import report

        self.results["ratios"] = report.ratios(self.results)
        self.results["targets"] = report.targets(self.results)
        try:
            report.write(self.results, Path(self.o.out))
        except Exception:  # noqa: BLE001 - a rendering bug must not lose the measurements
            out = Path(self.o.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "latest.json").write_text(json.dumps(self.results, indent=2, default=str))
            self.log(f"report rendering failed:\n{traceback.format_exc()[-1500:]}")

    def dataset(self, **overrides: Any) -> Dataset:
        ds = with_retry(
            lambda: ensure_dataset(
                self.server, self._template, self.plan.main, self.o.seed, self.log, **overrides
            ),
            self.log,
        )
        self.results["datasets"][ds.label] = {
            "dbname": ds.dbname,
            "built_now": ds.built_now,
            "portfolios": ds.params["portfolios"],
            "symbols": ds.params["symbols"],
            "years": ds.params["years"],
            **{
                k: ds.summary.get(k)
                for k in (
                    "users",
                    "positions",
                    "private_positions",
                    "options_positions",
                    "closed_positions",
                    "valuations",
                    "prices",
                    "sessions",
                    "start_date",
                    "end_date",
                    "snapshot_rows",
                    "database_size",
                    "initial_full_refresh_ms",
                )
            },
            **{
                k: ds.summary[k]
                for k in (
                    "foreign_position_share",
                    "foreign_positions",
                    "foreign_symbols",
                    "foreign_symbols_by_currency",
                    "fx_rates",
                    "fx_rates_source",
                    "fx_missing_sessions",
                    "fx_late_pairs_first_rate",
                    "ledger_foreign_buys",
                    "ledger_foreign_buy_share",
                    "ledger_foreign_activities",
                    "ledger_portfolios_trading_foreign",
                    "ledger_portfolios",
                    "ledger_average_cost",
                    "activities",
                    "activities_by_type",
                    "dividend_symbols",
                    "dividends",
                    "splits",
                )
                if k in ds.summary
            },
        }
        return ds

    def scenario(self, key: str, func: Callable[[], dict[str, Any]]) -> None:
        if key not in self.o.only:
            return
        self.log(f"[{key}] {SCENARIO_TITLES[key]}")
        t0 = time.perf_counter()
        try:
            try:
                result = func()
            except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as exc:
                # Another session may restart the shared server (a killed backend makes the
                # postmaster reinitialize): wait for it and run the scenario once more.
                self.log(f"[{key}] connection lost ({exc}); retrying once in 15 s")
                time.sleep(15)
                result = func()
                result["retried_after"] = str(exc)[:300]
            result["title"] = SCENARIO_TITLES[key]
            result["scenario_wall_s"] = round(time.perf_counter() - t0, 1)
            self.results["scenarios"][key] = result
        except Exception as exc:  # noqa: BLE001 - one scenario's failure must not lose the rest
            self.log(f"[{key}] failed: {exc}")
            self.results["errors"][key] = traceback.format_exc()[-4000:]
        self.save()

    # -- the run
    def run(self) -> dict[str, Any]:
        started = datetime.now(UTC)
        self.results["meta"] = {
            "started_at": started.isoformat(timespec="seconds"),
            "scale": "quick" if self.o.quick else self.o.scale,
            "repeat": self.repeat,
            "only": list(self.o.only),
            "machine": machine_info(self.server),
            "notes": [
                f"bench databases set ops.settings refresh_statement_timeout = {LONG_TIMEOUT}",
            ],
        }
        self.server.drop_orphans(self.log)
        self._template = with_retry(lambda: _models_template(self.server, self.log), self.log)
        # The main dataset (minutes to build at 10k portfolios) only when a scenario uses it:
        # `--only e` needs none.
        main: Dataset | None = None
        if {"a", "b", "c", "d", "f", "g", "i"} & set(self.o.only):
            main = self.dataset(**self._main_overrides())
            self.results["meta"]["main_dataset"] = main.label
        self.save()

        needs_main = {"a", "b", "c", "d", "f"} & set(self.o.only)
        if needs_main and main is not None:
            with self.server.clone(main.dbname, "main") as url:
                self.scenario("d", lambda: self.full_rebuild(url, main))
                self.scenario("c", lambda: self.chart_rebuild(url, main))
                self.scenario("f", lambda: self.reads(url))
                # b before a: the demo prices of the import reach the last closed session,
                # after which there is no new session left to add.
                self.scenario("b", lambda: self.nightly(url, main))
                self.scenario("a", lambda: self.onboarding(url))
        if main is not None:
            self.scenario("i", lambda: self.foreign(main))
        self.scenario("e", self.ingest)
        self.scenario("h", self.ledger)
        if main is not None:
            self.scenario("g", lambda: self.growth(main))
        self.results["meta"]["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.results["meta"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        from bench import report

        self.results["ratios"] = report.ratios(self.results)
        self.results["targets"] = report.targets(self.results)
        self.save()
        return self.results

    def _main_overrides(self) -> dict[str, Any]:
        """The plan's dataset parameters (LEDGER_DATASET), for every dataset it generates."""
        return dict(self.plan.dataset)

    # -- scenarios
    def _full(self, ds: Dataset, url: str | None = None) -> dict[str, Any]:
        """Full refreshes of a dataset (memoized per dataset within the run). A URL: the bench's
        own database (else a fresh clone), refreshed by the reconnecting refresh client."""
        if ds.dbname not in self._full_cache:
            if url is not None:
                self._full_cache[ds.dbname] = full_refreshes(url, self.repeat, self.log, ds.label)
            else:
                with self.server.clone(ds.dbname, "full") as clone_url:
                    self._full_cache[ds.dbname] = full_refreshes(
                        clone_url, self.repeat, self.log, ds.label
                    )
        return self._full_cache[ds.dbname]

    def _pandas_checks(
        self, url: str, key: str, what: str, keep_all: bool = False
    ) -> tuple[P.Inputs, dict[str, pd.DataFrame], list[int]]:
        """pandas on every portfolio of ``url``, checked against foliodb: a sample's snapshots,
        charts and points, every chart cache, the leaderboards; recorded under ``key``.
        ``keep_all``: the frames returned keep every portfolio's snapshots (else the
        sample's)."""
        inputs = P.load(url)
        ids = sorted(int(x) for x in inputs.portfolios["portfolio_id"])
        sample = sorted(random.Random(3).sample(ids, min(self.plan.check_sample, len(ids))))
        # the whole book's snapshots only where scenario c times pandas' charts from them
        frames = pandas_frames(inputs, keep=None if keep_all else sample)
        label = f"pandas ({what})" if what else "pandas"
        self.results["checks"][key] = check_against_foliodb(
            url,
            label,
            {k: frames[k] for k in ("snapshots", "chart_caches", "chart_points")},
            sample,
        )
        self.results["checks"][f"{key}_all_charts"] = check_against_foliodb(
            url,
            f"pandas ({what + ', ' if what else ''}all chart caches)",
            {"chart_caches": frames["chart_caches"]},
            ids,
        )
        self.results["checks"][f"{key}_leaderboards"] = check_leaderboards(
            url, frames["leaderboards"], frames["leaderboard_exclusions"]
        )
        return inputs, frames, ids

    def _baseline_checks(self, url: str) -> dict[str, Any]:
        """pandas on everything and the ORM on a subset, each checked against foliodb once."""
        if "pandas" in self.results["checks"]:
            return self._baseline_state
        self.log("  checking the baselines against foliodb")
        inputs, frames, ids = self._pandas_checks(url, "pandas", "", keep_all=True)
        # ORM: the first users by id, as orm_impl.run(limit_users=N) picks them, among those
        # without a ledger (the ORM baseline computes positions, their splits and dividends)
        with psycopg.connect(url) as conn:
            orm_ids = [
                r[0]
                for r in conn.execute(
                    "select p.portfolio_id from core.portfolios as p where p.user_id in"
                    " (select u.user_id from core.users as u where not exists"
                    " (select from core.portfolios as q inner join core.activities as a"
                    " using (portfolio_id) where q.user_id = u.user_id)"
                    " order by u.user_id limit %s)"
                    " order by p.portfolio_id",
                    [self.plan.orm_users],
                ).fetchall()
            ]
        self.log(f"  ORM baseline on {len(orm_ids)} portfolios (of {len(ids):,})")
        orm = orm_portfolios(url, orm_ids)
        orm_check = check_against_foliodb(url, "ORM", orm_frames(url, orm_ids), orm_ids)
        self.results["checks"]["orm"] = orm_check
        self._baseline_state = {"inputs": inputs, "frames": frames, "orm": orm, "ids": ids}
        return self._baseline_state

    def full_rebuild(self, url: str, ds: Dataset) -> dict[str, Any]:
        full = self._full(ds, url)
        state = self._baseline_checks(url)
        pandas_runs = []
        for i in range(self.repeat):
            pandas_runs.append(P.run(url, write=True))
            self.log(f"  pandas full {i + 1}/{self.repeat}: {pandas_runs[-1]['total_s']:.1f} s")
        orm = state["orm"]
        n_total = len(state["ids"])
        per_pf = (sum(orm["snapshots_s"]) + sum(orm["charts_s"])) / max(orm["portfolios"], 1)
        return {
            "dataset": ds.label,
            "portfolios": n_total,
            "foliodb": full,
            "pandas": {
                "total_ms": summarize([_ms(r["total_s"]) for r in pandas_runs]),
                "detail_s": {
                    k: summarize([r[k] for r in pandas_runs])
                    for k in ("load_s", "snapshots_s", "charts_s", "leaderboards_s", "write_s")
                },
            },
            "orm": {
                "measured_portfolios": orm["portfolios"],
                "measured_s": round(sum(orm["snapshots_s"]) + sum(orm["charts_s"]), 3),
                "per_portfolio_s": round(per_pf, 4),
                "extrapolated_ms": _ms(per_pf * n_total),
                "note": f"measured on {orm['portfolios']} portfolios once, extrapolated linearly"
                f" to {n_total:,} (leaderboards not included)",
            },
        }

    def chart_rebuild(self, url: str, ds: Dataset) -> dict[str, Any]:
        full = self._full(ds, url)
        state = self._baseline_checks(url)
        step = full["chart_ms"]
        inputs, frames = state["inputs"], state["frames"]
        pandas_s = [
            pandas_charts_only(url, frames["snapshots"], inputs.sessions)
            for _ in range(self.repeat)
        ]
        orm = state["orm"]
        n_total = len(state["ids"])
        per_pf = sum(orm["charts_s"]) / max(orm["portfolios"], 1)
        return {
            "dataset": ds.label,
            "portfolios": n_total,
            "chart_rows": full["step_rows"].get("fct_chart_caches"),
            "foliodb": {"step": " + ".join(CHART_STEPS), "db_ms": step},
            "pandas": {
                "ms": summarize([_ms(s) for s in pandas_s]),
                "note": "compute_charts from in-memory snapshots + COPY of caches and points",
            },
            "orm": {
                "measured_portfolios": orm["portfolios"],
                "measured_s": round(sum(orm["charts_s"]), 3),
                "per_portfolio_s": round(per_pf, 4),
                "extrapolated_ms": _ms(per_pf * n_total),
                "note": f"rebuild_charts measured on {orm['portfolios']} portfolios once,"
                f" extrapolated linearly to {n_total:,}",
            },
        }

    def reads(self, url: str) -> dict[str, Any]:
        tcp = self.server.tcp_url(conninfo_to_dict(url)["dbname"])
        idle = read_load(
            tcp,
            self.plan.read_clients,
            self.plan.read_idle_s,
            self.log,
            paced_s=self.plan.read_idle_s / 2,
        )
        # Paced readers for the first half of the refresh (its length known from scenario d),
        # saturating readers for the rest.
        expected_s = (_get_median(self._full_cache) or 10_000.0) / 1000.0
        busy = read_load(
            tcp,
            self.plan.read_clients,
            self.plan.read_max_s,
            self.log,
            during=lambda: refresh_once(url, full=True),
            paced_s=max(expected_s / 2, 0.3),
        )
        for name, res in (("idle", idle), ("during a full refresh", busy)):
            for ph in ("paced", "saturated"):
                a = res[ph]["all"]
                self.log(
                    f"  reads {name}, {ph}: p50 {a['p50']} ms, p99 {a['p99']} ms,"
                    f" {res[ph]['qps']} q/s"
                )
        rls = self.rls_overhead(url)
        return {
            "connection": "Unix socket, one psycopg connection per client thread (32 threads"
            " in one Python process), set role folio_reader; latency measured client side",
            "queries": CONTRACT_QUERIES,
            "idle": idle,
            "during_full_refresh": busy,
            "rls_on_vs_off": rls,
        }

    def rls_overhead(self, url: str) -> dict[str, Any]:
        """The same paced idle reads with the row-level security policies on and off, at the
        same time: two clones of the dataset, one with its policies disabled, each read by
        half the clients for twice as long, each by its own pgbench process (a C client: no
        interpreter between the queries and their times). Run side by side, both see the same
        load on the machine (one after the other, a load that drifts between the two runs
        moves the ratio more than the policies do). The clients read as an app does: the
        trusted backend role acting for one user (the one with the most portfolios), querying
        the portfolios that user may see (its own and the public ones), so both clones return
        the same rows and only the policies' checks differ."""
        dbname = conninfo_to_dict(url)["dbname"]
        clients = max(self.plan.read_clients // 2, 1)
        # long enough that a p99 (one query in a hundred) rests on ~190 slow queries per state
        # (the quick plan only checks that the measurement works)
        seconds = self.plan.rls_s or self.plan.read_idle_s * 6
        with psycopg.connect(url) as conn:
            user_id, portfolio_ids = conn.execute(
                "with acting as ("
                " select user_id from core.portfolios group by user_id"
                " order by count(*) desc, user_id limit 1)"
                " select acting.user_id, array_agg(portfolios.portfolio_id order by portfolios.portfolio_id)"
                " from core.portfolios cross join acting"
                " where portfolios.is_public or portfolios.user_id = acting.user_id"
                " group by acting.user_id"
            ).fetchone()
        out: dict[str, Any] = {
            "method": f"on and off concurrently, each on its own clone, {clients} paced clients"
            f" each (pgbench, prepared, one query per 50 ms per client) for {seconds:g} s, as"
            f" folio_app acting for user {user_id} over the {len(portfolio_ids)} portfolios it"
            " may see",
        }
        with (
            self.server.clone(dbname, "rls_on") as on_url,
            self.server.clone(dbname, "rls_off") as off_url,
        ):
            with psycopg.connect(off_url, autocommit=True) as conn:
                tables = conn.execute(
                    "select distinct polrelid::regclass::text from pg_policy"
                ).fetchall()
                for (table,) in tables:
                    conn.execute(f"alter table {table} disable row level security")
            results = pgbench_pair(
                {
                    "on": self.server.tcp_url(conninfo_to_dict(on_url)["dbname"]),
                    "off": self.server.tcp_url(conninfo_to_dict(off_url)["dbname"]),
                },
                clients=clients,
                seconds=seconds,
                user_id=int(user_id),
                portfolio_ids=list(portfolio_ids),
            )
        for state in ("on", "off"):
            res = results[state]
            out[state] = {
                "p50_ms": res["all"]["p50"],
                "p99_ms": res["all"]["p99"],
                "qps": res["qps"],
                "queries": res["all"]["n"],
                "by_relation": res["by_relation"],
                "errors": res["errors"],
            }
        for key in ("p50_ms", "p99_ms"):
            on, off = out["on"][key], out["off"][key]
            out[f"{key[:3]}_on_over_off"] = round(on / off, 3) if on and off else None
        self.log(
            f"  reads with RLS on: p50 {out['on']['p50_ms']} ms, p99 {out['on']['p99_ms']} ms;"
            f" off: p50 {out['off']['p50_ms']} ms, p99 {out['off']['p99_ms']} ms"
        )
        return out

    def onboarding(self, url: str) -> dict[str, Any]:
        from foliodb.db import connect
        from foliodb.portfolio_io import import_portfolio
        from foliodb.security import REFRESH

        csv = ROOT / "examples" / "reference_portfolio.csv"
        # A user uploads to a database refreshed through the last closed session: add the
        # sessions left after the history and run the nightly refresh (untimed). Otherwise the
        # import's demo prices, which reach that session, would move the as-of session and the
        # one-portfolio refresh would re-fit its symbols at the new session.
        caught_up = current_sessions(url)
        if caught_up:
            refresh_once(url)
            self.log(f"  onboarding: database brought up to date ({caught_up} session(s) added)")
        runs = []
        for i in range(self.repeat):
            t0 = time.perf_counter()
            # as `folio portfolio import`: the ledger session as the refresh role, timed too
            with connect(url, role=REFRESH, autocommit=True) as conn:
                res = import_portfolio(
                    conn,
                    csv,
                    "reference@example.com",
                    f"Reference upload {i + 1}",
                    price_source="demo",
                    url=url,
                    fetch_prices=fetch_for_import,
                )
            wall = time.perf_counter() - t0
            if res.status != "succeeded" or not res.refresh:
                raise RuntimeError(f"import {res.status}: {res.message}")
            runs.append(
                {
                    "portfolio_id": res.portfolio_id,
                    "import_ms": _ms(wall),
                    "db_ms": float(res.refresh["duration_ms"]),
                    "refresh_call_ms": float(res.timings_ms.get("refresh", 0)),
                    "timings_ms": res.timings_ms,
                }
            )
            self.log(
                f"  import {i + 1}/{self.repeat}: {runs[-1]['db_ms']:.1f} ms db,"
                f" {runs[-1]['import_ms']:.0f} ms whole import"
            )
        pid = runs[0]["portfolio_id"]
        # Baselines for the same portfolio, checked against foliodb's rows first.
        _, pandas_frames_one = pandas_one_portfolio(url, pid)
        check_pd = check_against_foliodb(
            url, "pandas (reference portfolio)", pandas_frames_one, [pid]
        )
        orm_first = orm_portfolios(url, [pid])
        check_orm = check_against_foliodb(
            url, "ORM (reference portfolio)", orm_frames(url, [pid]), [pid]
        )
        self.results["checks"]["onboarding_pandas"] = check_pd
        self.results["checks"]["onboarding_orm"] = check_orm
        pandas_s = [pandas_one_portfolio(url, pid)[0] for _ in range(self.repeat)]
        orm_s = [orm_first["snapshots_s"][0] + orm_first["charts_s"][0]]
        for _ in range(self.repeat - 1):
            again = orm_portfolios(url, [pid])
            orm_s.append(again["snapshots_s"][0] + again["charts_s"][0])
        with psycopg.connect(url) as conn:
            others = conn.execute(
                "select count(*) - %s from core.portfolios", [self.repeat]
            ).fetchone()[0]
        return {
            "portfolio_positions": len(datagen.REFERENCE_PORTFOLIO),
            "other_portfolios": others,
            "foliodb": {
                "db_ms": summarize([r["db_ms"] for r in runs]),
                "refresh_call_ms": summarize([r["refresh_call_ms"] for r in runs]),
                "import_ms": summarize([r["import_ms"] for r in runs]),
                "sessions_added_first": caught_up,
                "note": "on a database refreshed through the last closed session;"
                " db_ms: ops.runs duration of call ops.refresh('portfolio', id);"
                " refresh_call_ms: that call from Python; import_ms: import_portfolio"
                " (validate, write, demo prices, refresh)",
            },
            "pandas": {
                "ms": summarize([_ms(s) for s in pandas_s]),
                "note": "load the portfolio's rows and its symbols' prices, compute"
                " snapshots and charts, COPY back",
            },
            "orm": {
                "ms": summarize([_ms(s) for s in orm_s]),
                "note": "rebuild_snapshots + rebuild_charts of that portfolio, one commit",
            },
        }

    def nightly(self, url: str, ds: Dataset) -> dict[str, Any]:
        inc = incrementals(url, min(self.repeat, 5), self.log, ds.label)
        return {"dataset": ds.label, "portfolios": ds.params["portfolios"], "foliodb": inc}

    def foreign(self, main: Dataset) -> dict[str, Any]:
        """Scenario i: the main dataset with about 20 % of its positions in symbols traded in
        a foreign currency (datagen ``foreign_share``: the same rows, plus currencies and
        synthetic FX rates), beside the USD-only one, each on a fresh clone, interleaved so
        that both see the same load: nights (a new session's prices, and rates, then
        ``call ops.refresh()``), then the pandas baseline checked equal to foliodb on the
        foreign dataset (after those incremental refreshes), then full rebuilds and pandas
        runs of both."""
        fx_ds = self.dataset(**self._main_overrides(), foreign_share=FOREIGN_SHARE)
        # the same foreign share over the shortest history of scenario g: its nights beside
        # the main ones say whether the nightly stays flat in history with foreign holdings
        short_years = min(self.plan.years_growth, default=1)
        fx_short = self.dataset(
            **self._main_overrides(), foreign_share=FOREIGN_SHARE, years=short_years
        )
        nights = min(
            max(self.repeat, FOREIGN_NIGHTS),
            main.params["spare_sessions"],
            fx_short.params["spare_sessions"],
        )
        runs: dict[str, dict[str, list[Any]]] = {
            side: {"nightly": [], "full": [], "pandas": []} for side in ("usd", "foreign", "short")
        }
        with (
            self.server.clone(main.dbname, "usd") as usd_url,
            self.server.clone(fx_ds.dbname, "fx") as fx_url,
            self.server.clone(fx_short.dbname, "fxshort") as short_url,
        ):
            urls = {"usd": usd_url, "foreign": fx_url}
            for night in range(nights):
                for side, url in {**urls, "short": short_url}.items():
                    datagen.add_session(url, seed=night)
                    runs[side]["nightly"].append(refresh_once(url))
                    self.log(
                        f"  {side}: night {night + 1}/{nights}:"
                        f" {runs[side]['nightly'][-1]['wall_ms']:.0f} ms"
                    )
            self.log("  checking pandas against foliodb on the foreign-currency dataset")
            inputs, frames, _ = self._pandas_checks(fx_url, "foreign_pandas", "foreign currencies")
            converted = frames["fx_counts"].iloc[0] if len(frames["fx_counts"]) else {}
            del inputs, frames
            for i in range(self.repeat):
                for side, url in urls.items():
                    runs[side]["full"].append(refresh_once(url, full=True))
                    self.log(
                        f"  {side}: full refresh {i + 1}/{self.repeat}:"
                        f" {runs[side]['full'][-1]['db_ms'] / 1000:.1f} s"
                    )
                for side, url in urls.items():
                    runs[side]["pandas"].append(P.run(url, write=True))
                    self.log(
                        f"  {side}: pandas full {i + 1}/{self.repeat}:"
                        f" {runs[side]['pandas'][-1]['total_s']:.1f} s"
                    )

        def nightly(rs: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "wall_ms": summarize([r["wall_ms"] for r in rs]),
                "db_ms": summarize([r["db_ms"] for r in rs]),
                "steps_ms": {s: summarize([r["steps"].get(s) for r in rs]) for s in rs[0]["steps"]},
            }

        def full(rs: list[dict[str, Any]]) -> dict[str, Any]:
            return {**nightly(rs), "step_rows": rs[0]["step_rows"]}

        def pandas(rs: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "total_ms": summarize([_ms(r["total_s"]) for r in rs]),
                "detail_s": {
                    k: summarize([r[k] for r in rs])
                    for k in ("load_s", "snapshots_s", "charts_s", "leaderboards_s", "write_s")
                },
            }

        out: dict[str, Any] = {
            "dataset": fx_ds.label,
            "usd_dataset": main.label,
            "portfolios": fx_ds.params["portfolios"],
            "foreign_share_target": FOREIGN_SHARE,
            "foreign_position_share": fx_ds.summary.get("foreign_position_share"),
            "foreign_symbols_by_currency": fx_ds.summary.get("foreign_symbols_by_currency"),
            "ledger_foreign_buy_share": fx_ds.summary.get("ledger_foreign_buy_share"),
            "ledger_foreign_activities": fx_ds.summary.get("ledger_foreign_activities"),
            "fx_rates": fx_ds.summary.get("fx_rates"),
            "conversions_in_snapshots": {k: int(v) for k, v in converted.items()},
            "order": "each step on the USD-only clone, then on the foreign one, alternately",
        }
        for what, summarize_runs in (("nightly", nightly), ("full", full), ("pandas", pandas)):
            out[what] = {side: summarize_runs(runs[side][what]) for side in ("usd", "foreign")}
        short_ms = summarize([r["wall_ms"] for r in runs["short"]["nightly"]])["median"]
        out["history"] = {
            "dataset": fx_short.label,
            "years": short_years,
            "main_years": fx_ds.params["years"],
            "nightly_short": nightly(runs["short"]["nightly"]),
            # the main foreign nightly over the short-history one, end to end
            "ratio_wall_ms": round(out["nightly"]["foreign"]["wall_ms"]["median"] / short_ms, 3)
            if short_ms
            else None,
        }
        for what, key in (("nightly", "wall_ms"), ("nightly", "db_ms"), ("full", "db_ms")):
            usd_ms = out[what]["usd"][key]["median"]
            fx_ms = out[what]["foreign"][key]["median"]
            out[what][f"ratio_{key}"] = round(fx_ms / usd_ms, 3) if usd_ms else None
        usd_pd = out["pandas"]["usd"]["total_ms"]["median"]
        out["pandas"]["ratio"] = (
            round(out["pandas"]["foreign"]["total_ms"]["median"] / usd_pd, 3) if usd_pd else None
        )
        out["nightly"]["nights"] = nights
        self.log(
            f"  nightly with foreign holdings / USD-only: {out['nightly']['ratio_wall_ms']}x"
            f" (end to end), full rebuild {out['full']['ratio_db_ms']}x, pandas"
            f" {out['pandas']['ratio']}x; nightly {fx_ds.params['years']} y / {short_years} y with"
            f" foreign holdings {out['history']['ratio_wall_ms']}x"
        )
        return out

    def ledger(self) -> dict[str, Any]:
        from bench import ledger_bench

        n_activities, years = self.plan.ledger
        with self.server.clone(self._template, "ledger") as url:
            result = ledger_bench.run(url, n_activities, years, repeat=self.repeat)
        self.results["checks"]["h_ledger"] = result["check"]
        full = [r["db_ms"] for r in result["full_rebuild"]]
        edits = [r["db_ms"] for r in result["edit_refresh"]]
        self.log(
            f"  ledger of {n_activities:,} activities: full rebuild {statistics.median(full):.0f} ms,"
            f" after an edit {statistics.median(edits):.0f} ms (database time)"
        )
        out = {
            **result,
            "full_rebuild_db_ms": summarize(full),
            "full_rebuild_wall_ms": summarize([r["wall_ms"] for r in result["full_rebuild"]]),
            "edit_refresh_db_ms": summarize(edits),
            "edit_refresh_wall_ms": summarize([r["wall_ms"] for r in result["edit_refresh"]]),
            "edit_refresh_new_session_db_ms": summarize(
                [r["db_ms"] for r in result["edit_refresh_new_session"]]
            ),
        }
        if self.plan.ledger_large:
            # once (one rebuild after the warm-up, one edit): the issue asks that it works
            n_large, years_large = self.plan.ledger_large
            with self.server.clone(self._template, "ledger_large") as url:
                large = ledger_bench.run(url, n_large, years_large, repeat=1)
            self.results["checks"]["h_ledger_large"] = large["check"]
            self.log(
                f"  ledger of {n_large:,} activities: import {large['import_db_ms']:.0f} ms, full"
                f" rebuild {large['full_rebuild'][0]['db_ms']:.0f} ms, after an edit"
                f" {large['edit_refresh'][0]['db_ms']:.0f} ms (database time); cash and units"
                f" {'equal to' if large['check']['equal'] else 'DIFFERENT from'} their plain sums"
            )
            out["large"] = large
        return out

    def ingest(self) -> dict[str, Any]:
        from bench import ingest_bench

        n_symbols, years = self.plan.ingest
        runs = []
        with self.server.clone(self._template, "ingest") as url:
            for i in range(self.repeat):
                runs.append(ingest_bench.run(url, n_symbols=n_symbols, years=years))
                self.log(f"  ingest {i + 1}/{self.repeat}: {runs[-1]['first_load_s']:.1f} s")
            csv_runs = []
            for i in range(self.repeat):
                csv_runs.append(ingest_bench.csv_run(url, sizes=self.plan.ingest_csv_rows))
                self.log(
                    f"  ingest csv {i + 1}/{self.repeat}: "
                    + ", ".join(
                        f"{r['rows']:,} rows {r['load_s']:.1f} s {r['peak_rss_mb']} MB"
                        for r in csv_runs[-1]["by_rows"]
                    )
                )
        csv_by_rows = []
        for k, size in enumerate(self.plan.ingest_csv_rows):
            per_run = [r["by_rows"][k] for r in csv_runs]
            csv_by_rows.append(
                {
                    "rows": size,
                    "file_mb": per_run[0]["file_mb"],
                    "load_ms": summarize([_ms(r["load_s"]) for r in per_run]),
                    "rows_per_s": summarize([r["rows_per_s"] for r in per_run]),
                    "peak_rss_mb": summarize([r["peak_rss_mb"] for r in per_run]),
                    "raw_copy_ms": summarize([_ms(r["raw_copy_s"]) for r in per_run]),
                    "load_average_1min": [r["load_average_1min"] for r in per_run],
                }
            )
        return {
            "csv": {
                "by_rows": csv_by_rows,
                "rows_per_s": csv_by_rows[-1]["rows_per_s"]["median"],
                "peak_rss_ratio": round(
                    csv_by_rows[-1]["peak_rss_mb"]["median"]
                    / csv_by_rows[0]["peak_rss_mb"]["median"],
                    3,
                ),
                "note": csv_runs[0]["note"],
            },
            "symbols": n_symbols,
            "years": years,
            "rows": runs[0]["rows"],
            "first_load_ms": summarize([_ms(r["first_load_s"]) for r in runs]),
            "first_load_rows_per_s": summarize([r["first_load_rows_per_s"] for r in runs]),
            "reload_unchanged_ms": summarize([_ms(r["reload_unchanged_s"]) for r in runs]),
            "peak_python_mb_by_symbols": runs[-1]["peak_python_mb_by_symbols"],
            "max_rss_mb": max(r["max_rss_mb"] for r in runs),
            "note": "through ingest.load.load_rows (COPY, validation, upsert), chunks of 50 symbols;"
            " peak Python memory by tracemalloc; max RSS of the runner process",
        }

    def growth(self, main: Dataset) -> dict[str, Any]:
        plan = self.plan
        by_portfolios = []
        for n in plan.portfolio_growth:
            ds = (
                main
                if n == main.params["portfolios"]
                else self.dataset(**self._main_overrides(), portfolios=n)
            )
            full = self._full(ds)
            by_portfolios.append(
                {
                    "portfolios": n,
                    "years": ds.params["years"],
                    "dataset": ds.label,
                    "full_db_ms": full["db_ms"],
                    "steps_ms": {k: v["median"] for k, v in full["steps_ms"].items()},
                }
            )
            self.save()
        by_years = []
        for y in plan.years_growth:
            ds = self.dataset(
                **self._main_overrides(), portfolios=plan.years_growth_portfolios, years=y
            )
            with self.server.clone(ds.dbname, "years") as url:
                full = self._full(ds, url)
                inc = incrementals(url, min(self.repeat, 5), self.log, ds.label)
            by_years.append(
                {
                    "years": y,
                    "portfolios": ds.params["portfolios"],
                    "dataset": ds.label,
                    "sessions": self.results["datasets"][ds.label]["sessions"],
                    "full_db_ms": full["db_ms"],
                    "incremental_wall_ms": inc["wall_ms"],
                    "incremental_db_ms": inc["db_ms"],
                    "steps_ms": {k: v["median"] for k, v in full["steps_ms"].items()},
                }
            )
            self.save()
        return {"by_portfolios": by_portfolios, "by_years": by_years}


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; writes latest.json (and the report) under ``options.out``."""
    from foliodb import cluster

    if not config.external_url():
        cluster.up()
    server = Server(cluster.admin_url())
    runner = Runner(options, server)
    results = runner.run()
    from bench import report

    report.write(results, Path(options.out))
    return results
