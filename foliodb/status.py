"""What an operator looks at: freshness, last runs, the queue, quarantine.

Freshness and the last run of each kind are read from ``app.run_status`` (the read contract
apps use, dbt_project/models/marts/serving/run_status.sql), not derived again here; the
price-level counts, the queue's oldest dates and the quarantine are operator details the
contract does not carry.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from foliodb.errors import FolioError


def gather(conn: psycopg.Connection) -> dict[str, Any]:
    """What `folio status` shows, read on ``conn`` (as the operator's refresh role)."""
    cur = conn.cursor(row_factory=dict_row)
    if cur.execute("select to_regclass('app.run_status') as view").fetchone()["view"] is None:
        raise FolioError(
            "app.run_status does not exist yet: install the models (`folio refresh --full`)"
        )
    calendar = cur.execute("select ops.setting('calendar') as c").fetchone()["c"]
    status_rows = cur.execute("select * from app.run_status order by kind").fetchall()
    first = status_rows[0] if status_rows else {}
    freshness = cur.execute(
        """
        with latest as (
            select prices.symbol, max(prices.price_date) as last_price_date
            from market.prices as prices group by prices.symbol
        )

        select
            %(last_closed)s::date as last_closed_session,
            (select max(latest.last_price_date) from latest) as latest_price_date,
            (select count(*) from latest where latest.last_price_date >= %(last_closed)s)
                as symbols_current,
            (select count(*) from latest where latest.last_price_date < %(last_closed)s)
                as symbols_behind
        """,
        {"last_closed": first.get("last_closed_session")},
    ).fetchone()
    freshness |= {
        key: first.get(key)
        for key in ("refreshed_through", "refreshed_at", "sessions_behind", "is_fresh")
    }
    runs = [
        {
            "kind": row["kind"],
            "run_id": row["last_run_id"],
            "target": row["last_target"],
            "status": row["last_status"],
            "started_at": row["last_started_at"],
            "seconds": row["last_seconds"],
            "rows": row["last_rows"],
            "note": row["last_note"],
        }
        for row in status_rows
        if row["last_run_id"] is not None
    ]
    queue = cur.execute(
        """
        select 'portfolios' as queue, count(distinct portfolio_id) as entries, min(from_date) as oldest_from
        from ops.dirty_portfolios
        union all
        select 'symbols', count(distinct symbol), min(from_date) from ops.dirty_symbols
        """
    ).fetchall()
    quarantine = cur.execute(
        """
        select reason, count(*) as rows, max(quarantined_at) as latest
        from market.quarantine group by reason order by rows desc limit 10
        """
    ).fetchall()
    return {
        "calendar": calendar,
        "freshness": freshness,
        "last_runs": runs,
        "running": sum(1 for row in status_rows if row["is_running"]),
        "queue": queue,
        "quarantine": quarantine,
    }
