{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id'],
        refresh_scope='portfolios',
        post_hook=[
            "alter table {{ this }}
                alter column series_dates set storage external,
                alter column series_values set storage external,
                alter column series_cum_twrs set storage external,
                alter column series_benchmark_closes set storage external",
        ],
    )
}}
-- One row per portfolio: its last (at most 260) sessions, unrebased, as four parallel arrays
-- on the session grid (the element at position p is session series_idx + p - 1; snapshots have
-- a row for every session). Every chart's tail is a slice of it: the whole chart of a period
-- of at most 260 sessions (1D … 1Y), and the recent sessions (and the step-th sessions after
-- a stored head) of a thinned one (5Y, MAX). app.chart_points slices it from the chart row's
-- bounds and rebases the returns on the chart's START, so a refresh writes one series per
-- portfolio, not one point set per period (docs/semantics.md, "Chart caches").
--
-- The last 260 sessions cover every slice: a chart of n <= 260 sessions starts at or after
-- END - 259; a thinned chart's recent sessions are the last month's, and a stored head is kept
-- only while its chart ends at most 240 sessions after its until_idx (chart_head_is_current).
-- The market values are converted to numeric (what the read contract shows) here, once per
-- session: stored as float8 and cast by the view, a night's series step took 213 ms instead
-- of 364 ms (medians of 4 nights, 1k portfolios, load 2), but a 1Y chart read 0.36-0.60 ms
-- instead of 0.30-0.37 ms (0.27-0.36 ms before the series), and charts are read far more
-- often than a night writes them.
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

portfolio_periods as (
    select * from {{ ref('int_portfolio_periods') }}
),

-- not materialized: read through its (portfolio_id, session_idx) key, for the scope's
-- portfolios only, never scanned whole into a CTE
snapshots as not materialized (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

-- not materialized: the scope's portfolios, by key. Read in this statement (the insert), so
-- the visibility carried below is the one committed when the rows are written
portfolios as not materialized (
    select * from {{ ref('stg_core__portfolios') }}
),

-- each portfolio's last 260 sessions (all of them when it has fewer): its MAX chart runs from
-- its first session to END
series_ranges as (
    select
        portfolio_periods.portfolio_id,
        greatest(portfolio_periods.start_idx, portfolio_periods.end_idx - 259) as series_idx,
        portfolio_periods.end_idx
    from portfolio_periods
    inner join scopes on portfolio_periods.portfolio_id = scopes.portfolio_id
    where portfolio_periods.period = 'MAX'
),

-- one range scan of the snapshots key per portfolio
series as (
    select
        series_ranges.portfolio_id,
        series_ranges.series_idx,
        series_ranges.end_idx,
        points.series_dates,
        points.series_values,
        points.series_cum_twrs,
        points.series_benchmark_closes
    from series_ranges
    -- the arrays take the rows in the order the ordered subquery yields them (the key's order,
    -- no sort)
    cross join lateral (  -- noqa: ST05
        select
            array_agg(ordered.session_date) as series_dates,
            array_agg(ordered.market_value::numeric) as series_values,
            array_agg(ordered.cum_twr) as series_cum_twrs,
            array_agg(ordered.benchmark_close) as series_benchmark_closes
        -- noqa: ST05
        from (
            select
                snapshots.session_date,
                snapshots.market_value,
                snapshots.cum_twr,
                snapshots.benchmark_close
            from snapshots
            where
                snapshots.portfolio_id = series_ranges.portfolio_id
                and snapshots.session_idx between series_ranges.series_idx and series_ranges.end_idx
            order by snapshots.session_idx asc
        ) as ordered
    ) as points
),

final as (
    select
        series.portfolio_id,
        series.series_idx,
        series.end_idx,
        series.series_dates,
        series.series_values,
        series.series_cum_twrs,
        series.series_benchmark_closes,
        refresh_windows.run_id as computed_by_run,
        -- what the row-level security policy tests (sql/routines/90_grants.sql)
        portfolios.user_id,
        portfolios.is_public
    from series
    inner join portfolios on series.portfolio_id = portfolios.portfolio_id
    cross join refresh_windows
)

select * from final
