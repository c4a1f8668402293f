"""The loader: COPY → staging → set-based validation → quarantine → one upsert."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import psycopg
import pytest

from ingest.load import LoadError, load_rows

LAST_CLOSED = dt.date(2025, 1, 17)
JAN = [dt.date(2025, 1, d) for d in (6, 7, 8, 10, 13)]  # sessions; 2025-01-09 was closed


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["symbol", "price_date", "close", "adj_close", "volume"])


def base_rows() -> list[tuple]:
    return [("SPY", d, 590.0 + i, 589.0 + i, 1_000_000 + i) for i, d in enumerate(JAN)]


def prices(conn: psycopg.Connection, symbol: str = "SPY") -> list[tuple]:
    return conn.execute(
        "select price_date, close, adj_close, volume, source from market.prices"
        " where symbol = %s order by price_date",
        [symbol],
    ).fetchall()


def test_rows_are_inserted_with_exact_values(conn: psycopg.Connection) -> None:
    res = load_rows(conn, frame(base_rows()), "yfinance", last_closed=LAST_CLOSED)
    assert (res.inserted, res.updated, res.unchanged, res.quarantined) == (5, 0, 0, 0)
    stored = prices(conn)
    assert stored[0] == (dt.date(2025, 1, 6), 590, 589, 1_000_000, "yfinance")
    assert [r[0] for r in stored] == JAN


def test_loading_the_same_data_twice_changes_nothing(conn: psycopg.Connection) -> None:
    load_rows(conn, frame(base_rows()), "yfinance", last_closed=LAST_CLOSED)
    before = conn.execute("select symbol, price_date, loaded_at from market.prices").fetchall()
    res = load_rows(conn, frame(base_rows()), "yfinance", last_closed=LAST_CLOSED)
    assert (res.inserted, res.updated, res.unchanged, res.quarantined) == (0, 0, 5, 0)
    after = conn.execute("select symbol, price_date, loaded_at from market.prices").fetchall()
    assert before == after
    assert conn.execute("select count(*) from ops.dirty_symbols").fetchone() == (0,)
    assert conn.execute("select count(*) from market.quarantine").fetchone() == (0,)


def test_a_corrected_close_updates_one_row_and_queues_the_dirty_range(
    conn: psycopg.Connection,
) -> None:
    load_rows(conn, frame(base_rows()), "yfinance", last_closed=LAST_CLOSED)
    rows = base_rows()
    rows[2] = ("SPY", JAN[2], 592.5, 591.5, rows[2][4])  # 2025-01-08 corrected
    res = load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED)
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 4)
    assert prices(conn)[2][1] == pytest.approx(592.5)
    assert conn.execute("select symbol, from_date, reason from ops.dirty_symbols").fetchall() == [
        ("SPY", dt.date(2025, 1, 8), "price corrected")
    ]
    assert res.dirty == {"SPY": "2025-01-08"}


def test_a_volume_only_change_updates_without_queueing(conn: psycopg.Connection) -> None:
    load_rows(conn, frame(base_rows()), "yfinance", last_closed=LAST_CLOSED)
    rows = base_rows()
    rows[4] = (*rows[4][:4], 7)
    res = load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED)
    assert res.updated == 1
    assert conn.execute("select count(*) from ops.dirty_symbols").fetchone() == (0,)


def test_filling_a_gap_before_the_last_stored_date_queues_a_backfill(
    conn: psycopg.Connection,
) -> None:
    rows = base_rows()
    load_rows(conn, frame(rows[:2] + rows[3:]), "yfinance", last_closed=LAST_CLOSED)
    res = load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED)
    assert (res.inserted, res.unchanged) == (1, 4)
    assert conn.execute("select symbol, from_date, reason from ops.dirty_symbols").fetchall() == [
        ("SPY", dt.date(2025, 1, 8), "history backfilled")
    ]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (-3.0, "close: expected a positive number, got -3"),
        (0.0, "close: expected a positive number, got 0"),
        (math.nan, "close: expected a finite number, got NaN"),
        (math.inf, "close: expected a finite number, got Infinity"),
    ],
)
def test_a_bad_close_lands_in_quarantine_not_in_prices(
    conn: psycopg.Connection, bad: float, reason: str
) -> None:
    rows = base_rows()
    rows[1] = ("SPY", JAN[1], bad, 589.0, 10)
    res = load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED, run_id=42)
    assert (res.inserted, res.quarantined) == (4, 1)
    assert JAN[1] not in [r[0] for r in prices(conn)]
    assert conn.execute(
        "select run_id, symbol, price_date, reason from market.quarantine"
    ).fetchall() == [(42, "SPY", JAN[1], reason)]


def test_dates_that_are_not_sessions_or_in_the_future_are_quarantined(
    conn: psycopg.Connection,
) -> None:
    rows = [
        ("SPY", dt.date(2025, 1, 9), 1.0, None, None),  # closure
        ("SPY", dt.date(2025, 1, 11), 1.0, None, None),  # Saturday
        ("SPY", dt.date(2025, 1, 21), 1.0, None, None),  # after the last closed session
        ("spy!", dt.date(2025, 1, 10), 1.0, None, None),  # malformed symbol
        ("SPY", dt.date(2025, 1, 10), 1.0, -5.0, None),
        ("SPY", dt.date(2025, 1, 13), 1.0, None, -1),
    ]
    res = load_rows(conn, frame(rows), "csv", last_closed=LAST_CLOSED)
    assert (res.inserted, res.quarantined) == (0, 6)
    reasons = [r[0] for r in conn.execute("select reason from market.quarantine order by 1")]
    assert reasons == sorted(
        [
            "date: expected a XNYS trading day, got 2025-01-09",
            "date: expected a XNYS trading day, got 2025-01-11",
            "date: expected a date on or before the last closed session 2025-01-17, got 2025-01-21",
            "symbol: expected a ticker such as SPY or ^GSPC (ASCII letters, digits and"
            " ^ . _ = / -, at most 32 characters), got 'spy!' (it contains 's' (U+0073) at"
            " character 1)",
            "adj_close: expected a finite positive number or nothing, got -5",
            "volume: expected a non-negative whole number or nothing, got -1",
        ]
    )


def test_a_key_given_twice_is_quarantined_both_times(conn: psycopg.Connection) -> None:
    rows = [*base_rows(), ("SPY", JAN[0], 1.0, None, None)]
    res = load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED)
    assert (res.inserted, res.quarantined) == (4, 2)


def test_a_large_move_is_loaded_and_flagged(conn: psycopg.Connection) -> None:
    rows = base_rows()
    rows[3] = ("SPY", JAN[3], 1000.0, 999.0, 1)  # +69 % from 592 on 2025-01-08
    res = load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED)
    assert (res.inserted, res.quarantined, res.flagged) == (5, 0, 1)  # back down is -40.6 %
    reasons = [
        r[0]
        for r in conn.execute(
            "select reason from market.quarantine where price_date = '2025-01-10'"
        )
    ]
    assert reasons == [
        "warning: close moved +68.9% from 592 on 2025-01-08 (max_daily_move 0.5); loaded"
    ]
    # Loading it again flags nothing more: only changed rows are checked.
    load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED)
    assert conn.execute("select count(*) from market.quarantine").fetchone() == (1,)


def test_an_unknown_symbol_is_created(conn: psycopg.Connection) -> None:
    rows = [("^NDX", JAN[0], 21000.0, None, None), ("NEWCO", JAN[0], 12.0, None, None)]
    load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED)
    kinds = dict(
        conn.execute(
            "select symbol, kind::text from market.symbols where symbol in ('^NDX', 'NEWCO')"
        ).fetchall()
    )
    assert kinds == {"^NDX": "index", "NEWCO": "unknown"}


def test_strict_mode_names_lines_and_writes_nothing(conn: psycopg.Connection) -> None:
    rows = [
        (2, "SPY", JAN[0], 590.0, None, None),
        (3, "SPY", dt.date(2025, 1, 9), 591.0, None, None),
        (4, "SPY", JAN[1], -1.0, None, None),
    ]
    with pytest.raises(LoadError) as info:
        load_rows(conn, rows, "csv", last_closed=LAST_CLOSED, strict=True, origin="p.csv")
    assert [str(e) for e in info.value.errors] == [
        "p.csv line 3, field date: expected a XNYS trading day, got 2025-01-09",
        "p.csv line 4, field close: expected a positive number, got -1",
    ]
    assert conn.execute("select count(*) from market.prices").fetchone() == (0,)
    assert conn.execute("select count(*) from market.quarantine").fetchone() == (0,)


def test_a_failed_load_inside_a_transaction_leaves_it_usable(conn: psycopg.Connection) -> None:
    with conn.transaction():
        load_rows(conn, frame(base_rows()[:1]), "yfinance", last_closed=LAST_CLOSED)
        with pytest.raises(LoadError):
            load_rows(
                conn,
                [(1, "SPY", JAN[1], -1.0, None, None)],
                "csv",
                last_closed=LAST_CLOSED,
                strict=True,
            )
        load_rows(conn, frame(base_rows()[2:3]), "yfinance", last_closed=LAST_CLOSED)
    assert [r[0] for r in prices(conn)] == [JAN[0], JAN[2]]


def test_an_iterable_is_consumed_lazily_in_bounded_chunks(conn: psycopg.Connection) -> None:
    sessions = [
        r[0]
        for r in conn.execute(
            "select session_date from market.trading_days where calendar = 'XNYS'"
            " and session_date between '2021-01-01' and %s order by 1",
            [LAST_CLOSED],
        )
    ]
    produced = 0

    def rows():  # a generator: nothing is listed up front
        nonlocal produced
        for n, day in enumerate(sessions, start=1):
            for k in range(10):
                produced += 1
                yield (produced, f"GEN{k}", day, 10.0 + n % 5, None, n)

    held: list[int] = []
    res = load_rows(
        conn,
        rows(),
        "csv",
        last_closed=LAST_CLOSED,
        chunk_rows=500,
        on_chunk=lambda chunks: held.append(produced - 500 * chunks),
    )
    total = 10 * len(sessions)
    assert res.inserted == total
    assert res.copied_chunks == -(-total // 500)
    # when a chunk is written, at most one row past it has been produced: no list of the input
    assert max(held) <= 1
    assert conn.execute(
        "select count(*) from market.prices where symbol like 'GEN%'"
    ).fetchone() == (total,)


def test_strict_mode_reports_the_first_50_problems_and_counts_the_rest(
    conn: psycopg.Connection,
) -> None:
    rows = [(n, "SPY", JAN[0], -float(n), None, None) for n in range(1, 1201)]
    with pytest.raises(LoadError) as info:
        load_rows(conn, rows, "csv", last_closed=LAST_CLOSED, strict=True, origin="p.csv")
    assert info.value.total == 1200
    assert [e.line for e in info.value.errors] == list(range(1, 51))
    assert str(info.value).endswith("… and 1,150 more")
    assert conn.execute("select count(*) from market.prices").fetchone() == (0,)


# ---------------------------------------------------------------- prices → symbols, per statement


def test_a_price_of_an_unknown_symbol_is_refused_by_the_database(conn: psycopg.Connection) -> None:
    """Any writer, not only the loader: the rule is a statement-level trigger."""
    with (
        pytest.raises(psycopg.errors.ForeignKeyViolation, match="'NOPE' is not in market.symbols"),
        conn.transaction(),
    ):
        conn.execute(
            "insert into market.prices (symbol, price_date, close, source) values"
            " ('SPY', '2025-01-06', 1, 'manual'), ('NOPE', '2025-01-06', 1, 'manual')"
        )
    load_rows(conn, frame(base_rows()), "yfinance", last_closed=LAST_CLOSED)
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="'NOPE'"), conn.transaction():
        conn.execute("update market.prices set symbol = 'NOPE' where price_date = '2025-01-06'")
    assert len(prices(conn)) == 5


def test_a_symbol_with_prices_is_not_deleted_and_a_rename_takes_its_prices(
    conn: psycopg.Connection,
) -> None:
    rows = [("OLD", *row[1:]) for row in base_rows()]
    load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED)  # a new symbol, OLD
    conn.execute("insert into market.symbols (symbol) values ('UNUSED')")
    conn.execute("delete from market.symbols where symbol = 'UNUSED'")  # no prices: deleted
    with (
        pytest.raises(psycopg.errors.ForeignKeyViolation, match="'OLD' still has prices"),
        conn.transaction(),
    ):
        conn.execute("delete from market.symbols where symbol in ('OLD', 'UNUSED')")
    conn.execute("update market.symbols set symbol = 'NEW' where symbol = 'OLD'")
    assert len(prices(conn, "NEW")) == 5 and prices(conn, "OLD") == []


def test_a_delete_of_a_symbol_waits_for_the_transaction_writing_its_prices(
    conn: psycopg.Connection, db_url: str
) -> None:
    """The symbols are locked for key share, as the foreign key locked them: a delete of a
    symbol an open transaction just wrote prices for waits for it, then sees its prices."""
    conn.execute("insert into market.symbols (symbol) values ('ZZZ')")
    with psycopg.connect(db_url) as other:
        other.execute(
            "insert into market.prices (symbol, price_date, close, source)"
            " values ('ZZZ', '2025-01-06', 1, 'manual')"
        )
        with psycopg.connect(db_url, autocommit=True) as deleter:
            deleter.execute("set lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                deleter.execute("delete from market.symbols where symbol = 'ZZZ'")
        other.commit()
    with (
        pytest.raises(psycopg.errors.ForeignKeyViolation, match="'ZZZ' still has prices"),
        conn.transaction(),
    ):
        conn.execute("delete from market.symbols where symbol = 'ZZZ'")


def test_a_move_is_measured_against_stored_neighbours_and_staged_rows_win(
    conn: psycopg.Connection,
) -> None:
    load_rows(conn, frame(base_rows()[:3]), "yfinance", last_closed=LAST_CLOSED)  # 590 591 592
    res = load_rows(
        conn, frame([("SPY", JAN[3], 1000.0, None, None)]), "yfinance", last_closed=LAST_CLOSED
    )
    assert (res.inserted, res.flagged) == (1, 1)  # 1000 / 592 (stored) = +68.9 %
    # A correction of 01-08 to 900 with 01-10 at 1000: 01-10 is measured against the staged
    # 900 (+11.1 %, not flagged), 01-08 against the stored 591 of 01-07 (+52.3 %).
    rows = [("SPY", JAN[2], 900.0, None, None), ("SPY", JAN[3], 1000.0, None, None)]
    res = load_rows(conn, frame(rows), "yfinance", last_closed=LAST_CLOSED)
    assert (res.inserted, res.updated, res.unchanged, res.flagged) == (0, 1, 1, 1)
    assert res.dirty == {"SPY": "2025-01-08"}
    reasons = [
        r[0] for r in conn.execute("select reason from market.quarantine order by quarantine_id")
    ]
    assert reasons == [
        "warning: close moved +68.9% from 592 on 2025-01-08 (max_daily_move 0.5); loaded",
        "warning: close moved +52.3% from 591 on 2025-01-07 (max_daily_move 0.5); loaded",
    ]
