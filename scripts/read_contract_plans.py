"""Regenerate docs/read_contract_plans.md: the read contract's plans on a bench dataset.

    .venv/bin/python scripts/read_contract_plans.py DBNAME > docs/read_contract_plans.md

Each query runs as a trusted app backend would: `set role folio_app` (a superuser login takes
it) and `set local foliodb.user_id` to the owner of portfolio 42, so the row-level security
policies are in the plans.
"""

from __future__ import annotations

import sys

import psycopg

from foliodb import config

QUERIES = [
    "select * from app.portfolio_dashboard where portfolio_id = 42",
    "select point_no, point_date, value, cum_return, benchmark_cum_return from app.chart_points"
    " where portfolio_id = 42 and period = '1Y' order by point_no",
    "select rank, portfolio_id, portfolio_name, period_twr, relative_return, percentile"
    " from app.leaderboards where period = '1Y' and is_ranked order by rank limit 20",
    "select * from app.run_status where kind = 'refresh'",
]

HEADER = """# The read contract: plans

Each `app` relation is one indexed lookup, with the row-level security policies in the plan.
Plans below were captured by `scripts/read_contract_plans.py`: as the trusted app backend
(`set role folio_app; set local foliodb.user_id = <owner of portfolio 42>`), `explain (analyze,
costs off, summary on) …` on generated data (`bench/datagen.py` scale `small`: {portfolios:,}
portfolios, {snapshots:,} snapshot rows, {charts:,} chart rows), after a full refresh.
`tests/test_serving.py::test_each_contract_relation_is_an_indexed_lookup` checks on every test
run that none of these reads needs a sequential scan of a mart, of the snapshots, of
core.portfolios or of ops.runs (the tiny ops tables of a fresh dataset — settings, the queues,
a run or two — are read by sequential scan here: a handful of rows). The policies of
core.portfolios, analytics.fct_chart_caches and analytics.fct_leaderboards are a column test
(`is_public or $n or user_id = $m`: the portfolio's visibility carried on the row) whose two
InitPlans say who the session acts for (`app.acts_for_everyone()`, answered from the setting
alone when a user is set, then `app.acting_user_id()`), evaluated at most once per query and
only when a row read is not public; the leaderboard's index scan keeps its (period, rank) order,
so the top 20 are read and no sort is needed. The other tables' policy (the snapshots) adds one
primary-key lookup of the portfolio per row read (`(select true from core.portfolios …)`,
itself filtered by the portfolio policy): the dashboard's one snapshot row. The dashboard's
count of stale prices reads the positions only when the snapshot says a close is older than
the limit (a one-time filter): the positions' policy is not run for a portfolio whose prices
are fresh.
"""


def main(dbname: str) -> None:
    with psycopg.connect(config.with_dbname(config.database_url(), dbname)) as conn:
        counts = conn.execute(
            "select (select count(*) from core.portfolios),"
            " (select count(*) from analytics.fct_portfolio_snapshots),"
            " (select count(*) from analytics.fct_chart_caches)"
        ).fetchone()
        owner = conn.execute(
            "select user_id from core.portfolios where portfolio_id = 42"
        ).fetchone()
        print(HEADER.format(portfolios=counts[0], snapshots=counts[1], charts=counts[2]))
        for query in QUERIES:
            with conn.transaction():
                conn.execute("set local role folio_app")
                conn.execute("select set_config('foliodb.user_id', %s, true)", [str(owner[0])])
                conn.execute(query)  # warm
                plan = conn.execute(f"explain (analyze, costs off, summary on) {query}").fetchall()
            print(f"## `{query}`\n")
            print("```")
            for (line,) in plan:
                print(line)
            print("```\n")


if __name__ == "__main__":
    main(sys.argv[1])
