{{
    config(
        materialized='view',
        schema='app',
        grants={'select': ['folio_reader']},
        post_hook=["alter view {{ this }} set (security_invoker = true)"],
    )
}}
-- Read contract: the leaderboard of a period, ranked portfolios first, then the excluded ones
-- with their reason. Read it with `where period = $1 order by rank limit $2`: an index scan
-- of (period, rank) that stops after the first $2 rows, no sort.
-- One select, no import CTEs (unlike the other models, on purpose): PostgreSQL plans a view
-- whose query has a WITH list as a subquery of the app's query, and the app's
-- `order by rank limit 20` then sorts the whole period; a plain select is merged into the
-- app's query, so the index order serves it. The row-level security policy is a column test
-- (is_public, user_id carried on the table) that keeps that order.
select
    leaderboards.period,
    leaderboards.rank,
    leaderboards.portfolio_id,
    leaderboards.portfolio_name,
    leaderboards.period_twr,
    leaderboards.benchmark_return,
    leaderboards.relative_return,
    leaderboards.percentile,
    leaderboards.n_ranked,
    leaderboards.is_ranked,
    leaderboards.exclusion_reason,
    leaderboards.start_date,
    leaderboards.end_date as as_of
from {{ ref('fct_leaderboards') }} as leaderboards
