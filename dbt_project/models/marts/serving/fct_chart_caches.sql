{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'period'],
        refresh_scope='portfolios',
        post_hook=[
            "alter table {{ this }}
                alter column head_dates set storage external,
                alter column head_values set storage external,
                alter column head_cum_returns set storage external,
                alter column head_benchmark_cum_returns set storage external",
        ],
    )
}}
-- One row per portfolio per chart period (1D … MAX): the period's returns against the
-- benchmark and what its points, thinned to at most 260, are made of. Definitions:
-- docs/semantics.md, "Chart caches". A chart's points are its head (stored here, as four
-- parallel arrays: empty unless the chart is thinned) followed by its tail, the sessions
-- tail_idx … END, which app.chart_points slices from the portfolio's series
-- (fct_chart_series) and rebases on START (start_cum_twr, start_benchmark_close): a refresh
-- writes the points of a period of at most 260 sessions once per portfolio, not once per
-- period, and an app still reads a whole chart with one primary-key lookup of each table.
-- Recomputed only for the portfolios of the refresh's scope. The head arrays are stored out of
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

-- not materialized: the heads of the thinned charts (5Y and MAX start together when the
-- portfolio is younger than 5 years: one head for both), as int_chart_heads kept them, looked
-- up by their key (portfolio, START, step)
chart_heads as not materialized (
    select * from {{ ref('int_chart_heads') }}
),

-- not materialized: each portfolio's last (at most 260) sessions, written by this refresh
-- before this step, looked up by key (the portfolio and END) for the thinned charts only
series as not materialized (
    select * from {{ ref('fct_chart_series') }}
),

-- not materialized: the scope's portfolios, by key. Read in this statement (the insert), so
-- the visibility carried below is the one committed when the rows are written
portfolios as not materialized (
    select * from {{ ref('stg_core__portfolios') }}
),

-- the last session of the calendar that has closed when the refresh runs
last_closed as (
    select max(closed.session_date) as session_date
    from refresh_windows
    cross join lateral market.last_closed_session(refresh_windows.calendar) as closed
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
        start_snapshots.benchmark_close_local as start_benchmark_close_local,
        end_snapshots.benchmark_close_local as end_benchmark_close_local,
        start_snapshots.cum_price_return as start_price_return,
        start_snapshots.cum_currency_return as start_currency_return,
        start_snapshots.cum_income_return as start_income_return,
        start_snapshots.cum_cost_return as start_cost_return,
        end_snapshots.cum_price_return as end_price_return,
        end_snapshots.cum_currency_return as end_currency_return,
        end_snapshots.cum_income_return as end_income_return,
        end_snapshots.cum_cost_return as end_cost_return,
        end_snapshots.market_value as end_value,
        end_snapshots.cum_twr as end_twr,
        end_snapshots.benchmark_close as end_benchmark_close,
        end_snapshots.benchmark_symbol,
        end_snapshots.positions_held = 0 as is_closed,
        -- first session after END's date minus one month (the "recent" sessions), after START
        {{ chart_recent_idx('recent_start.session_idx', 'portfolio_periods.start_idx') }} as recent_idx
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
-- others 0, 1, … from START + 1 and keep every step-th (macros/chart_thinning.sql)
-- (materialized: each chart's bounds and step computed once, before its points are read).
-- A chart's points are a head — START and the step-th sessions before the recent ones, only
-- when thinned — and a tail: every session from tail_idx (START, else the first recent one)
-- to END, at most 260 of them.
thinning as materialized (
    select
        bounds.*,
        {{ chart_thinning_step('bounds.start_idx', 'bounds.end_idx', 'bounds.recent_idx') }} as step,
        case when bounds.n_sessions <= {{ var('chart_max_points') }} then bounds.start_idx else bounds.recent_idx end as tail_idx
    from bounds
),

-- Charts that start at the same session have the same points (their END is the portfolio's;
-- a portfolio younger than a year has the same 1Y, 5Y and MAX chart): the heads are built
-- once per START.
chart_starts as (
    select distinct
        thinning.portfolio_id,
        thinning.start_idx,
        thinning.tail_idx,
        thinning.end_idx,
        thinning.recent_idx,
        thinning.step,
        thinning.n_sessions > {{ var('chart_max_points') }} as is_thinned,
        thinning.start_twr,
        thinning.start_benchmark_close
    from thinning
),

-- each START's head, the points before its tail: none unless thinned; else the one
-- int_chart_heads kept (the kept sessions before its until_idx, looked up by its key),
-- completed up to the recent sessions with the step-th sessions from until_idx (the first one:
-- START + 1 + step * ceil((until_idx - START - 1) / step)) before recent_idx, picked from the
-- portfolio's series (fct_chart_series) in one pass over its slice (unnest yields the elements
-- in order) and rebased on START like the head. The tail (tail_idx … END) is not stored here:
-- app.chart_points slices it from the series. (Joined by key here, not as a CTE of heads: the
-- planner cannot estimate a CTE's rows and joined the heads to the starts by a nested loop,
-- every start against every head.)
start_points as materialized (
    select
        chart_starts.portfolio_id,
        chart_starts.start_idx,
        coalesce(chart_heads.head_points + continued.n_points, 0) + chart_starts.end_idx - chart_starts.tail_idx + 1
            as n_points,
        case
            when chart_heads.portfolio_id is null then '{}'
            else chart_heads.head_dates || coalesce(continued.point_dates, '{}')
        end as head_dates,
        case
            when chart_heads.portfolio_id is null then '{}'
            else chart_heads.head_values || coalesce(continued.point_values, '{}')
        end as head_values,
        case
            when chart_heads.portfolio_id is null then '{}'
            else chart_heads.head_cum_returns || coalesce(continued.point_cum_returns, '{}')
        end as head_cum_returns,
        case
            when chart_heads.portfolio_id is null then '{}'
            else chart_heads.head_benchmark_cum_returns || coalesce(continued.point_benchmark_cum_returns, '{}')
        end as head_benchmark_cum_returns
    from chart_starts
    left join chart_heads
        on
            chart_starts.is_thinned
            and chart_starts.portfolio_id = chart_heads.portfolio_id
            and chart_starts.start_idx = chart_heads.start_idx
            and chart_starts.step = chart_heads.step
    left join series
        on
            chart_heads.portfolio_id is not null
            and chart_starts.portfolio_id = series.portfolio_id
            and chart_starts.end_idx = series.end_idx
    -- the continuation's first and last session as positions in the series
    cross join
        lateral (  -- noqa: ST05
            select
                chart_heads.start_idx + 1 - series.series_idx + 1
                + chart_heads.step
                * ((chart_heads.until_idx - chart_heads.start_idx - 2 + chart_heads.step) / chart_heads.step)
                    as first_pos,
                chart_starts.recent_idx - 1 - series.series_idx + 1 as last_pos
        ) as continuation
    cross join lateral (
        select
            count(*) as n_points,
            array_agg(picked.session_date) as point_dates,
            array_agg(picked.market_value) as point_values,
            array_agg((1 + picked.cum_twr) / nullif(1 + chart_starts.start_twr, 0) - 1) as point_cum_returns,
            array_agg(
                (picked.benchmark_close / nullif(chart_starts.start_benchmark_close, 0))::float8 - 1
            ) as point_benchmark_cum_returns
        from
            unnest(
                series.series_dates[continuation.first_pos:continuation.last_pos],
                series.series_values[continuation.first_pos:continuation.last_pos],
                series.series_cum_twrs[continuation.first_pos:continuation.last_pos],
                series.series_benchmark_closes[continuation.first_pos:continuation.last_pos]
            ) with ordinality as picked (session_date, market_value, cum_twr, benchmark_close, pos)
        where (picked.pos - 1) % chart_heads.step = 0
    ) as continued
),

chart_points as (
    select
        thinning.*,
        start_points.n_points,
        start_points.head_dates,
        start_points.head_values,
        start_points.head_cum_returns,
        start_points.head_benchmark_cum_returns
    from thinning
    inner join start_points
        on
            thinning.portfolio_id = start_points.portfolio_id
            and thinning.start_idx = start_points.start_idx
),

returns as (
    select
        chart_points.*,
        (1 + chart_points.end_twr) / nullif(1 + chart_points.start_twr, 0) - 1 as period_twr,
        (chart_points.end_benchmark_close / nullif(chart_points.start_benchmark_close, 0))::float8 - 1
            as benchmark_return,
        -- the benchmark in its own currency, beside it
        (chart_points.end_benchmark_close_local / nullif(chart_points.start_benchmark_close_local, 0))::float8 - 1
            as benchmark_return_local,
        -- period_twr in parts: each part's contribution to cum_twr over the period, rebased on
        -- START (docs/semantics.md, "Chart caches"); the four sum to period_twr
        (chart_points.end_price_return - chart_points.start_price_return) / nullif(1 + chart_points.start_twr, 0)
            as price_return,
        (chart_points.end_currency_return - chart_points.start_currency_return)
        / nullif(1 + chart_points.start_twr, 0) as currency_return,
        (chart_points.end_income_return - chart_points.start_income_return) / nullif(1 + chart_points.start_twr, 0)
            as income_return,
        (chart_points.end_cost_return - chart_points.start_cost_return) / nullif(1 + chart_points.start_twr, 0)
            as cost_return
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
        -- the chart's points: its head, then the series from tail_idx to END, rebased on
        -- START (app.chart_points)
        returns.tail_idx,
        returns.start_twr as start_cum_twr,
        returns.start_benchmark_close,
        returns.head_dates,
        returns.head_values,
        returns.head_cum_returns,
        returns.head_benchmark_cum_returns,
        refresh_windows.run_id as computed_by_run,
        -- what the row-level security policy tests (sql/routines/90_grants.sql)
        portfolios.user_id,
        portfolios.is_public,
        returns.price_return,
        returns.currency_return,
        returns.income_return,
        returns.cost_return,
        returns.benchmark_return_local
    from returns
    inner join portfolios on returns.portfolio_id = portfolios.portfolio_id
    cross join last_closed
    cross join refresh_windows
)

select * from final
