"""The trading calendar in market.trading_days (filled by the template via ensure_calendar)."""

from __future__ import annotations

import datetime as dt

import psycopg

from foliodb import clock
from ingest import calendar


def test_calendar_skips_the_2025_01_09_closure_and_has_the_next_day(
    conn: psycopg.Connection,
) -> None:
    days = {
        r[0]
        for r in conn.execute(
            "select session_date from market.trading_days where calendar = 'XNYS'"
            " and session_date between '2025-01-06' and '2025-01-13'"
        )
    }
    # Mon 6, Tue 7, Wed 8, (Thu 9 national day of mourning), Fri 10, Mon 13
    assert days == {
        dt.date(2025, 1, 6),
        dt.date(2025, 1, 7),
        dt.date(2025, 1, 8),
        dt.date(2025, 1, 10),
        dt.date(2025, 1, 13),
    }


def test_session_idx_is_a_gapless_ordinal_from_2000(conn: psycopg.Connection) -> None:
    first, first_idx, n, max_idx = conn.execute(
        "select min(session_date), min(session_idx), count(*), max(session_idx)"
        " from market.trading_days where calendar = 'XNYS'"
    ).fetchone()
    assert first == dt.date(2000, 1, 3)  # 2000-01-01 was a Saturday
    assert first_idx == 0
    assert max_idx == n - 1


def test_calendar_reaches_at_least_a_year_ahead(conn: psycopg.Connection) -> None:
    through = calendar.calendar_through(conn)
    assert through >= clock.today() + dt.timedelta(days=360)


def test_ensure_calendar_twice_adds_nothing(conn: psycopg.Connection) -> None:
    assert calendar.ensure_calendar(conn) == 0


def test_ensure_calendar_extends_without_moving_ordinals(conn: psycopg.Connection) -> None:
    before = conn.execute(
        "select session_idx from market.trading_days where session_date = '2025-01-10'"
    ).fetchone()[0]
    through = calendar.calendar_through(conn)
    added = calendar.ensure_calendar(conn=conn, through=dt.date(through.year + 1, 12, 31))
    assert 245 <= added <= 260  # one more year of sessions
    after = conn.execute(
        "select session_idx from market.trading_days where session_date = '2025-01-10'"
    ).fetchone()[0]
    assert after == before


def test_a_session_no_longer_in_the_calendar_is_replaced(conn: psycopg.Connection) -> None:
    # Simulate a range filled before the 2025-01-09 closure was announced.
    conn.execute("delete from market.trading_days where session_date >= '2025-01-10'")
    conn.execute(
        "update market.trading_days set session_date = '2025-01-09',"
        " open_at = '2025-01-09 14:30+00', close_at = '2025-01-09 21:00+00'"
        " where session_date = '2025-01-08'"
    )
    calendar.ensure_calendar(conn=conn)
    assert conn.execute(
        "select count(*) from market.trading_days where session_date = '2025-01-09'"
    ).fetchone() == (0,)
    idx = dict(
        conn.execute(
            "select session_date, session_idx from market.trading_days"
            " where session_date in ('2025-01-08', '2025-01-10')"
        ).fetchall()
    )
    assert idx[dt.date(2025, 1, 10)] == idx[dt.date(2025, 1, 8)] + 1


def test_last_closed_session_is_the_latest_past_close(conn: psycopg.Connection) -> None:
    at = dt.datetime(2025, 1, 10, 20, 0, tzinfo=dt.UTC)  # Friday before the 21:00 UTC close
    assert calendar.last_closed_session(conn, now=at) == dt.date(2025, 1, 8)
    at = dt.datetime(2025, 1, 10, 21, 0, tzinfo=dt.UTC)
    assert calendar.last_closed_session(conn, now=at) == dt.date(2025, 1, 10)
