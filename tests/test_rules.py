"""Rules defined once, in the database: the symbol rule, the queue of dirty symbols, the runs
ledger's writers and "which symbols matter"."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from foliodb.portfolio_io import finish_run, start_run

ASCII = "the non-ASCII character"


@pytest.mark.parametrize("symbol", ["SPY", "^GSPC", "BRK.B", "EURUSD=X", "BF/B", "A" * 32, "9984"])
def test_a_symbol_is_accepted(conn: psycopg.Connection, symbol: str) -> None:
    assert conn.execute("select market.symbol_problem(%s)", [symbol]).fetchone() == (None,)
    conn.execute("insert into market.symbols (symbol) values (%s) on conflict do nothing", [symbol])


@pytest.mark.parametrize(
    ("symbol", "reason"),
    [
        ("", "it is empty"),
        ("A" * 33, "it is longer than 32 characters"),
        ("VU G", "it contains a space (U+0020) at character 3"),
        ("spy", "it contains 's' (U+0073) at character 1"),
        ("SP!Y", "it contains '!' (U+0021) at character 3"),
        ("ſPY", f"it contains {ASCII} 'ſ' (U+017F) at character 1"),
        ("A\tB", "it contains a control character (U+0009) at character 2"),
        (".X", "it starts with '.'"),
        ("-X", "it starts with '-'"),
    ],
)
def test_a_text_that_is_not_a_symbol_says_why_and_is_refused(
    conn: psycopg.Connection, symbol: str, reason: str
) -> None:
    assert conn.execute("select market.symbol_problem(%s)", [symbol]).fetchone() == (reason,)
    with pytest.raises(psycopg.errors.CheckViolation, match="symbol_format"):
        conn.execute("insert into market.symbols (symbol) values (%s)", [symbol])


def _prices(conn: psycopg.Connection, rows: list[tuple[str, str, float]]) -> None:
    conn.execute("insert into market.symbols (symbol) values ('QQQ') on conflict do nothing")
    conn.execute(
        "insert into market.prices (symbol, price_date, close, source)"
        " select 'QQQ', d::date, c, 'manual' from unnest(%s::text[], %s::numeric[]) as r (d, c)"
        " on conflict (symbol, price_date) do update set close = excluded.close",
        [[d for _, d, _ in rows], [c for _, _, c in rows]],
    )


def _queue(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select symbol, from_date::text, reason from ops.dirty_symbols order by queued_at"
    ).fetchall()


def test_any_writer_of_prices_queues_corrections_and_backfills(conn: psycopg.Connection) -> None:
    # not the loader: plain SQL, as an operator's fix would be; the triggers queue it alike
    _prices(conn, [("QQQ", "2025-01-07", 500), ("QQQ", "2025-01-10", 510)])
    assert _queue(conn) == []  # new history, nothing refreshed yet
    _prices(conn, [("QQQ", "2025-01-10", 511)])
    assert _queue(conn) == [("QQQ", "2025-01-10", "price corrected")]
    _prices(conn, [("QQQ", "2025-01-08", 505)])
    assert _queue(conn)[1:] == [("QQQ", "2025-01-08", "history backfilled")]
    _prices(conn, [("QQQ", "2025-01-13", 512)])  # a new latest session: no entry
    assert len(_queue(conn)) == 2


def test_one_statement_is_judged_by_the_rows_stored_before_it(conn: psycopg.Connection) -> None:
    # stored: 01-06 and 01-10. One insert of 01-08 (inside the history), 01-13 and 01-14
    # (after it): history backfilled from 01-08, the statement's earliest row; its later rows
    # do not make it "new history", and the row stored after 01-08 is what makes it history.
    _prices(conn, [("QQQ", "2025-01-06", 500), ("QQQ", "2025-01-10", 510)])
    _prices(
        conn, [("QQQ", "2025-01-08", 505), ("QQQ", "2025-01-13", 512), ("QQQ", "2025-01-14", 1)]
    )
    assert _queue(conn) == [("QQQ", "2025-01-08", "history backfilled")]
    # rows only after the last stored one, however many, are no history
    _prices(conn, [("QQQ", "2025-01-15", 513), ("QQQ", "2025-01-16", 514)])
    assert len(_queue(conn)) == 1
    # rows only before the first stored one are history from the earliest
    _prices(conn, [("QQQ", "2025-01-03", 498), ("QQQ", "2025-01-02", 497)])
    assert _queue(conn)[1:] == [("QQQ", "2025-01-02", "history backfilled")]


def test_a_late_quote_for_a_covered_session_is_queued(conn: psycopg.Connection) -> None:
    conn.execute("update ops.refresh_state set as_of_date = '2025-01-10', as_of_idx = 1")
    _prices(conn, [("QQQ", "2025-01-10", 510)])
    assert _queue(conn) == [("QQQ", "2025-01-10", "prices written for covered sessions")]


def test_the_ledger_functions_open_and_end_a_run(conn: psycopg.Connection) -> None:
    run_id = start_run(conn, "import", "a@example.com/p", {"file": "a.csv"})
    assert conn.execute(
        "select status::text, finished_at is null, backend_pid = pg_backend_pid()"
        " from ops.runs where run_id = %s",
        [run_id],
    ).fetchone() == ("running", True, True)
    finish_run(conn, run_id, "failed", error="boom", rows=3, details={"refresh": "failed"})
    assert conn.execute(
        "select status::text, error, rows, details ->> 'file', details ->> 'refresh',"
        " finished_at >= started_at from ops.runs where run_id = %s",
        [run_id],
    ).fetchone() == ("failed", "boom", 3, "a.csv", "failed", True)
    # the table's rules still hold: a failed run has an error
    other = start_run(conn, "import", "b", {})
    with pytest.raises(psycopg.errors.CheckViolation, match="failed_has_error"):
        finish_run(conn, other, "failed")


def test_what_a_portfolio_reads_is_one_list(conn: psycopg.Connection) -> None:
    conn.execute("insert into core.users (email) values ('o@example.com')")
    pid = conn.execute(
        "insert into core.portfolios (user_id, name) select user_id, 'p' from core.users"
        " returning portfolio_id"
    ).fetchone()[0]
    conn.execute(
        "insert into market.symbols (symbol, kind) values ('AAPL', 'equity'),"
        " ('F260116P00012500', 'option'), ('HOUSE', 'private')"
    )
    conn.execute(
        "insert into core.positions (portfolio_id, symbol, investment_class, quantity,"
        " entry_date, entry_price) values"
        " (%(p)s, 'AAPL', 'PUBLIC', 1, '2024-03-01', 10),"
        " (%(p)s, 'F260116P00012500', 'OPTIONS', 1, '2024-02-01', 1),"
        " (%(p)s, 'HOUSE', 'PRIVATE', 1, '2023-01-01', 100)",
        {"p": pid},
    )
    rows = conn.execute(
        "select symbol, reason, needed_from from ops.symbols_needed(%s) order by reason, symbol",
        [pid],
    ).fetchall()
    factors = ["IWM", "MTUM", "QUAL", "SPY", "TLT", "USMV", "VTV", "VUG"]
    assert rows == [
        ("^GSPC", "benchmark", dt.date(2023, 1, 1)),  # from the portfolio's first entry
        *[(symbol, "factor", None) for symbol in factors],
        ("AAPL", "held", dt.date(2024, 3, 1)),
        ("BIL", "risk_free", None),
        ("F", "underlying", dt.date(2024, 2, 1)),
    ]
