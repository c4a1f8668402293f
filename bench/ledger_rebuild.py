"""Measure a ledger (issue 15): N activities (default 2,000) over 2017-2024 on 20 synthetic
symbols, imported into a scratch database `ledger_bench` (dropped at the end): the import, two
full rebuilds and an incremental refresh after one edit, with the slowest steps.

    FOLIO_PG_PORT=54336 .venv/bin/python bench/ledger_rebuild.py 2000

Not yet part of `make bench` (no baseline).
"""

import json
import random
import sys
import time

import psycopg

from foliodb import config, migrate, models

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
base = config.database_url()
admin = psycopg.connect(base, autocommit=True)
admin.execute("drop database if exists ledger_bench")
admin.execute("create database ledger_bench")
url = psycopg.conninfo.make_conninfo(base, dbname="ledger_bench")
migrate.prepare(url)
models.install(url)
rng = random.Random(15)
with psycopg.connect(url, autocommit=True) as conn:
    sessions = [
        r[0]
        for r in conn.execute(
            "select session_date from market.trading_days where calendar = 'XNYS'"
            " and session_date between '2017-01-03' and '2024-12-31' order by session_date"
        )
    ]
    symbols = [f"S{i:02d}" for i in range(20)] + ["^GSPC"]
    with conn.cursor() as cur:
        for s in symbols:
            cur.execute(
                "insert into market.symbols (symbol) values (%s) on conflict do nothing", [s]
            )
        with cur.copy("copy market.prices (symbol, price_date, close, source) from stdin") as copy:
            for s in symbols:
                p = 100.0
                for d in sessions:
                    p *= 1 + rng.gauss(0.0003, 0.01)
                    copy.write_row([s, d, round(p, 4), "csv"])
    rows, held = [], {s: 0 for s in symbols[:-1]}
    days = sorted(rng.sample(sessions, N))
    for i, d in enumerate(days):
        s = rng.choice(symbols[:-1])
        r = rng.random()
        if i % 50 == 0:
            row = {"activity_type": "DEPOSIT", "amount": "5000"}
        elif r < 0.55 or held[s] == 0:
            q = rng.randint(1, 20)
            held[s] += q
            row = {
                "activity_type": "BUY",
                "symbol": s,
                "quantity": str(q),
                "unit_price": "100",
                "fee": "1",
            }
        elif r < 0.8:
            q = rng.randint(1, held[s])
            held[s] -= q
            row = {"activity_type": "SELL", "symbol": s, "quantity": str(q), "unit_price": "105"}
        elif r < 0.95:
            row = {"activity_type": "DIVIDEND", "symbol": s, "amount": "3.5"}
        else:
            row = {"activity_type": "FEE", "amount": "2"}
        rows.append({"activity_date": str(d), "line": str(i + 2), **row})
    t = time.perf_counter()
    conn.execute(
        "select * from core.import_activities('bench@example.com', 'bench', %s::jsonb)",
        [json.dumps(rows)],
    )
    print(f"import of {N} activities: {time.perf_counter() - t:.2f} s")

    def run(mode):
        run_id = conn.execute("call ops.refresh(%s, null, null)", [mode]).fetchone()[0]
        st, ms = conn.execute(
            "select status, extract(epoch from finished_at - started_at) * 1000 from ops.runs where run_id = %s",
            [run_id],
        ).fetchone()
        return st, float(ms)

    print("full rebuild:", run("full"))
    print("full rebuild again:", run("full"))
    for row in conn.execute(
        "select step, duration_ms from ops.run_steps where run_id = (select max(run_id) from ops.runs where kind = 'refresh') order by duration_ms desc limit 6"
    ):
        print("  step", row)
    conn.execute(
        "select * from core.import_activities('bench@example.com', 'bench', %s::jsonb)",
        [
            json.dumps(
                [
                    {
                        "activity_date": "2024-06-03",
                        "activity_type": "FEE",
                        "amount": "1",
                        "line": "2",
                    }
                ]
            )
        ],
    )
    print("incremental after one edit (2024-06-03):", run("incremental"))
    for row in conn.execute(
        "select step, duration_ms from ops.run_steps where run_id = (select max(run_id) from ops.runs where kind = 'refresh') order by duration_ms desc limit 6"
    ):
        print("  step", row)
    n = conn.execute("select count(*) from analytics.fct_portfolio_snapshots").fetchone()[0]
    print("snapshots:", n)
admin.execute("drop database ledger_bench")
