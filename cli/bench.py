"""`folio bench`: the benchmark suite (bench/runner.py does the work).

bench/ is not part of the installed package: it runs from a foliodb checkout (`make bench`),
and this command finds it there or says so.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import click
from rich.table import Table

from cli import base
from cli.common import err, out
from foliodb import config
from foliodb.security import ADMIN

SCALES = ("small", "medium", "large")


def bench_module(name: str) -> ModuleType:
    """``bench.<name>`` from the foliodb checkout (bench/ is not installed with foliodb)."""
    root = config.project_root()
    if not (root / "bench" / "runner.py").is_file():
        raise click.ClickException(
            f"folio bench runs from a foliodb checkout (no bench/ under {root}):"
            " clone the repository and run `make bench` there, or set FOLIO_HOME to the clone"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return __import__(f"bench.{name}", fromlist=[name])


def _only(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    """The scenarios asked for; None when none are named (the run's default set)."""
    SELECTABLE = bench_module("runner").SELECTABLE  # noqa: N806

    if not value:
        return None
    picked = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [v for v in picked if v not in SELECTABLE]
    if unknown:
        raise click.BadParameter(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {','.join(SELECTABLE)}"
        )
    return picked


@base.command(role=ADMIN)
@click.option(
    "--scale",
    type=click.Choice(SCALES),
    default="medium",
    show_default=True,
    help="Dataset size: small 1k, medium 10k, large 100k portfolios.",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 50),
    default=3,
    show_default=True,
    help="Runs per measurement (median / min / max).",
)
@click.option(
    "--only",
    callback=_only,
    metavar="a,b,...",
    help="Scenarios to run (a onboarding, b nightly, c charts, d full, e ingest,"
    " f reads, g growth, h one ledger, i b and d with ~20 % foreign-currency holdings)."
    " Default: all (a-h with --quick).",
)
@click.option("--quick", is_flag=True, help="Tiny data, one repeat: a smoke test (about a minute).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench/results"),
    show_default=True,
    help="Report directory.",
)
def bench(
    scale: str, repeat: int, only: tuple[str, ...] | None, quick: bool, out_dir: Path
) -> None:
    """Run the benchmarks in the bench's own databases; write latest.md/.json and plots.

    Datasets (bench/datagen.py) are built once per scale and reused while their parameters
    and the sql/ and dbt trees are unchanged; scenarios that change data run on clones. The
    user's foliodb database is never touched. Baselines (pandas, row-by-row ORM) are checked
    equal to foliodb's results before they are timed.

    Example:

        folio bench --quick                 # smoke test on tiny data
        folio bench                         # 10k portfolios, 3 repeats (tens of minutes)
        folio bench --only a,b,f --repeat 5
        folio bench --scale small --only i  # ~20 % foreign holdings
    """
    runner, report = bench_module("runner"), bench_module("report")
    if only is None:  # scenario i doubles the datasets: not in the smoke test
        only = runner.SCENARIOS if quick else runner.SELECTABLE

    options = runner.Options(
        scale=scale,
        repeat=repeat,
        only=only,
        quick=quick,
        out=out_dir,
        log=lambda msg: err.print(msg, markup=False, highlight=False),
    )
    results = runner.run(options)
    table = Table(title=f"foliodb benchmark ({results['meta']['scale']})", show_lines=True)
    for col in ("scenario", "foliodb", "pandas", "ORM", "baseline / foliodb"):
        table.add_column(col, overflow="fold")
    for row in report.summary_rows(results):
        table.add_row(*row)
    out.print(table)
    targets = Table(title="targets")
    for col in ("target", "measured", "met", "by"):
        targets.add_column(col, overflow="fold")
    for t in results.get("targets", []):
        met = {True: "[green]met", False: "[red]missed", None: "–"}[t["met"]]
        measured = "–" if t["measured"] is None else f"{t['measured']:,.2f} {t['unit']}"
        targets.add_row(t["target"], measured, met, t["by"])
    out.print(targets)
    out.print(f"machine: {report.machine_line(results)}")
    out.print(f"report: {out_dir / 'latest.md'}")
    if results.get("errors"):
        err.print(f"scenarios that failed: {', '.join(results['errors'])} (see latest.md)")


def register(cli: click.Group) -> None:
    cli.add_command(bench)
