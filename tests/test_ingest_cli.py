"""`folio ingest …` through click's CliRunner: exit codes, messages, JSON, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize(
    "args", [["ingest", "--help"], ["ingest", "prices", "-h"], ["ingest", "calendar", "--help"]]
)
def test_every_ingest_command_has_help_with_an_example(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 0
    assert "Example:" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "bogus"], "Invalid value for '--source'"),
        (["--chunk-size", "0"], "Invalid value for '--chunk-size'"),
        (["--rate", "0"], "Invalid value for '--rate'"),
        (["--symbols", "SPY,bad ticker"], "not a ticker: BAD TICKER"),
        (["--source", "csv"], "--source csv needs at least one PATH"),
        (["--source", "demo", "x.csv"], "PATHS are only read with --source csv"),
    ],
)
def test_bad_arguments_exit_2(
    runner: CliRunner, use_db: str, args: list[str], message: str
) -> None:
    result = runner.invoke(cli, ["ingest", "prices", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_through_date_exits_2(runner: CliRunner, use_db: str) -> None:
    result = runner.invoke(cli, ["ingest", "calendar", "--through", "tomorrow"])
    assert result.exit_code == 2


def test_a_csv_with_errors_exits_1_naming_line_and_field(
    runner: CliRunner, use_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "p.csv"
    path.write_text("symbol,date,close\nSPY,2025-01-06,-1\n")
    result = runner.invoke(cli, ["ingest", "prices", "--source", "csv", str(path)])
    assert result.exit_code == 1
    assert "line 2, field close: expected a positive number, got -1" in result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )


def test_a_good_csv_exits_0_with_a_summary_table(
    runner: CliRunner, use_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "p.csv"
    path.write_text("symbol,date,close\nSPY,2025-01-06,590\nSPY,2025-01-07,591\n")
    result = runner.invoke(cli, ["ingest", "prices", "--source", "csv", str(path)])
    assert result.exit_code == 0, result.output
    assert "rows inserted" in result.output and "2" in result.output


def test_demo_says_it_is_synthetic_and_json_is_machine_readable(
    runner: CliRunner, use_db: str
) -> None:
    result = runner.invoke(
        cli, ["ingest", "prices", "--source", "demo", "--symbols", "SPY,^GSPC", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.stderr
    data = json.loads(result.stdout)
    assert data["synthetic"] is True and data["status"] == "succeeded"
    assert data["symbols_fetched"] == 2 and data["rows_inserted"] > 2000


def test_calendar_command_is_idempotent(runner: CliRunner, use_db: str) -> None:
    result = runner.invoke(cli, ["ingest", "calendar", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sessions_added"] == 0


def test_no_database_is_an_error_not_a_traceback(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = runner.invoke(cli, ["ingest", "prices", "--source", "demo"])
    assert result.exit_code == 1
    assert "cannot connect to the database" in result.output
