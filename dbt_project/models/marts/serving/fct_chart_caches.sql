{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'period'],
        delete_using='ops.refresh_scope as scope',
        delete_where='target.portfolio_id = scope.portfolio_id',
        post_hook=[
            "alter table {{ this }}
                alter column point_dates set storage external,
                alter column point_values set storage external,
                alter column point_cum_returns set storage external,
                alter column point_benchmark_cum_returns set storage external",
        ],
    )
}}
-- One row per portfolio per chart period (1D … MAX): the period's returns against the
-- benchmark and its points, thinned to at most 260, as four parallel arrays (an app reads a
-- whole chart with one primary-key lookup). Definitions: docs/semantics.md, "Chart caches".
-- Recomputed only for the portfolios of the refresh's scope. The point arrays are stored out of
-- line uncompressed (storage external): dates and floats barely compress, and trying costs a
-- rebuild more than writing the few extra bytes.
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

calendar_dates as (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

trading_days as (
    select * from {{ ref('stg_market__trading_days') }}
),

-- the last session of the calendar that has closed when the refresh runs
last_closed as (
    select max(trading_days.session_date) as session_date
    from trading_days
    inner join refresh_windows on trading_days.calendar = refresh_windows.calendar
    where trading_days.close_at <= now()
),

-- the period's two ends, with the snapshot rows at START and END
bounds as (
    select
        portfolio_periods.portfolio_id,
        portfolio_periods.period,
        portfolio_periods.period_order,
        portfolio_periods.start_idx,
        portfolio_periods.start_date,
        portfolio_periods.end_idx,
        portfolio_periods.end_date,
        portfolio_periods.is_partial,
        portfolio_periods.end_idx - portfolio_periods.start_idx + 1 as n_sessions,
        start_snapshots.market_value as start_value,
        start_snapshots.cum_twr as start_twr,
        start_snapshots.benchmark_close as start_benchmark_close,
        end_snapshots.market_value as end_value,
        end_snapshots.cum_twr as end_twr,
        end_snapshots.benchmark_close as end_benchmark_close,
        end_snapshots.benchmark_symbol,
        end_snapshots.positions_held = 0 as is_closed,
        -- first session after END's date minus one month (the "recent" sessions), after START
        greatest(
            coalesce(recent_start.session_idx, portfolio_periods.start_idx + 1),
            portfolio_periods.start_idx + 1
        ) as recent_idx
    from portfolio_periods
    inner join scopes on portfolio_periods.portfolio_id = scopes.portfolio_id
    inner join snapshots as start_snapshots
        on
            portfolio_periods.portfolio_id = start_snapshots.portfolio_id
            and portfolio_periods.start_idx = start_snapshots.session_idx
    inner join snapshots as end_snapshots
        on
            portfolio_periods.portfolio_id = end_snapshots.portfolio_id
            and portfolio_periods.end_idx = end_snapshots.session_idx
    left join calendar_dates as recent_start
        on recent_start.calendar_date = (portfolio_periods.end_date - interval '1 month')::date + 1
),

-- thinning (more than 260 sessions): keep START, END and the recent sessions; number the
-- others 0, 1, … from START + 1 and keep every step-th, step = ceil(others / (258 - recent))
-- (materialized: each chart's bounds and step computed once, before its points are read)
thinning as materialized (
    select
        bounds.*,
        greatest(
            ceil(
                greatest(least(bounds.recent_idx, bounds.end_idx) - (bounds.start_idx + 1), 0)::numeric
                / greatest(258 - (bounds.end_idx - bounds.recent_idx), 1)
            )::integer,
            1
        ) as step
    from bounds
),

-- the kept points of each chart, read with one range scan of the snapshots key per chart
-- in session order; kept: START, the recent sessions, every step-th other. The arrays take
-- the points in the order the ordered subquery yields them (the key's order, no sort): an
-- aggregate's own `order by` would sort each array again, four sorts per chart.
-- (carrying each chart's bounds along: joined back to them, the charts would be sorted, arrays
-- and all)
chart_points as (
    select
        thinning.*,
        kept.n_points,
        kept.point_dates,
        kept.point_values,
        kept.point_cum_returns,
        kept.point_benchmark_cum_returns
    from thinning
    cross join lateral (
        select
            count(*) as n_points,
            array_agg(points.session_date) as point_dates,
            array_agg(points.market_value) as point_values,
            array_agg((1 + points.cum_twr) / nullif(1 + thinning.start_twr, 0) - 1) as point_cum_returns,
            array_agg(
                (points.benchmark_close / nullif(thinning.start_benchmark_close, 0))::float8 - 1
            ) as point_benchmark_cum_returns
        -- noqa: ST05
        from (
            select
                snapshots.session_idx,
                snapshots.session_date,
                snapshots.market_value,
                snapshots.cum_twr,
                snapshots.benchmark_close
            from snapshots
            where
                snapshots.portfolio_id = thinning.portfolio_id
                and snapshots.session_idx between thinning.start_idx and thinning.end_idx
                and (
                    thinning.n_sessions <= 260
                    or snapshots.session_idx = thinning.start_idx
                    or snapshots.session_idx >= thinning.recent_idx
                    or (snapshots.session_idx - thinning.start_idx - 1) % thinning.step = 0
                )
            order by snapshots.session_idx asc
        ) as points
    ) as kept
),

returns as (
    select
        chart_points.*,
        (1 + chart_points.end_twr) / nullif(1 + chart_points.start_twr, 0) - 1 as period_twr,
        (chart_points.end_benchmark_close / nullif(chart_points.start_benchmark_close, 0))::float8 - 1
            as benchmark_return
    from chart_points
),

final as (
    select
        returns.portfolio_id,
        returns.period,
        returns.period_order,
        returns.start_idx,
        returns.start_date,
        returns.end_idx,
        returns.end_date,
        returns.start_value,
        returns.end_value,
        returns.period_twr,
        returns.benchmark_symbol,
        returns.benchmark_return,
        returns.period_twr - returns.benchmark_return as excess_return,
        returns.is_partial,
        returns.n_sessions,
        returns.n_points,
        returns.end_date as as_of,
        returns.is_closed,
        -- open, and behind the last closed session (a closed portfolio cannot get newer)
        not returns.is_closed and returns.end_date < last_closed.session_date as is_stale,
        returns.point_dates,
        returns.point_values,
        returns.point_cum_returns,
        returns.point_benchmark_cum_returns,
        refresh_windows.run_id as computed_by_run
    from returns
    cross join last_closed
    cross join refresh_windows
)

select * from final
