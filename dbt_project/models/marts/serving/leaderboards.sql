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
-- of (period, rank).
with leaderboards as (
    select * from {{ ref('fct_leaderboards') }}
),

final as (
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
    from leaderboards
)

select * from final
