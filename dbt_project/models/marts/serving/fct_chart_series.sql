{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'end_idx'],
        refresh_scope='portfolios_from_session',
        refresh_session_column='end_idx',
        refresh_keep='chart_series_is_latest',
        post_hook=[
            "alter table {{ this }}
                alter column series_dates set storage external,
                alter column series_values set storage external,
                alter column series_cum_twrs set storage external,
                alter column series_benchmark_closes set storage external",
        ],
    )
}}
{%- set max_points = var('chart_max_points') %}
-- One row per portfolio per END it was computed at: its last (at most chart_max_points, 260)
-- sessions up to END, unrebased, as four parallel arrays on the session grid (the element at
-- position p is session series_idx + p - 1; snapshots have a row for every session). Every
-- chart's tail is a slice of the row of its END: the whole chart of a period of at most 260
-- sessions (1D … 1Y), and the recent sessions (and the step-th sessions after a stored head)
-- of a thinned one (5Y, MAX). app.chart_points slices it from the chart row's bounds and
-- rebases the returns on the chart's START, so a refresh writes one series per portfolio, not
-- one point set per period (docs/semantics.md, "Chart caches").
--
-- A night appends: the refresh keeps a portfolio's latest row when the scope starts after its
-- END (refresh_keep chart_series_is_latest; the delete drops the rows the scope reaches and
-- those a newer row replaced), and the new row is the kept one's arrays without their first
-- sessions followed by the new sessions' snapshots (one, a night): about 1 snapshot row read
-- per portfolio instead of 260. A scope that reaches inside the stored window (an edit, a
-- corrected price, a full refresh) deletes the row, which is rebuilt from the snapshots. The
-- kept row stays until the next refresh of its portfolio deletes it (readers look the series
-- up by (portfolio_id, end_idx), the chart rows' END); a kept row already at END is the new one.
--
-- The last 260 sessions cover every slice: a chart of n <= 260 sessions starts at or after
-- END - 259; a thinned chart's recent sessions are the last month's, and a stored head is kept
-- only while its chart's END is at most 259 sessions after its until_idx (chart_head_is_current).
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

-- the portfolio's latest row that survived this refresh's delete: its END is before the
-- scope's first session, so its sessions' snapshots are as they were when it was computed
kept_series as (
    select * from {{ this }}
),

-- each portfolio's last 260 sessions (all of them when it has fewer): its MAX chart runs from
-- its first session to END. Those of a kept row come from it: only the sessions after its END
-- are read from the snapshots (from_idx). A kept row at END is the portfolio's row already.
series_ranges as (
    select
        portfolio_periods.portfolio_id,
        greatest(portfolio_periods.start_idx, portfolio_periods.end_idx - ({{ max_points }} - 1)) as series_idx,
        portfolio_periods.end_idx,
        kept_series.series_idx as kept_idx,
        greatest(
            portfolio_periods.start_idx,
            portfolio_periods.end_idx - ({{ max_points }} - 1),
            kept_series.end_idx + 1
        ) as from_idx,
        kept_series.series_dates as kept_dates,
        kept_series.series_values as kept_values,
        kept_series.series_cum_twrs as kept_cum_twrs,
        kept_series.series_benchmark_closes as kept_benchmark_closes
    from portfolio_periods
    inner join scopes on portfolio_periods.portfolio_id = scopes.portfolio_id
    left join kept_series on portfolio_periods.portfolio_id = kept_series.portfolio_id
    where
        portfolio_periods.period = 'MAX'
        and (kept_series.portfolio_id is null or kept_series.end_idx < portfolio_periods.end_idx)
),

-- the kept row's sessions from series_idx on (none without a kept row), then one range scan
-- of the snapshots key per portfolio from from_idx
series as (
    select
        series_ranges.portfolio_id,
        series_ranges.series_idx,
        series_ranges.end_idx,
        coalesce(series_ranges.kept_dates[series_ranges.series_idx - series_ranges.kept_idx + 1:], '{}')
        || points.series_dates as series_dates,
        coalesce(series_ranges.kept_values[series_ranges.series_idx - series_ranges.kept_idx + 1:], '{}')
        || points.series_values as series_values,
        coalesce(series_ranges.kept_cum_twrs[series_ranges.series_idx - series_ranges.kept_idx + 1:], '{}')
        || points.series_cum_twrs as series_cum_twrs,
        coalesce(
            series_ranges.kept_benchmark_closes[series_ranges.series_idx - series_ranges.kept_idx + 1:], '{}'
        )
        || points.series_benchmark_closes as series_benchmark_closes
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
                and snapshots.session_idx between series_ranges.from_idx and series_ranges.end_idx
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
