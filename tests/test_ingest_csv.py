"""CSV price files: strict, every error names file, line and field; a bad file writes nothing."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from ingest.load import LoadError, LoadResult, _copy_all, load_rows
from ingest.prices import ingest_prices
from ingest.providers.csvfile import DATE, CsvError, PriceCsv, read_prices

LAST_CLOSED = dt.date(2025, 1, 17)
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


# the database's words (market.check_staged_prices); the reason is market.symbol_problem's
TICKER = (
    "a ticker such as SPY or ^GSPC (ASCII letters, digits and ^ . _ = / -, at most 32 characters)"
)


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
            "symbol,date,close\nSPY,2025-01-06,NaN\n",
            "line 2, field close: expected a finite positive number, got 'NaN'",
        ),
        (
            "symbol,date,close\nSPY,2025-01-06,\n",
            "line 2, field close: expected a finite positive number, got nothing",
        ),
        (
            "symbol,date,close\nSPY,2025-01-06,1,2\n",
            "line 2, field row: expected 3 fields, got 4",
        ),
        ("symbol,date,close\n", "line 2, field row: expected at least one price row"),
    ],
)
def test_each_unreadable_value_names_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CsvError) as info:
        read_prices(path)
    assert str(info.value.errors[0]) == f"{path} {expected}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "symbol,date,close\nSPY,2025-01-06,-1\n",
            "line 2, field close: expected a positive number, got -1",
        ),
        (
            "symbol,date,close,volume\nSPY,2025-01-06,1,1.5\n",
            "line 2, field volume: expected a non-negative whole number or nothing, got 1.5",
        ),
        (
            "symbol,date,close,adj_close\nSPY,2025-01-06,1,0\n",
            "line 2, field adj_close: expected a finite positive number or nothing, got 0",
        ),
        (
            "symbol,date,close\nSPY,2025-01-06,1\nSPY,2025-01-06,2\n",
            "line 3, field symbol,date: expected one row per symbol and date (also given on "
            "line 2), got SPY 2025-01-06",
        ),
        (
            "symbol,date,close\nSPY,2025-01-06,1\nSPY,2025-01-06,2\n",
            "line 2, field symbol,date: expected one row per symbol and date (also given on "
            "line 3), got SPY 2025-01-06",
        ),
        # the symbol rule is the database's (market.symbol_problem), for the fast reader's
        # plain cells and the CSV reader's quoted ones alike
        (
            "symbol,date,close\nS P Y,2025-01-06,1\n",
            f"line 2, field symbol: expected {TICKER}, got 'S P Y' (it contains a space "
            "(U+0020) at character 2)",
        ),
        (
            "symbol,date,close\nspy!,2025-01-06,1\n",
            f"line 2, field symbol: expected {TICKER}, got 'SPY!' (it contains '!' (U+0021) "
            "at character 4)",
        ),
        (
            "symbol,date,close\n-SPY,2025-01-06,1\n",
            f"line 2, field symbol: expected {TICKER}, got '-SPY' (it starts with '-')",
        ),
        (
            'symbol,date,close\n"",2025-01-06,1\n',
            f"line 2, field symbol: expected {TICKER}, got '' (it is empty)",
        ),
    ],
)
def test_value_rules_are_checked_in_the_database_with_line_and_field(
    conn: psycopg.Connection, tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    before = counts(conn)
    summary = ingest_prices(source="csv", paths=[path], conn=conn)
    assert summary.status == "failed"
    assert f"  {path} {expected}" in summary.failures[str(path)].splitlines()
    assert counts(conn) == before


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
    path.write_bytes(b"symbol,date,close\nSPY,2025-01-06,1\nSPY,2025-01-07,\xff\xfe\n")
    with pytest.raises(CsvError) as info:
        read_prices(path)
    assert str(info.value.errors[0]) == (
        f"{path} line 3, field file: expected UTF-8 text, got byte 0xff at byte 16 of the "
        "line; save the file as CSV UTF-8"
    )


# ---------------------------------------------------------------------------- poison input


def spy_closes(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select price_date, close from market.prices where symbol = 'SPY' order by price_date"
    ).fetchall()


def refused(conn: psycopg.Connection, path: Path) -> list[str]:
    """Load one file that must be refused whole; its error lines (file, line, field, …)."""
    before = counts(conn)
    summary = ingest_prices(source="csv", paths=[path], conn=conn)
    assert summary.status == "failed"
    assert counts(conn) == before
    return [line.strip() for line in summary.failures[str(path)].splitlines()[1:]]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # U+017F upper-cases to 'S' in Python and PostgreSQL: ſpy must not become SPY
        (
            "ſpy,2025-01-07,1,,",
            f"line 3, field symbol: expected {TICKER}, got 'ſpy' (it contains the non-ASCII "
            "character 'ſ' (U+017F) at character 1)",
        ),
        (
            "SPY,2025-01-07,１２３,,",
            "line 3, field close: expected a finite positive number, got '１２３' (the "
            "non-ASCII character '１' (U+FF11) at character 1)",
        ),
        (
            "SPY,2025-01-07,590,,٣",
            "line 3, field volume: expected a whole number ≥ 0 or nothing, got '٣' (the "
            "non-ASCII character '٣' (U+0663) at character 1)",
        ),
        (
            "SPY,2025-01-07,1_000,,",
            "line 3, field close: expected a finite positive number, got '1_000'",
        ),
        (  # no text column holds a NUL: the reader refuses it, naming the field
            "SP\x00Y,2025-01-07,590,,",
            "line 3, field symbol: expected a ticker such as SPY or ^GSPC, got 'SP\\x00Y' (NUL "
            "(U+0000) at character 3)",
        ),
        (
            "SPY,2025-01-07,590\x00,,",
            "line 3, field close: expected a finite positive number, got '590\\x00' (NUL "
            "(U+0000) at character 4)",
        ),
        (
            "SPY,２０２５-01-07,590,,",
            "line 3, field date: expected a date YYYY-MM-DD, got '２０２５-01-07' (the "
            "non-ASCII character '２' (U+FF12) at character 1)",
        ),
        (
            "SPY,2025-01-07,590,\x1f591,",
            "line 3, field adj_close: expected a finite positive number or nothing, got "
            "'\\x1f591' (a control character (U+001F) at character 1)",
        ),
    ],
)
def test_poison_values_are_refused_with_line_and_field_and_write_nothing(
    conn: psycopg.Connection, tmp_path: Path, row: str, expected: str
) -> None:
    ingest_prices(source="csv", paths=[write(tmp_path, GOOD, "good.csv")], conn=conn)
    closes = spy_closes(conn)
    path = write(tmp_path, f"symbol,date,close,adj_close,volume\nVTV,2025-01-07,170,,\n{row}\n")
    assert refused(conn, path) == [f"{path} {expected}"]
    assert spy_closes(conn) == closes  # the real SPY close is untouched


def test_a_quoted_newline_is_a_bad_value_and_lines_stay_physical(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    text = (
        "symbol,date,close\n"  # line 1
        'VTV,2025-01-06,170\n"SP\nY",2025-01-07,1\n'  # lines 2, 3-4
        "VTV,2025-01-07,-2\n"  # line 5: refused by the database, named by its physical line
    )
    path = write(tmp_path, text)
    assert refused(conn, path) == [
        f"{path} line 3, field symbol: expected {TICKER}, got 'SP\\nY' (it contains a control "
        "character (U+000A) at character 3)",
        f"{path} line 5, field close: expected a positive number, got -2",
    ]


def test_a_long_value_is_shortened_in_the_message(conn: psycopg.Connection, tmp_path: Path) -> None:
    long = "A" * 10_000
    path = write(tmp_path, f"symbol,date,close\n{long},2025-01-06,1\nSPY,2025-01-06,{long}\n")
    errors = refused(conn, path)
    head = repr("A" * 40)
    assert errors == [
        f"{path} line 2, field symbol: expected {TICKER}, got {head}… (10,000 characters) "
        "(it is longer than 32 characters)",
        f"{path} line 3, field close: expected a finite positive number, got {head}… "
        "(10,000 characters)",
    ]


def test_thousands_of_bad_rows_report_the_first_50_and_a_count(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    # 3,000 rows the reader refuses (odd lines) and 3,000 the database refuses (even lines)
    rows = [f"SPY,2025-01-06,x{i}\nQQQ{i},2025-01-06,-{i + 1}\n" for i in range(3000)]
    path = write(tmp_path, "symbol,date,close\n" + "".join(rows))
    before = counts(conn)
    with pytest.raises(LoadError) as info, PriceCsv(path) as source, conn.transaction():
        load_rows(conn, source, "csv", last_closed=LAST_CLOSED, strict=True, origin=str(path))
    assert counts(conn) == before
    error = info.value
    assert error.total == 6000
    assert [e.line for e in error.errors] == list(range(2, 52))
    assert [e.field for e in error.errors[:2]] == ["close", "close"]
    assert str(error.errors[1]).endswith("expected a positive number, got -1")
    message = str(error)
    assert message.startswith(f"{path}: 6,000 error(s), nothing loaded from it:")
    assert message.endswith("… and 5,950 more")
    assert len(message.splitlines()) == 52


def test_a_file_streams_through_bounded_chunks(conn: psycopg.Connection, tmp_path: Path) -> None:
    sessions = [
        r[0]
        for r in conn.execute(
            "select session_date from market.trading_days where calendar = 'XNYS'"
            " and session_date between '2020-01-01' and '2024-12-31' order by 1"
        )
    ]
    symbols = [f"S{i:03d}" for i in range(20)]
    lines = [
        f"{s},{d},{10 + n % 7}.25,,{n}\n"
        for n, (s, d) in enumerate(itertools.product(symbols, sessions[:1250]))
    ]
    path = write(tmp_path, "symbol,date,close,adj_close,volume\n" + "".join(lines))
    seen: list[int] = []
    with PriceCsv(path) as source:
        res = load_rows(
            conn,
            source,
            "csv",
            last_closed=LAST_CLOSED,
            strict=True,
            origin=str(path),
            chunk_rows=1000,
            on_chunk=lambda n: seen.append(source.rows),
        )
    assert res.inserted == 25_000
    assert res.copied_chunks == 25  # 25,000 rows, never more than 1,000 held at once
    assert seen == [1000 * n for n in range(1, 26)]  # each chunk read just before its COPY
    assert conn.execute(
        "select count(*), sum(volume) from market.prices where symbol like 'S0%'"
    ).fetchone() == (25_000, sum(range(25_000)))


def test_problems_the_database_finds_in_plain_chunks_name_their_physical_lines(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    # every line plain, so the stage holds no line numbers until a problem needs them
    sessions = [
        r[0].isoformat()
        for r in conn.execute(
            "select session_date from market.trading_days where calendar = 'XNYS'"
            " and session_date between '2024-01-01' and '2024-12-31' order by 1"
        )
    ]
    lines = [f"S{n // 100:02d},{sessions[n % 100]},{10 + n % 7}.5,,{n}\n" for n in range(1000)]
    lines[136] = lines[135]  # line 138 repeats line 137
    lines[499] = "S04,2024-01-06,10.5,,1\n"  # line 501: a Saturday
    lines[998] = "S09,2024-06-03,0.0000001,,1\n"  # line 1000: below the bounds
    path = write(tmp_path, "symbol,date,close,adj_close,volume\n" + "".join(lines))
    with PriceCsv(path) as source, pytest.raises(LoadError) as refused:
        load_rows(conn, source, "csv", last_closed=LAST_CLOSED, strict=True, chunk_rows=64)
    assert [(e.line, e.field) for e in refused.value.errors] == [
        (137, "symbol,date"), (138, "symbol,date"), (501, "date"), (1000, "close"),
    ]  # fmt: skip
    assert "also given on line 138" in str(refused.value.errors[0])
    with PriceCsv(path) as source:
        res = load_rows(conn, source, "csv", last_closed=LAST_CLOSED, chunk_rows=64)
    assert (res.staged, res.quarantined, res.inserted) == (1000, 4, 996)


def test_the_fast_and_the_careful_reader_accept_the_same_rows(tmp_path: Path) -> None:
    plain = "SPY,2025-01-06,1.5,1.25,100\nspy,2025-01-07,2,,\nVTV,2025-01-06,3e2,,7\n"
    careful = plain.replace("SPY,", '"SPY",').replace("\n", "\r\n")
    header = "symbol,date,close,adj_close,volume\n"
    fast = read_prices(write(tmp_path, header + plain, "fast.csv"))
    # a quoted value on line 2 sends the whole file through the CSV reader
    assert read_prices(write(tmp_path, header + careful, "careful.csv")) == fast
    assert [r[:2] for r in fast] == [(2, "SPY"), (3, "SPY"), (4, "VTV")]
    assert fast[0] == (2, "SPY", dt.date(2025, 1, 6), Decimal("1.5"), Decimal("1.25"), 100)
    assert fast[2][3] == 300 and fast[1][4:] == (None, None)


@pytest.mark.parametrize("year", ["0000", "0001", "1900", "1999", "2000", "2024", "2100", "9999"])
def test_the_date_pattern_accepts_exactly_the_real_dates(year: str) -> None:
    for month, day in itertools.product(range(0, 14), range(0, 33)):
        text = f"{year}-{month:02d}-{day:02d}"
        try:
            real = dt.date.fromisoformat(text) is not None
        except ValueError:
            real = False
        assert (DATE.fullmatch(text) is not None) == real, text


def test_switching_to_the_careful_reader_mid_file_keeps_physical_line_numbers(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    text = (
        "symbol,date,close\n"  # 1
        "SPY,2025-01-06,1\nSPY,2025-01-07,2\n"  # 2-3: a plain chunk
        "SPY,2025-01-08,3\n\n"  # 4, 5 (blank): the careful reader from line 4 on
        '"VTV",2025-01-06,4\n'  # 6
        '"VT\nV",2025-01-07,5\n'  # 7-8: a quoted line break
        "VTV,2025-01-08,x\n"  # 9
        "VTV,2025-01-10,6\n"  # 10
    )
    path = write(tmp_path, text)
    with PriceCsv(path) as source, conn.transaction(force_rollback=True), conn.cursor() as cur:
        chunks = list(source.copy_chunks(chunk_rows=2))
        assert [c.csv for c in chunks] == [True] * len(chunks)
        # the plain chunk is the file's bytes, without lines: the database counts them
        # (market.number_staged_lines) once a problem must be named, as here (the symbol
        # with a line break); the careful reader's rows carry their line
        assert chunks[0].columns == ("symbol", "price_date", "close")
        assert chunks[-1].columns[0] == "line"
        cur.execute("select market.stage_prices()")
        _copy_all(cur, chunks, LoadResult(), None)
        unnumbered = "select count(*) from pg_temp.ingest_stage where line is null"
        assert cur.execute(unnumbered).fetchone() == (2,)  # lines 2-3
        assert cur.execute("select market.check_staged_prices('2025-12-31')").fetchone() == (1,)
        staged = cur.execute(
            "select line, symbol, price_date::text, close from pg_temp.ingest_stage order by line"
        ).fetchall()
        assert staged == [
            (2, "SPY", "2025-01-06", 1),
            (3, "SPY", "2025-01-07", 2),
            (4, "SPY", "2025-01-08", 3),
            (6, "VTV", "2025-01-06", 4),
            (7, "VT\nV", "2025-01-07", 5),  # staged: the symbol rule is the database's
            (10, "VTV", "2025-01-10", 6),
        ]
        assert [(e.line, e.field) for e in source.problems.first] == [(9, "close")]
