"""CSV price files: strict, every error names file, line and field; a bad file writes nothing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from ingest.prices import ingest_prices
from ingest.providers.csvfile import CsvError, read_prices

GOOD = """symbol,date,close,adj_close,volume
SPY,2025-01-06,595.25,590.10,47679400
spy,2025-01-07,588.63,,
VTV,2025-01-06,173.10,170.00,2000000
"""


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def counts(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "select (select count(*) from market.prices), (select count(*) from market.quarantine),"
        " (select count(*) from market.symbols)"
    ).fetchone()


def test_a_good_file_is_loaded(conn: psycopg.Connection, tmp_path: Path) -> None:
    summary = ingest_prices(source="csv", paths=[write(tmp_path, GOOD)], conn=conn)
    assert summary.status == "succeeded"
    assert (summary.rows_inserted, summary.symbols_fetched) == (3, 2)
    row = conn.execute(
        "select close, adj_close, volume, source from market.prices"
        " where symbol = 'SPY' and price_date = '2025-01-07'"
    ).fetchone()
    assert (str(row[0]), row[1], row[2], row[3]) == ("588.63", None, None, "csv")


def test_columns_may_come_in_any_order_without_optional_ones(tmp_path: Path) -> None:
    rows = read_prices(write(tmp_path, "date,close,symbol\n2025-01-06,1.5,SPY\n"))
    assert [r[1:4] for r in rows] == [("SPY", rows[0][2], rows[0][3])]
    assert str(rows[0][3]) == "1.5" and rows[0][0] == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1, field header: expected symbol,date,close,adj_close,volume"),
        (
            "SPY,2025-01-06,595.25\n",
            "line 1, field header: expected columns symbol,date,close,adj_close,volume "
            "(adj_close, volume optional); missing symbol, date, close; unknown 'spy', "
            "'2025-01-06', '595.25' (the first line looks like data: a header row is required)",
        ),
        (
            "symbol,date,close,price\nSPY,2025-01-06,1,2\n",
            "line 1, field header: expected columns symbol,date,close,adj_close,volume "
            "(adj_close, volume optional); unknown 'price'",
        ),
        (
            "symbol,date,close\nSPY,06/01/2025,1\n",
            "line 2, field date: expected a date YYYY-MM-DD, got '06/01/2025'",
        ),
        (
            "symbol,date,close\nSPY,2025-02-30,1\n",
            "line 2, field date: expected a date YYYY-MM-DD, got '2025-02-30'",
        ),
        (
            "symbol,date,close\nSPY,2025-01-06,-1\n",
            "line 2, field close: expected a finite positive number, got '-1'",
        ),
        (
            "symbol,date,close\nSPY,2025-01-06,NaN\n",
            "line 2, field close: expected a finite positive number, got 'NaN'",
        ),
        (
            "symbol,date,close\nSPY,2025-01-06,\n",
            "line 2, field close: expected a finite positive number, got ''",
        ),
        (
            "symbol,date,close\nSPY,2025-01-06,1,2\n",
            "line 2, field row: expected 3 fields, got 4",
        ),
        (
            "symbol,date,close,volume\nSPY,2025-01-06,1,1.5\n",
            "line 2, field volume: expected a whole number ≥ 0 or nothing, got '1.5'",
        ),
        (
            "symbol,date,close,adj_close\nSPY,2025-01-06,1,0\n",
            "line 2, field adj_close: expected a finite positive number or nothing, got '0'",
        ),
        (
            "symbol,date,close\nS P Y,2025-01-06,1\n",
            "line 2, field symbol: expected a ticker such as SPY or ^GSPC, got 'S P Y'",
        ),
        (
            "symbol,date,close\nSPY,2025-01-06,1\nSPY,2025-01-06,2\n",
            "line 3, field symbol,date: SPY 2025-01-06 is also on line 2",
        ),
        ("symbol,date,close\n", "line 2, field row: expected at least one price row"),
    ],
)
def test_each_error_names_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CsvError) as info:
        read_prices(path)
    assert str(info.value.errors[0]) == f"{path} {expected}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("SPY,2025-01-09,590,,", "field date: expected a XNYS trading day, got 2025-01-09"),
        ("SPY,2025-01-11,590,,", "field date: expected a XNYS trading day, got 2025-01-11"),
        (
            "SPY,2099-01-02,590,,",
            "field date: expected a date on or before the last closed session",
        ),
    ],
)
def test_calendar_errors_come_from_the_database_and_write_nothing(
    conn: psycopg.Connection, tmp_path: Path, line: str, expected: str
) -> None:
    path = write(tmp_path, GOOD + line + "\n")
    before = counts(conn)
    summary = ingest_prices(source="csv", paths=[path], conn=conn)
    assert summary.status == "failed"
    assert f"{path} line 5, {expected}" in summary.failures[str(path)]
    assert counts(conn) == before


def test_a_bad_file_writes_nothing_and_a_good_one_still_loads(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    bad = write(tmp_path, GOOD + "VTV,2025-01-07,-3,,\n", "bad.csv")
    good = write(tmp_path, GOOD, "good.csv")
    before = counts(conn)
    summary = ingest_prices(source="csv", paths=[bad, good], conn=conn)
    assert summary.status == "partial"
    assert list(summary.failures) == [str(bad)]
    assert "bad.csv line 5, field close" in summary.failures[str(bad)]
    assert counts(conn)[0] == before[0] + 3


def test_errors_are_all_listed_not_just_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "symbol,date,close\nSPY,x,1\nSPY,2025-01-07,y\n")
    with pytest.raises(CsvError) as info:
        read_prices(path)
    assert [(e.line, e.field) for e in info.value.errors] == [(2, "date"), (3, "close")]
    assert "2 error(s), nothing loaded" in str(info.value)


def test_a_missing_or_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CsvError, match="file not found"):
        read_prices(tmp_path / "nope.csv")
    path = tmp_path / "bin.csv"
    path.write_bytes(b"symbol,date,close\n\xff\xfe\n")
    with pytest.raises(CsvError, match="expected UTF-8 text"):
        read_prices(path)
