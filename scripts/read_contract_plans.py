"""Regenerate docs/read_contract_plans.md: the read contract's plans on a bench dataset.

    .venv/bin/python scripts/read_contract_plans.py DBNAME > docs/read_contract_plans.md

Each query runs as a trusted app backend would: `set role folio_app` (a superuser login takes
it) and `set local foliodb.user_id` to the owner of the portfolio read (42, or the first with
an activities ledger), so the row-level security policies are in the plans.
"""

from __future__ import annotations

import sys

import psycopg

from foliodb import config

# {pid}: portfolio 42; {ledger}: the first portfolio with an activities ledger
QUERIES = [
    "select * from app.portfolio_dashboard where portfolio_id = {pid}",
    "select point_no, point_date, value, cum_return, benchmark_cum_return from app.chart_points"
    " where portfolio_id = {pid} and period = '1Y' order by point_no",
    "select rank, portfolio_id, portfolio_name, period_twr, relative_return, percentile"
    " from app.leaderboards where period = '1Y' and is_ranked order by rank limit 20",
    "select * from app.run_status where kind = 'refresh'",
    "select * from app.holdings where portfolio_id = {ledger} order by market_value desc",
    "select currency, balance, fx_rule, market_value from app.cash_balances"
    " where portfolio_id = {ledger} order by currency",
    "select * from app.activities where portfolio_id = {ledger}"
    " order by activity_date, activity_id",
]

HEADER = """# The read contract: plans

Each `app` relation is one indexed lookup, with the row-level security policies in the plan.
Plans below were captured by `scripts/read_contract_plans.py`: as the trusted app backend
(`set role folio_app; set local foliodb.user_id = <owner of the portfolio>`), `explain (analyze,
costs off, summary on) …` on generated data (`bench/datagen.py` scale `small` with the bench's
ledgers (and foreign holdings in an `fx20_` dataset), `{dbname}`: {portfolios:,} portfolios, {snapshots:,} snapshot rows,
{charts:,} chart rows, {activities:,} activities), after a full refresh. The holdings, cash
balances and activities are read for portfolio {ledger}, the first with an activities ledger.
`tests/test_serving.py::test_each_contract_relation_is_an_indexed_lookup` checks on every test
run that none of these reads needs a sequential scan of a mart, of the snapshots, of
core.portfolios or of ops.runs (the tiny ops tables of a fresh dataset — settings, the queues,
a run or two — are read by sequential scan here: a handful of rows). The policies of
core.portfolios, analytics.fct_chart_caches, analytics.fct_chart_series and
analytics.fct_leaderboards are a column test
(`is_public or $n or user_id = $m`: the portfolio's visibility carried on the row) whose two
InitPlans say who the session acts for (`app.acts_for_everyone()`, answered from the setting
alone when a user is set, then `app.acting_user_id()`), evaluated at most once per query and
only when a row read is not public; a chart reads its chart row and its portfolio's series,
one primary-key lookup each, and slices its points from their arrays; the leaderboard's index scan keeps its (period, rank) order,
so the top 20 are read and no sort is needed. The other tables' policy (the snapshots, the
holdings, the cash balances, the activities) adds one primary-key lookup of the portfolio per
row read (`(select true from core.portfolios …)`, itself filtered by the portfolio policy): the
dashboard's one snapshot row, a holding, a currency or an activity of the ledger read. The dashboard's
count of stale prices reads the positions only when the snapshot says a close is older than
the limit (a one-time filter): the positions' policy is not run for a portfolio whose prices
are fresh.
"""


def main(dbname: str) -> None:
    with psycopg.connect(config.with_dbname(config.database_url(), dbname)) as conn:
        counts = conn.execute(
            "select (select count(*) from core.portfolios),"
            " (select count(*) from analytics.fct_portfolio_snapshots),"
            " (select count(*) from analytics.fct_chart_caches),"
            " (select count(*) from core.activities),"
            " (select min(portfolio_id) from core.activities)"
        ).fetchone()
        owners = dict(
            conn.execute(
                "select portfolio_id, user_id from core.portfolios where portfolio_id = any(%s)",
                [[42, counts[4]]],
            ).fetchall()
        )
        print(
            HEADER.format(
                dbname=dbname,
                portfolios=counts[0],
                snapshots=counts[1],
                charts=counts[2],
                activities=counts[3],
                ledger=counts[4],
            )
        )
        for template in QUERIES:
            query = template.format(pid=42, ledger=counts[4])
            owner = owners[counts[4] if "{ledger}" in template else 42]
            with conn.transaction():
                conn.execute("set local role folio_app")
                conn.execute("select set_config('foliodb.user_id', %s, true)", [str(owner)])
                conn.execute(query)  # warm
                plan = conn.execute(f"explain (analyze, costs off, summary on) {query}").fetchall()
            print(f"## `{query}`\n")
            print("```")
            for (line,) in plan:
                print(line)
            print("```\n")


if __name__ == "__main__":
    main(sys.argv[1])
