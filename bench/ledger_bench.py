"""Scenario h (issue 15): one ledger of N activities (2,000 by default) over Y years (8) on 20
synthetic symbols (with a market split and quarterly dividends), imported through
core.import_activities into a database of its own; then full rebuilds and refreshes after one
edit (a fee added in the last year), each measured as database time (ops.runs: the refresh's
own start to end) and as the client's wall time, with the slowest steps of the last run.

Targets (issue 15): a full rebuild under 1 s, a refresh after an edit under 100 ms of
database time.

    FOLIO_PG_PORT=54334 .venv/bin/python -m bench.ledger_bench 2000 8
"""

from __future__ import annotations

import json
import random
import sys
import time

import psycopg


def _ledger(sessions: list, symbols: list[str], n: int, rng: random.Random) -> list[dict]:
    rows, held = [], {s: 0 for s in symbols}
    days = sorted(rng.choice(sessions[:-1]) for _ in range(n))
    for i, day in enumerate(days):
        symbol = rng.choice(symbols)
        r = rng.random()
        if i % 50 == 0:
            row = {"activity_type": "DEPOSIT", "amount": "5000"}
        elif r < 0.55 or held[symbol] == 0:
            quantity = rng.randint(1, 20)
            held[symbol] += quantity
            row = {
                "activity_type": "BUY",
                "symbol": symbol,
                "quantity": str(quantity),
                "unit_price": "100",
                "fee": "1",
            }
        elif r < 0.8:
            quantity = rng.randint(1, held[symbol])
            held[symbol] -= quantity
            row = {
                "activity_type": "SELL",
                "symbol": symbol,
                "quantity": str(quantity),
                "unit_price": "105",
            }
        elif r < 0.95:
            row = {"activity_type": "DIVIDEND", "symbol": symbol, "amount": "3.5"}
        else:
            row = {"activity_type": "FEE", "amount": "2"}
        rows.append({"activity_date": str(day), "line": str(i + 2), **row})
    return rows


def _refresh(conn: psycopg.Connection, mode: str) -> dict:
    t = time.perf_counter()
    run_id = conn.execute("call ops.refresh(%s, null, null)", [mode]).fetchone()[0]
    wall_ms = (time.perf_counter() - t) * 1000
    status, db_ms = conn.execute(
        "select status::text, extract(epoch from finished_at - started_at) * 1000"
        " from ops.runs where run_id = %s",
        [run_id],
    ).fetchone()
    if status != "succeeded":
        raise RuntimeError(f"ledger bench refresh {run_id} ended {status}")
    return {"run_id": run_id, "db_ms": round(float(db_ms), 1), "wall_ms": round(wall_ms, 1)}


def _steps(conn: psycopg.Connection, run_id: int) -> list[dict]:
    return [
        {"step": step, "ms": round(float(ms), 1)}
        for step, ms in conn.execute(
            "select step, duration_ms from ops.run_steps where run_id = %s"
            " order by duration_ms desc limit 5",
            [run_id],
        )
    ]


def market(conn: psycopg.Connection, years: int, rng: random.Random) -> tuple[list, list[str]]:
    """The bench's market in the database of ``conn``: the last ``years`` x 252 closed XNYS
    sessions, closes of 20 symbols H00..H19 and ^GSPC (a random walk from 100), H00's 4:1
    split half-way and H01's quarterly dividends. Returns the sessions and the symbols."""
    sessions = [
        r[0]
        for r in conn.execute(
            "select session_date from market.trading_days where calendar = 'XNYS'"
            " and close_at <= ops.now() order by session_date desc limit %s",
            [252 * years],
        )
    ][::-1]
    symbols = [f"H{i:02d}" for i in range(20)]
    with conn.cursor() as cur:
        for symbol in [*symbols, "^GSPC"]:
            cur.execute(
                "insert into market.symbols (symbol) values (%s) on conflict do nothing",
                [symbol],
            )
        with cur.copy("copy market.prices (symbol, price_date, close, source) from stdin") as copy:
            for symbol in [*symbols, "^GSPC"]:
                price = 100.0
                for k, day in enumerate(sessions):
                    price *= 1 + rng.gauss(0.0003, 0.01)
                    if symbol == "H00" and k == len(sessions) // 2:
                        price /= 4  # its 4:1 split, below
                    copy.write_row([symbol, day, round(price, 4), "csv"])
        cur.execute(
            "insert into market.splits (symbol, ex_date, ratio) values ('H00', %s, 4)",
            [sessions[len(sessions) // 2]],
        )
        for k in range(30, len(sessions) - 1, 63):
            cur.execute(
                "insert into market.dividends (symbol, ex_date, amount_per_share)"
                " values ('H01', %s, 0.4)",
                [sessions[k]],
            )
    return sessions, symbols


def run(
    url: str, n_activities: int = 2000, years: int = 8, repeat: int = 3, seed: int = 15
) -> dict:
    """Import the ledger into ``url`` (a fresh clone of the bench template), then measure."""
    rng = random.Random(seed)
    with psycopg.connect(url, autocommit=True) as conn:
        sessions, symbols = market(conn, years, rng)
        rows = _ledger(sessions, symbols, n_activities, rng)
        t = time.perf_counter()
        conn.execute(
            "select * from core.import_activities('bench@example.com', 'ledger', %s::jsonb)",
            [json.dumps(rows)],
        )
        import_ms = (time.perf_counter() - t) * 1000
        full = [_refresh(conn, "full") for _ in range(repeat + 1)][1:]  # the first warms up
        full_steps = _steps(conn, full[-1]["run_id"])
        edits = []
        for k in range(repeat):
            conn.execute(
                "select * from core.import_activities('bench@example.com', 'ledger', %s::jsonb)",
                [
                    json.dumps(
                        [
                            {
                                "line": "2",
                                "activity_date": str(sessions[-120 + 7 * k]),
                                "activity_type": "FEE",
                                "amount": str(1 + k),
                            }
                        ]
                    )
                ],
            )
            edits.append(_refresh(conn, "incremental"))
        edit_steps = _steps(conn, edits[-1]["run_id"])
        snapshots = conn.execute(
            "select count(*) from analytics.fct_portfolio_snapshots"
        ).fetchone()[0]
    return {
        "activities": n_activities,
        "years": years,
        "sessions": len(sessions),
        "snapshot_rows": snapshots,
        "import_ms": round(import_ms, 1),
        "full_rebuild": full,
        "full_rebuild_steps": full_steps,
        "edit_refresh": edits,
        "edit_refresh_steps": edit_steps,
    }


if __name__ == "__main__":  # pragma: no cover - by hand, in a scratch database
    from foliodb import config, models
    from ingest import calendar

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    years = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    base = config.database_url()
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute("drop database if exists ledger_bench")
        admin.execute("create database ledger_bench")
    url = psycopg.conninfo.make_conninfo(base, dbname="ledger_bench")
    try:
        calendar.prepare(url)
        models.install(url)
        print(json.dumps(run(url, n, years), indent=2, default=str))
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute("drop database ledger_bench")
