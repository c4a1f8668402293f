{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'period'],
        refresh_scope='reranking',
        indexes=[{'columns': ['period', 'rank']}],
    )
}}
-- One row per period per public portfolio: ranked by the period's TWR, or listed as excluded
-- with the reason. Re-ranked whole, set-based (a rank depends on every portfolio), when the
-- refresh's scope has a public portfolio or one listed before (made private, renamed, deleted;
-- ops.open_window decides, refresh_windows.is_reranking): the delete above then empties the
-- table. Otherwise no listed value can have changed and the table is kept as it is: the rows
-- below are written only into an empty table.
-- Definitions: docs/semantics.md, "Leaderboards".
with chart_caches as (
    select * from {{ ref('fct_chart_caches') }}
),

-- not materialized: the scope's portfolios are looked up by key
portfolios as not materialized (
    select * from {{ ref('stg_core__portfolios') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

-- public portfolios; a partial chart (for MAX: fewer than 21 sessions) is not ranked
candidates as (
    select
        chart_caches.period,
        chart_caches.period_order,
        chart_caches.portfolio_id,
        portfolios.portfolio_name,
        portfolios.user_id,
        portfolios.is_public,
        chart_caches.period_twr,
        chart_caches.benchmark_return,
        chart_caches.start_date,
        chart_caches.end_date,
        chart_caches.n_sessions,
        case
            when chart_caches.is_partial then 'history shorter than period'
            when chart_caches.period = 'MAX' and chart_caches.n_sessions < 21 then 'history shorter than period'
            when chart_caches.period_twr is null then 'no return for the period'
        end as exclusion_reason
    from chart_caches
    inner join portfolios on chart_caches.portfolio_id = portfolios.portfolio_id
    where portfolios.is_public
),

-- competition rank (1, 2, 2, 4) with a tolerance: a portfolio's rank is 1 + the number of
-- portfolios whose return is at least rank_tie_tolerance higher, so returns closer than the
-- tolerance share a rank and float noise never orders them. Measured in tolerances, those are
-- the rows at least 1 before it in descending order (a frame offset must be a constant).
-- percentile = 100 × the share of the other ranked portfolios that do not rank above it
-- (tied leaders: 100; a single one: 100).
ranked as (
    select
        candidates.period,
        candidates.portfolio_id,
        1 + count(*) over (
            partition by candidates.period
            order by candidates.period_twr / factor_settings.rank_tie_tolerance desc
            range between unbounded preceding and 1 preceding
        ) as rank,
        count(*) over (partition by candidates.period) as n_ranked
    from candidates
    cross join factor_settings
    where candidates.exclusion_reason is null
),

final as (
    select
        candidates.period,
        candidates.portfolio_id,
        candidates.period_order,
        candidates.portfolio_name,
        ranked.rank is not null as is_ranked,
        ranked.rank,
        ranked.n_ranked,
        case
            when ranked.n_ranked = 1 then 100
            else 100 * (ranked.n_ranked - ranked.rank)::float8 / (ranked.n_ranked - 1)
        end as percentile,
        candidates.period_twr,
        candidates.benchmark_return,
        candidates.period_twr - candidates.benchmark_return as relative_return,
        candidates.exclusion_reason,
        candidates.start_date,
        candidates.end_date,
        candidates.n_sessions,
        refresh_windows.run_id as computed_by_run,
        -- what the row-level security policy tests (sql/routines/90_grants.sql), as read by
        -- this statement (the insert)
        candidates.user_id,
        candidates.is_public
    from candidates
    left join ranked
        on
            candidates.period = ranked.period
            and candidates.portfolio_id = ranked.portfolio_id
    cross join refresh_windows
    -- re-ranking: the delete emptied the table. Otherwise look for a first row by the primary
    -- key (a probe, evaluated only then; a scan would first cross the rows the last rebuild
    -- deleted)
    where
        refresh_windows.is_reranking
        or (
            select listed.period from {{ this }} as listed
            order by listed.period asc, listed.portfolio_id asc
            limit 1
        ) is null
)

select * from final
