"""Ingest benchmark: load N symbols × Y years of daily rows from frames through the loader.

What is timed is exactly what a provider's rows go through: COPY into staging, set-based
validation (trading days, finiteness, duplicates, last closed session), the day-over-day
move check and the one upsert, one transaction per chunk of ``chunk_size`` symbols. Frames
are generated chunk by chunk, so peak Python memory depends on the chunk size, not on the
total: the benchmark measures the peak (tracemalloc) at the full size and at half the
symbols to show it.

The rows go into the database at ``url`` under symbols BENCH0000…, and are deleted after.

A second part (``csv_run``) loads price CSV files of 100,000 and 1,000,000 rows the way
``folio ingest prices --source csv`` does (``ingest.prices.ingest_prices``: the file streamed
through ``PriceCsv`` into the staging table in bounded chunks, checked, upserted), each in
its own child process, whose peak resident memory (``ru_maxrss`` from ``os.wait4``) is that
of the loading process alone. Streaming means the peak is the same for both sizes.

    python -m bench.ingest_bench            # prints JSON
    python -m bench.ingest_bench csv        # the CSV part only
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from foliodb import config
from ingest import calendar
from ingest.load import load_rows

PREFIX = "BENCH"


def _sessions(conn: psycopg.Connection, years: int) -> tuple[np.ndarray, object]:
    last = calendar.last_closed_session(conn)
    rows = conn.execute(
        "select session_date from market.trading_days where calendar = %s"
        " and session_date <= %s and session_date > %s::date - make_interval(years => %s)"
        " order by session_date",
        [calendar.configured_calendar(conn), last, last, years],
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=object), last


def chunk_frame(symbols: list[str], dates: np.ndarray, seed: int) -> pd.DataFrame:
    """Random-walk closes for these symbols on these dates (long format)."""
    rng = np.random.default_rng(seed)
    n, m = len(dates), len(symbols)
    steps = rng.normal(0.0003, 0.015, size=(m, n))
    closes = np.round(50 * np.exp(np.cumsum(steps, axis=1)), 4)
    return pd.DataFrame(
        {
            "symbol": np.repeat(np.array(symbols, dtype=object), n),
            "price_date": np.tile(dates, m),
            "close": closes.ravel(),
            "adj_close": closes.ravel(),
            "volume": rng.integers(1e5, 1e7, size=m * n),
        }
    )


def _load(
    conn: psycopg.Connection,
    n_symbols: int,
    dates: np.ndarray,
    last: object,
    chunk_size: int,
) -> dict:
    symbols = [f"{PREFIX}{i:04d}" for i in range(n_symbols)]
    totals = {"rows": 0, "inserted": 0, "updated": 0, "unchanged": 0, "quarantined": 0}
    gen_s = load_s = 0.0
    for start in range(0, n_symbols, chunk_size):
        t0 = time.perf_counter()
        frame = chunk_frame(symbols[start : start + chunk_size], dates, seed=start)
        t1 = time.perf_counter()
        res = load_rows(conn, frame, "csv", last_closed=last)
        t2 = time.perf_counter()
        gen_s += t1 - t0
        load_s += t2 - t1
        totals["rows"] += len(frame)
        totals["inserted"] += res.inserted
        totals["updated"] += res.updated
        totals["unchanged"] += res.unchanged
        totals["quarantined"] += res.quarantined
        del frame
    return {**totals, "generate_s": round(gen_s, 3), "load_s": round(load_s, 3)}


def _cleanup(conn: psycopg.Connection) -> None:
    like = f"{PREFIX}%"
    conn.execute("delete from market.prices where symbol like %s", [like])
    conn.execute("delete from market.quarantine where symbol like %s", [like])
    conn.execute("delete from ops.dirty_symbols where symbol like %s", [like])
    conn.execute("delete from market.symbols where symbol like %s", [like])
    conn.execute("vacuum analyze market.prices")  # a fair start: no dead rows from a last pass


def run(url: str | None = None, n_symbols: int = 500, years: int = 5, chunk_size: int = 50) -> dict:
    """Time a first load and a re-load (all unchanged) of n_symbols × years; peak memory.
    A URL: the bench's own database, on sessions the bench opens."""
    with psycopg.connect(url or config.database_url(), autocommit=True) as conn:
        dates, last = _sessions(conn, years)
        _cleanup(conn)
        try:
            t0 = time.perf_counter()
            first = _load(conn, n_symbols, dates, last, chunk_size)
            first_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = _load(conn, n_symbols, dates, last, chunk_size)
            again_s = time.perf_counter() - t0
            _cleanup(conn)
            # Peak Python memory (tracemalloc slows allocation: measured in separate passes).
            peaks = {}
            for n in (n_symbols, max(chunk_size, n_symbols // 2)):
                _cleanup(conn)
                tracemalloc.start()
                _load(conn, n, dates, last, chunk_size)
                peaks[n] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        finally:
            _cleanup(conn)
    rows = first["rows"]
    return {
        "benchmark": "ingest_prices_load",
        "symbols": n_symbols,
        "years": years,
        "sessions": len(dates),
        "chunk_size": chunk_size,
        "rows": rows,
        "first_load_s": round(first_s, 3),
        "first_load_rows_per_s": round(rows / first_s),
        "first_load_detail": first,
        "reload_unchanged_s": round(again_s, 3),
        "reload_rows_per_s": round(rows / again_s),
        "reload_detail": again,
        "peak_python_mb_by_symbols": {n: round(b / 2**20, 1) for n, b in peaks.items()},
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "target": "well under 10 s for ~630k rows on 2 cores",
    }


# ---------------------------------------------------------------------------- CSV files

CSV_TARGET_ROWS_PER_S = 100_000
CSV_TARGET_MEMORY_RATIO = 1.2  # peak memory at 1M rows / at 100k rows


def write_csv(path: Path, dates: np.ndarray, rows: int, seed: int = 7) -> int:
    """A price file of ``rows`` rows (symbols BENCH0000… × the sessions), written as it is
    generated; returns its size in bytes."""
    rng = np.random.default_rng(seed)
    days = [d.isoformat() for d in dates]
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("symbol,date,close,adj_close,volume\n")
        symbol = 0
        while written < rows:
            n = min(len(days), rows - written)
            closes = np.round(50 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n))), 4)
            volumes = rng.integers(100_000, 10_000_000, n)
            name = f"{PREFIX}{symbol:04d}"
            out.writelines(
                f"{name},{d},{c},{c},{v}\n"
                for d, c, v in zip(days[:n], closes, volumes, strict=True)
            )
            written += n
            symbol += 1
    return path.stat().st_size


def _child_load(url: str, path: str) -> None:
    """In the child process: load one file as `folio ingest prices --source csv` does."""
    from foliodb.db import connect
    from foliodb.security import INGEST
    from ingest.prices import ingest_prices

    t0 = time.perf_counter()
    with connect(url, role=INGEST, autocommit=True) as conn:
        summary = ingest_prices(conn, source="csv", paths=[Path(path)])
    elapsed = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "status": summary.status,
                "rows_inserted": summary.rows_inserted,
                "failures": summary.failures,
                "load_s": round(elapsed, 3),
            }
        )
    )


def _load_in_child(url: str, path: Path) -> dict:
    """Run the load in a child process; its own result and its peak RSS (os.wait4)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.ingest_bench", "child-load", url, str(path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if child.returncode != 0:
        raise RuntimeError(f"the CSV load child exited {child.returncode}")
    result = json.loads(output)
    if result["status"] != "succeeded":
        raise RuntimeError(f"the CSV load did not succeed: {result}")
    return {
        **result,
        "process_wall_s": round(wall, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
    }


def raw_copy_s(url: str, path: Path) -> float:
    """The yardstick: the same file COPY-ed as it is into an unindexed temporary table with
    the staging table's types, nothing checked, nothing written to market.prices."""
    with psycopg.connect(url) as conn, conn.cursor() as cur, path.open("rb") as data:
        cur.execute(
            "create temp table raw_copy (symbol text, price_date date, close numeric,"
            " adj_close numeric, volume numeric)"
        )
        t0 = time.perf_counter()
        with cur.copy("copy raw_copy from stdin (format csv, header)") as copy:
            while block := data.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - t0
        conn.rollback()
    return elapsed


def csv_run(url: str | None = None, sizes: tuple[int, ...] = (100_000, 1_000_000)) -> dict:
    """Load price CSVs of each size (a fresh start each: the rows are deleted between). A URL:
    each load runs in a child process on a session of its own (its peak memory measured)."""
    url = url or config.database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        dates, _ = _sessions(conn, 5)
    by_rows = []
    with tempfile.TemporaryDirectory(prefix="folio_bench_csv_") as tmp:
        for rows in sizes:
            path = Path(tmp) / f"prices_{rows}.csv"
            size = write_csv(path, dates, rows)
            with psycopg.connect(url, autocommit=True) as conn:
                _cleanup(conn)
            load_before = os.getloadavg()[0]
            try:
                result = _load_in_child(url, path)
            finally:
                with psycopg.connect(url, autocommit=True) as conn:
                    _cleanup(conn)
            load_after = os.getloadavg()[0]
            raw_s = raw_copy_s(url, path)
            path.unlink()
            if result["rows_inserted"] != rows:
                raise RuntimeError(f"loaded {result['rows_inserted']} of {rows} rows")
            by_rows.append(
                {
                    "rows": rows,
                    "file_mb": round(size / 2**20, 1),
                    "load_s": result["load_s"],
                    "rows_per_s": round(rows / result["load_s"]),
                    "process_wall_s": result["process_wall_s"],
                    "peak_rss_mb": result["peak_rss_mb"],
                    "raw_copy_s": round(raw_s, 3),
                    "raw_copy_rows_per_s": round(rows / raw_s),
                    "load_average_1min": [round(load_before, 2), round(load_after, 2)],
                }
            )
    small, large = by_rows[0], by_rows[-1]
    return {
        "benchmark": "ingest_prices_csv",
        "by_rows": by_rows,
        "rows_per_s": large["rows_per_s"],
        "peak_rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
        "targets": {
            "rows_per_s": CSV_TARGET_ROWS_PER_S,
            "peak_rss_ratio_max": CSV_TARGET_MEMORY_RATIO,
        },
        "note": "`folio ingest prices --source csv` (ingest_prices) in a child process per file;"
        " rows/s = rows / the load's own time (interpreter start-up excluded); peak RSS of"
        " the child (os.wait4), Python and its libraries included; raw_copy: the same file"
        " COPY-ed into an unindexed temporary table (the yardstick); load average (1 min)"
        " before and after the load: the machine is shared",
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["child-load"]:
        _child_load(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if sys.argv[1:2] == ["csv"]:
        print(json.dumps(csv_run(), indent=2, default=str))
        sys.exit(0)
    kwargs = {}
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        kwargs[key.lstrip("-").replace("-", "_")] = int(value)
    print(json.dumps(run(**kwargs), indent=2, default=str))
