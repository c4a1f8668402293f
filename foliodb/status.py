"""What an operator looks at: freshness, last runs, the queue, quarantine."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from foliodb.db import connect


def gather(url: str | None = None) -> dict[str, Any]:
    with connect(url, row_factory=dict_row) as conn:
        calendar = conn.execute("select ops.setting('calendar') as c").fetchone()["c"]
        freshness = conn.execute(
            """
            with last_closed as (
                select max(closed.session_date) as session_date, max(closed.session_idx) as session_idx
                from market.last_closed_session(%(cal)s) as closed
            ),
            latest as (
                select prices.symbol, max(prices.price_date) as last_price_date
                from market.prices group by prices.symbol
            )
            select
                last_closed.session_date as last_closed_session,
                (select max(last_price_date) from latest) as latest_price_date,
                count(*) filter (where latest.last_price_date >= last_closed.session_date) as symbols_current,
                count(*) filter (where latest.last_price_date < last_closed.session_date) as symbols_behind,
                (select as_of_date from ops.refresh_state) as refreshed_through,
                (select refreshed_at from ops.refresh_state) as refreshed_at
            from last_closed left join latest on true
            group by last_closed.session_date
            """,
            {"cal": calendar},
        ).fetchone()
        runs = conn.execute(
            """
            select distinct on (kind) kind, run_id, target, status, started_at,
                round(extract(epoch from coalesce(finished_at, clock_timestamp()) - started_at)::numeric, 3)
                    as seconds,
                rows, coalesce(error, message) as note
            from ops.runs order by kind, run_id desc
            """
        ).fetchall()
        queue = conn.execute(
            """
            select 'portfolios' as queue, count(distinct portfolio_id) as entries, min(from_date) as oldest_from
            from ops.dirty_portfolios
            union all
            select 'symbols', count(distinct symbol), min(from_date) from ops.dirty_symbols
            """
        ).fetchall()
        quarantine = conn.execute(
            """
            select reason, count(*) as rows, max(quarantined_at) as latest
            from market.quarantine group by reason order by rows desc limit 10
            """
        ).fetchall()
        running = conn.execute(
            "select count(*) as n from ops.runs where status = 'running'"
        ).fetchone()["n"]
    return {
        "calendar": calendar,
        "freshness": freshness,
        "last_runs": runs,
        "running": running,
        "queue": queue,
        "quarantine": quarantine,
    }
