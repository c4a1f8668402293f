"""`folio bench`: the benchmark suite runs end to end on tiny data and reports every scenario.

The quick run builds (or reuses) its own databases on the real cluster, never the user's
foliodb database; the baselines must have been checked equal to foliodb before being timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
from click.testing import CliRunner

from bench import report, runner
from cli.main import cli


def test_bench_help_lists_the_options() -> None:
    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--scale", "--repeat", "--only", "--quick", "--out", "Example:"):
        assert option in result.output


def test_bench_refuses_an_unknown_scenario() -> None:
    result = CliRunner().invoke(cli, ["bench", "--quick", "--only", "a,z"])
    assert result.exit_code == 2
    assert "unknown scenario" in result.output


def test_quick_bench_reports_every_scenario_ratio_and_target(server: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "latest.json").read_text())
    assert data["errors"] == {}
    assert set(data["scenarios"]) == set(runner.SCENARIOS)
    for name in (
        "onboarding_vs_orm",
        "onboarding_vs_pandas",
        "charts_vs_orm",
        "charts_vs_pandas",
        "full_vs_orm",
        "full_vs_pandas",
    ):
        ratio = data["ratios"][name]
        assert ratio["ratio"] and ratio["ratio"] > 0, name
        assert ratio["baseline_ms"] > 0 and ratio["foliodb_ms"] > 0, name
    assert {t["id"] for t in data["targets"]} >= {
        "a_db_time",
        "b_nightly",
        "b_flat",
        "c_charts",
        "d_full",
        "f_p99",
    }
    assert all(t["met"] in (True, False) for t in data["targets"])
    # The baselines were checked equal to foliodb before being timed.
    assert data["checks"] and all(c["equal"] for c in data["checks"].values()), data["checks"]
    machine = data["meta"]["machine"]
    assert machine["cores"] and machine["postgresql"].startswith("PostgreSQL 15")
    assert machine["pg_cron"]
    d = data["scenarios"]["d"]["foliodb"]
    assert d["db_ms"]["median"] > 0 and "fct_portfolio_snapshots" in d["steps_ms"]
    assert data["scenarios"]["f"]["during_full_refresh"]["paced"]["all"]["n"] > 0
    # f: the same reads with the policies on and off, by two pgbench processes at once
    rls = data["scenarios"]["f"]["rls_on_vs_off"]
    for state in ("on", "off"):
        assert rls[state]["errors"] == [] and rls[state]["queries"] > 0, rls[state]
        assert all(r["n"] > 0 for r in rls[state]["by_relation"].values()), rls[state]
    assert {"f_rls_p50", "f_rls_p99"} <= {t["id"] for t in data["targets"]}
    # e: price CSVs of two sizes, each loaded in its own process (peak RSS measured)
    csv_sizes = data["scenarios"]["e"]["csv"]["by_rows"]
    assert [s["rows"] for s in csv_sizes] == list(runner.PLANS["quick"].ingest_csv_rows)
    assert all(s["peak_rss_mb"]["median"] > 0 and s["rows_per_s"]["median"] > 0 for s in csv_sizes)
    assert {"e_csv_rows_per_s", "e_csv_memory"} <= {t["id"] for t in data["targets"]}
    for png in ("growth_portfolios.png", "growth_years.png", "read_latency.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "latest.md").read_text()
    assert "**Machine:**" in md and "## Targets" in md
    assert report.machine_line(data) in md
    # Its own databases only, and no work clone left behind.
    assert all(d["dbname"].startswith("folio_bench_") for d in data["datasets"].values())
    with psycopg.connect(server) as admin:
        left = admin.execute(
            "select count(*) from pg_database where datname like %s",
            [f"folio\\_bench\\_work\\_{os.getpid()}\\_%"],
        ).fetchone()[0]
    assert left == 0


def test_a_run_drops_the_work_clones_of_killed_runs_only(server: str) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(gone.stdout)  # a process that has exited
    names = {
        "dead": f"folio_bench_work_{dead}_1_main",
        "live": f"folio_bench_work_{os.getpid()}_1_x",
    }
    with psycopg.connect(server, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'drop database if exists "{name}"')
            admin.execute(f'create database "{name}"')
        try:
            logged: list[str] = []
            dropped = runner.Server(server).drop_orphans(logged.append)
            left = {
                r[0]
                for r in admin.execute(
                    "select datname from pg_database where datname = any(%s)",
                    [list(names.values())],
                ).fetchall()
            }
        finally:
            for name in names.values():
                admin.execute(f'drop database if exists "{name}"')
    assert names["dead"] in dropped and names["live"] not in dropped
    assert left == {names["live"]}
    assert names["dead"] in logged[0]
