"""Everyday use of `folio`, on the demo data: tables that read at 80 columns, hints and README
examples that run as printed, messages instead of tracebacks, JSON numbers as numbers, and a
price provider that cannot be reached told apart from a symbol that does not exist.

The demo is run once per module into its own database; tests that change data work on a
clone of it (``create database … template``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

import cli.common as common
from cli.demo import explore_hints
from cli.main import cli
from foliodb import config, schedule
from foliodb.db import connect
from foliodb.security import INGEST
from ingest import demo as demo_module
from ingest.prices import ingest_prices
from ingest.providers import Request, yahoo
from tests.conftest import _drop_database

ROOT = Path(__file__).resolve().parents[1]
NUMBER_TEXT = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_db(server: str, template_db: str, tmp_path_factory) -> Iterator[dict]:
    """A database holding what `folio demo` leaves behind (its schedule removed again)."""
    name = f"folio_demo_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    url = config.with_dbname(server, name)
    chart_dir = tmp_path_factory.mktemp("demo")
    try:
        result = demo_module.run_demo(url, out_dir=chart_dir)
        schedule.remove(url)  # the clones get their own jobs when a test installs them
        yield {"name": name, "url": url, "result": result, "chart_dir": chart_dir}
    finally:
        _drop_database(server, name)


@pytest.fixture
def demo(demo_db: dict, server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A clone of the demo database for one test; DATABASE_URL points at it."""
    name = f"folio_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(demo_db["name"])
            )
        )
    url = config.with_dbname(server, name)
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        yield {**demo_db, "name": name, "url": url}
    finally:
        try:
            schedule.remove(url)
        finally:
            _drop_database(server, name)


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich's consoles pinned to 80 columns (what `make demo` prints into a pipe)."""
    monkeypatch.setattr(common.out, "_width", 80)
    monkeypatch.setattr(common.err, "_width", 80)


def run(*args: str) -> click.testing.Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def pid_of(demo: dict) -> str:
    return str(demo["result"]["featured_portfolio_id"])


# ----------------------------------------------------------------------------- 80 columns


@pytest.mark.parametrize(
    "command",
    [
        ["show", "{pid}"],
        ["exposures", "{pid}"],
        ["status"],
        ["schedule", "install"],
        ["schedule", "status"],
        ["portfolio", "positions", "{pid}"],
        ["leaderboard", "--period", "1Y", "--excluded"],
    ],
    ids=lambda c: " ".join(c),
)
def test_every_table_reads_at_80_columns(demo: dict, narrow: None, command: list[str]) -> None:
    if command == ["schedule", "status"]:
        assert run("schedule", "install").exit_code == 0
    result = run(*[part.format(pid=pid_of(demo)) for part in command])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output, result.output  # no cell cut short
    assert max(len(line) for line in result.output.splitlines()) <= 80, result.output


def test_the_whole_demo_reads_at_80_columns(demo: dict, narrow: None, tmp_path: Path) -> None:
    result = run("demo", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "…" not in result.output, result.output
    # tables at most 80 wide (the hints are commands: they stay whole, one per line)
    tables = [line for line in result.output.splitlines() if set(line) & set("│┃┏┗┌└")]
    assert tables and max(len(line) for line in tables) <= 80
    assert "Explore further" in result.output


def test_a_csv_failure_table_keeps_long_paths_whole(
    demo: dict, narrow: None, tmp_path: Path
) -> None:
    deep = tmp_path / ("a-rather-long-directory-name-" * 3)
    deep.mkdir()
    bad = deep / "prices_with_an_error_in_line_two.csv"
    bad.write_text("symbol,date,close\nSPY,2025-01-06,-1\n")
    good = tmp_path / "good.csv"
    good.write_text("symbol,date,close\nSPY,2025-01-06,590\n")
    result = run("ingest", "prices", "--source", "csv", str(good), str(bad))
    assert result.exit_code == 1, result.output
    assert "…" not in result.output, result.output
    assert "".join(str(bad).split()) in "".join(re.sub(r"[│┃]", "", result.output).split())


def test_risk_table_keeps_every_figure_and_date_whole(demo: dict, narrow: None) -> None:
    result = run("exposures", pid_of(demo))
    assert result.exit_code == 0, result.output
    data = json.loads(run("exposures", pid_of(demo), "--json").output)
    for row in data["risk"]:
        if row["drawdown_peak_date"]:
            assert row["drawdown_peak_date"] in result.output
            assert row["drawdown_trough_date"] in result.output
    assert "vol: annualized volatility" in " ".join(result.output.split())
    # a percentage is one word (no space before %), so it never breaks from its unit
    assert not re.search(r"\d %", result.output), result.output


def test_schedule_status_names_each_job_and_its_command(demo: dict, narrow: None) -> None:
    assert run("schedule", "install").exit_code == 0
    result = run("schedule", "status")
    assert result.exit_code == 0, result.output
    for job in ("refresh", "reap", "housekeeping", "purge-cron-history"):
        assert re.search(rf"│ {re.escape(job)} +│", result.output), job
    assert "refresh: CALL ops.refresh()" in result.output


def test_status_prints_each_runs_note_whole(demo: dict, narrow: None) -> None:
    with psycopg.connect(demo["url"]) as conn:
        notes = [
            row[0]
            for row in conn.execute(
                "select distinct on (kind) coalesce(error, message) from ops.runs"
                " order by kind, run_id desc"
            )
            if row[0]
        ]
    assert notes, "the demo records runs with notes"
    result = run("status")
    assert result.exit_code == 0, result.output
    flat = "".join(result.output.split())
    for note in notes:
        assert "".join(note.split()) in flat, note


# ----------------------------------------------------------------------------- as printed


def test_demo_hints_run_as_printed(demo: dict) -> None:
    """Each command the demo prints under "Explore further", run by a shell as printed,
    from the repository root (where `make demo` runs), without .venv/bin on PATH."""
    hints = explore_hints(pid_of(demo), demo["chart_dir"], cwd=ROOT)
    commands = [line.strip() for line in hints.splitlines()[1:] if not line.strip().startswith("#")]
    assert len(commands) >= 8
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != ROOT / ".venv" / "bin"
    )
    env = {**os.environ, "PATH": path, "DATABASE_URL": demo["url"], "COLUMNS": "80"}
    for command in commands:
        assert command.startswith("./folio "), command
        done = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, f"{command}\n{done.stderr}"
    assert (demo["chart_dir"] / "max.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_hint_prefix_is_what_runs_from_where_you_are(tmp_path: Path) -> None:
    from cli.demo import folio_command

    if folio_command(ROOT) == "folio":  # an activated venv: folio is on PATH
        return
    assert folio_command(ROOT) == "./folio"
    assert folio_command(tmp_path) == shlex.quote(str(ROOT / "folio"))
    done = subprocess.run(
        [str(ROOT / "folio"), "--version"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0 and "folio, version" in done.stdout


def readme_commands(section: str) -> list[str]:
    """The `./folio …` lines of a README section's indented code blocks, comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [
        line.strip()
        for line in body.splitlines()
        if line.startswith("    ./folio ") or line.startswith("    folio ")
    ]


def test_readme_portfolio_examples_run_on_the_demo_data_as_printed(
    demo: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = readme_commands("Importing a portfolio")
    assert any(" add " in c for c in commands) and any(" value " in c for c in commands)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)  # files the examples write land here
    for command in commands:
        assert command.startswith("./folio "), command
        args = shlex.split(command, comments=True)[1:]
        result = run(*args)
        assert result.exit_code == 0, f"{command}\n{result.output}"
    listed = json.loads(run("portfolio", "positions", pid_of(demo), "--all", "--json").output)
    states = {row["symbol"]: row["state"] for row in listed["positions"]}
    assert states["SPY"] == "deleted"  # added, closed, then deleted by the examples
    private = next(r for r in listed["positions"] if r["investment_class"] == "PRIVATE")
    assert private["last_valuation"] == 280000.0  # the CSV's valuation replaced none, came last


# ----------------------------------------------------------------------------- messages


def test_chart_out_rules(demo: dict, tmp_path: Path) -> None:
    pid = pid_of(demo)
    result = run("chart", pid, "--out", str(tmp_path / "missing" / "c.png"))
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "missing").exists()
    result = run("chart", pid, "--out", str(tmp_path / "c.jpg"))
    assert result.exit_code == 2 and "png or svg" in result.output
    result = run("chart", pid, "--period", "1D", "--out", str(tmp_path / "c.svg"))
    assert result.exit_code == 0, result.output
    assert "<svg" in (tmp_path / "c.svg").read_text(encoding="utf-8")[:500]
    # /proc exists but nothing can be created in it (not even by root)
    result = run("chart", pid, "--out", "/proc/foliodb-chart.png")
    assert result.exit_code == 1 and "cannot write the chart to /proc/foliodb-chart.png" in (
        result.output
    )


def test_chart_x_axis_has_sessions_only() -> None:
    import datetime as dt

    from foliodb.serving import _date_ticks, session_positions

    # Friday 2026-11-27 → Monday 2026-11-30: one step apart, no weekend between
    days = [dt.date(2026, 11, 27), dt.date(2026, 11, 30), dt.date(2026, 12, 1)]
    assert session_positions(days) == [0, 1, 2]
    ticks, labels = _date_ticks(days, session_positions(days))
    assert ticks == [0, 1, 2] and labels == ["27 Nov", "30 Nov", "01 Dec"]


@pytest.mark.parametrize("cron", ["bad cron", "61 22 * * 1-5", "15 22 * * 8", "* * *"])
def test_a_bad_cron_expression_exits_2_with_what_is_expected(demo: dict, cron: str) -> None:
    result = run("schedule", "install", "--refresh-at", cron)
    assert result.exit_code == 2, result.output
    assert "--refresh-at" in result.output and "15 22 * * 1-5" in result.output


def test_refresh_of_a_missing_portfolio_fails(demo: dict) -> None:
    result = run("refresh", "--portfolio", "9999")
    assert result.exit_code == 1 and "no portfolio with id 9999" in result.output


def test_a_missing_csv_file_exits_2_naming_it_once(demo: dict, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.csv")
    for args in (
        ["ingest", "prices", "--source", "csv", missing],
        ["portfolio", "import", missing, "--user", "a@example.com", "--name", "x"],
    ):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert result.output.count(missing) == 1, result.output


def test_json_numbers_are_numbers(demo: dict) -> None:
    pid = pid_of(demo)
    outputs = {
        "show": run("show", pid, "--json").output,
        "exposures": run("exposures", pid, "--json").output,
        "positions": run("portfolio", "positions", pid, "--json").output,
        "leaderboard": run("leaderboard", "--json").output,
        "status": run("status", "--json").output,
    }

    def strings(value, where=""):
        if isinstance(value, dict):
            for key, item in value.items():
                yield from strings(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from strings(item, f"{where}[{i}]")
        elif isinstance(value, str):
            yield where, value

    for name, text in outputs.items():
        data = json.loads(text)
        numeric_strings = [(w, v) for w, v in strings(data) if NUMBER_TEXT.match(v)]
        assert not numeric_strings, f"{name}: {numeric_strings[:5]}"
    dashboard = json.loads(outputs["show"])
    assert isinstance(dashboard["market_value"], float)
    positions = json.loads(outputs["positions"])["positions"]
    assert all(isinstance(p["quantity"], float) for p in positions)


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize(
    ("path", "command"),
    list(all_commands(cli)),
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_help_shows_each_example_line_as_written(path: tuple[str, ...], command) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    written = command.help.split("Example:", 1)[1]
    prose = result.output.split("Example:", 1)[0].split("\n\n", 1)[1]
    assert not re.search(r"^ {3}\S|\S {2,}\S", prose, re.M), prose  # dedented and rewrapped
    shown = [line.strip() for line in result.output.splitlines()]
    for line in written.splitlines():
        line = line.strip()
        if line and line != "\b":
            assert line in shown, f"{' '.join(path)}: {line!r} not shown as one line"


# ----------------------------------------------------------------------------- provider


class Recorder:
    """A stand-in for the network that cannot connect; it counts what was asked of it."""

    def __init__(self, reachable: list[bool]) -> None:
        self.reachable = reachable  # answers to successive reach() calls
        self.reach_timeouts: list[float] = []
        self.downloads: list[list[str]] = []
        self.sleeps: list[float] = []

    def reach(self, timeout: float) -> None:
        self.reach_timeouts.append(timeout)
        if not self.reachable.pop(0):
            raise ConnectionError("[Errno 101] Network is unreachable")

    def download(self, tickers, start, end, threads):
        self.downloads.append(list(tickers))
        raise ConnectionError("Failed to perform, curl: (7) Failed to connect")

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def test_no_network_fails_at_once_without_a_download_or_a_retry() -> None:
    import datetime as dt

    net = Recorder(reachable=[False])
    provider = yahoo.YahooProvider(
        net.download, reach=net.reach, sleep=net.sleep, timeout=2.5, rate=None
    )
    with pytest.raises(yahoo.ProviderUnreachable, match="cannot reach Yahoo Finance"):
        provider.fetch([Request("AAPL", dt.date(2025, 1, 2), dt.date(2025, 1, 10))])
    assert net.reach_timeouts == [2.5]  # the time bound: one check, with the timeout given
    assert net.downloads == [] and net.sleeps == []


def test_a_network_lost_mid_run_fails_after_one_download_without_backoff() -> None:
    import datetime as dt

    net = Recorder(reachable=[True, False])
    provider = yahoo.YahooProvider(net.download, reach=net.reach, sleep=net.sleep, rate=None)
    with pytest.raises(yahoo.ProviderUnreachable, match="Failed to connect"):
        provider.fetch([Request("AAPL", dt.date(2025, 1, 2), dt.date(2025, 1, 10))])
    assert len(net.downloads) == 1 and net.sleeps == [] and len(net.reach_timeouts) == 2


def test_the_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLIO_YF_TIMEOUT", "4")
    assert yahoo.YahooProvider().timeout == 4.0
    monkeypatch.setenv("FOLIO_YF_TIMEOUT", "soon")
    with pytest.raises(yahoo.FolioError, match="FOLIO_YF_TIMEOUT"):
        yahoo.YahooProvider()


def _marked(url: str, symbols: list[str]) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute(
                "select symbol, status::text from market.symbols"
                " where symbol = any(%s) and status <> 'active'",
                [symbols],
            ).fetchall()
        )


def test_ingest_without_network_says_so_and_marks_nothing(
    demo: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = Recorder(reachable=[False])
    monkeypatch.setattr(yahoo, "reach_yahoo", net.reach)
    monkeypatch.setattr(yahoo, "yf_download", net.download)
    result = run("ingest", "prices", "--symbols", "AAPL,MSFT", "--timeout", "3")
    assert result.exit_code == 1, result.output
    assert "cannot reach Yahoo Finance" in result.output
    assert "No symbol was marked" in result.output
    assert net.reach_timeouts == [3.0] and net.downloads == []
    assert _marked(demo["url"], ["AAPL", "MSFT"]) == {}
    with psycopg.connect(demo["url"]) as conn:
        status, error = conn.execute(
            "select status::text, error from ops.runs where kind = 'ingest_prices'"
            " order by run_id desc limit 1"
        ).fetchone()
    assert status == "failed" and "cannot reach Yahoo Finance" in error


def test_an_import_without_network_values_at_entry_and_marks_nothing(
    demo: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = Recorder(reachable=[False] * 10)
    monkeypatch.setattr(yahoo, "reach_yahoo", net.reach)
    monkeypatch.setattr(yahoo, "yf_download", net.download)
    monkeypatch.delenv("FOLIO_PRICE_SOURCE", raising=False)
    path = tmp_path / "p.csv"
    path.write_text(
        "symbol,quantity,entry_date,entry_price\nMSFT,10,2025-03-03,390\nAAPL,5,2025-03-03,235\n"
    )
    result = run("portfolio", "import", str(path), "--user", "n@example.com", "--name", "Offline")
    assert result.exit_code == 0, result.output
    assert net.downloads == [] and len(net.reach_timeouts) == 1  # asked once, not per symbol
    assert _marked(demo["url"], ["AAPL", "MSFT"]) == {}


def test_an_unknown_symbol_is_still_marked_when_yahoo_answers(demo: dict) -> None:
    import pandas as pd

    def nothing(tickers, start, end, threads):
        frame = pd.DataFrame()
        frame.attrs["errors"] = {t: "possibly delisted; no timezone found" for t in tickers}
        return frame

    provider = yahoo.YahooProvider(
        nothing, reach=lambda timeout: None, sleep=lambda s: None, max_attempts=2, rate=None
    )
    with connect(demo["url"], role=INGEST, autocommit=True) as conn:
        summary = ingest_prices(conn, symbols=["NOSUCHCO"], provider=provider)
    assert summary.status == "failed"
    assert _marked(demo["url"], ["NOSUCHCO"]) == {"NOSUCHCO": "unknown"}


# ----------------------------------------------------------------------------- run status


def test_run_status_shows_the_calendar_fill_the_reaper_and_housekeeping(demo: dict) -> None:
    with psycopg.connect(demo["url"], autocommit=True) as conn:
        for _ in range(3):
            conn.execute("select ops.reap()")
        conn.execute("select ops.housekeeping()")
        status = dict(
            conn.execute(
                "select kind, last_status from app.run_status"
                " where kind in ('ingest_calendar', 'reap', 'housekeeping')"
            ).fetchall()
        )
        passes = conn.execute("select count(*) from ops.runs where kind = 'reap'").fetchone()[0]
    assert status == dict.fromkeys(("ingest_calendar", "reap", "housekeeping"), "succeeded")
    assert passes == 1  # passes that reap nothing replace each other
