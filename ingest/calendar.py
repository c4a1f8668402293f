"""The trading calendar: exchange sessions from exchange_calendars into market.trading_days.

``session_idx`` is the ordinal of a session counted from a fixed start (2000-01-01), so it is
the same whichever range was filled first. Special closures (the NYSE was closed on
2025-01-09) come from exchange_calendars, never from weekday arithmetic.
"""

from __future__ import annotations

import datetime as dt
import warnings

import exchange_calendars as xcals
import pandas as pd
import psycopg

from foliodb import clock, migrate
from foliodb.bounds import CALENDAR_START  # also the lower bound of every stored date
from foliodb.db import connect
from foliodb.errors import FolioError
from foliodb.security import INGEST


def default_through(today: dt.date | None = None) -> dt.date:
    """The end of next calendar year: always at least one year ahead, for scheduling."""
    today = today or clock.today()
    return dt.date(today.year + 1, 12, 31)


def sessions(calendar: str = "XNYS", through: dt.date | None = None) -> pd.DataFrame:
    """Sessions from CALENDAR_START through ``through``: session_date, session_idx, open_at, close_at."""
    through = through or default_through()
    try:
        with warnings.catch_warnings():  # exchange_calendars 4.13 trips a pandas 3 deprecation
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            cal = xcals.get_calendar(calendar, start=CALENDAR_START, end=through)
    except xcals.errors.InvalidCalendarName as exc:
        raise FolioError(f"unknown exchange calendar {calendar!r} (XNYS, XLON, …)") from exc
    except ValueError as exc:  # dates outside what the calendar can compute
        raise FolioError(f"calendar {calendar} cannot reach {through}: {exc}") from exc
    schedule = cal.schedule
    return pd.DataFrame(
        {
            "session_date": schedule.index.date,
            "session_idx": range(len(schedule)),
            "open_at": [ts.to_pydatetime() for ts in schedule["open"]],
            "close_at": [ts.to_pydatetime() for ts in schedule["close"]],
        }
    )


def _sync(conn: psycopg.Connection, calendar: str, frame: pd.DataFrame) -> int:
    """Make the stored sessions of ``calendar`` equal ``frame`` in its range; rows added."""
    with conn.transaction():
        conn.execute(
            "create temp table if not exists calendar_stage ("
            " session_date date, session_idx integer, open_at timestamptz, close_at timestamptz)"
        )
        conn.execute("truncate calendar_stage")
        with conn.cursor() as cur:
            with cur.copy(
                "copy calendar_stage (session_date, session_idx, open_at, close_at) from stdin"
            ) as copy:
                for row in frame.itertuples(index=False):
                    copy.write_row(row)
            # A session that exchange_calendars no longer has (a closure announced after the
            # range was filled), or whose ordinal or hours changed, is replaced, not patched.
            cur.execute(
                """
                delete from market.trading_days as td
                where td.calendar = %(calendar)s
                    and td.session_date >= (select min(session_date) from calendar_stage)
                    and td.session_date <= (select max(session_date) from calendar_stage)
                    and not exists (
                        select from calendar_stage as st
                        where st.session_date = td.session_date
                            and st.session_idx = td.session_idx
                            and st.open_at = td.open_at
                            and st.close_at = td.close_at
                    )
                """,
                {"calendar": calendar},
            )
            # Rows beyond the new range keep their place only if their ordinals still follow.
            if cur.rowcount:
                cur.execute(
                    "delete from market.trading_days where calendar = %(calendar)s"
                    " and session_date > (select max(session_date) from calendar_stage)",
                    {"calendar": calendar},
                )
            cur.execute(
                """
                insert into market.trading_days
                    (calendar, session_date, session_idx, open_at, close_at)
                select %(calendar)s, session_date, session_idx, open_at, close_at
                from calendar_stage
                on conflict (calendar, session_date) do nothing
                """,
                {"calendar": calendar},
            )
            added = cur.rowcount
            # (cli) the fill is a run like any other: app.run_status shows its last one
            cur.execute(
                """
                select ops.record_run(
                    'ingest_calendar', %(calendar)s::text, 'succeeded',
                    format('%%s sessions added; %%s filled through %%s', %(added)s::bigint,
                        %(calendar)s::text, (select max(session_date) from calendar_stage)),
                    %(added)s::bigint
                )
                """,
                {"calendar": calendar, "added": added},
            )
            return added


def ensure_calendar(
    conn: psycopg.Connection,
    calendar: str = "XNYS",
    through: dt.date | None = None,
) -> int:
    """Fill market.trading_days for ``calendar`` from 2000 through ``through`` (default: the
    end of next year) on the caller's ``conn`` (as folio_ingest, as `folio ingest calendar`
    opens it). Idempotent and set-based; returns the number of sessions added."""
    return _sync(conn, calendar, sessions(calendar, through))


def configured_calendar(conn: psycopg.Connection) -> str:
    row = conn.execute("select value from ops.settings where key = 'calendar'").fetchone()
    return row[0] if row else "XNYS"


def last_closed_session(
    conn: psycopg.Connection, calendar: str | None = None, now: dt.datetime | None = None
) -> dt.date | None:
    """The latest session whose close is past (``now`` defaults to the project's clock)."""
    calendar = calendar or configured_calendar(conn)
    row = conn.execute(
        "select max(closed.session_date)"
        " from market.last_closed_session(%s, coalesce(%s, ops.now())) as closed",
        [calendar, now],
    ).fetchone()
    return row[0] if row else None


def calendar_through(conn: psycopg.Connection, calendar: str | None = None) -> dt.date | None:
    """The last session stored for the calendar."""
    calendar = calendar or configured_calendar(conn)
    row = conn.execute(
        "select max(session_date) from market.trading_days where calendar = %s", [calendar]
    ).fetchone()
    return row[0] if row else None


def stored_sessions(conn: psycopg.Connection, calendar: str, through: dt.date) -> pd.DataFrame:
    """The calendar's stored sessions through a date (session_date, session_idx), in order."""
    rows = conn.execute(
        "select session_date, session_idx from market.trading_days"
        " where calendar = %s and session_date <= %s order by session_date",
        [calendar, through],
    ).fetchall()
    return pd.DataFrame(rows, columns=["session_date", "session_idx"])


def prepare(url: str | None = None) -> tuple[migrate.MigrateResult, int]:
    """What every foliodb database holds before data: migrations, routines and the trading
    calendar. Returns the migration result and the number of calendar sessions added.

    Here, not in foliodb.migrate: foliodb never imports ingest (cli → ingest → foliodb).
    A URL, not a connection: migrations run on a session of their own as the owner
    (foliodb.migrate); the calendar is then filled on a new one as folio_ingest.
    """
    result = migrate.migrate(url)
    with connect(url, role=INGEST, autocommit=True) as conn:
        return result, ensure_calendar(conn)
