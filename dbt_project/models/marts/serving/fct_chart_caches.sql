{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'period'],
        refresh_scope='portfolios',
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

-- not materialized: the heads of the thinned charts (5Y and MAX start together when the
-- portfolio is younger than 5 years: one head for both), as int_chart_heads kept them, looked
-- up by their key (portfolio, START, step)
chart_heads as not materialized (
    select * from {{ ref('int_chart_heads') }}
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
        case when bounds.n_sessions <= 260 then bounds.start_idx else bounds.recent_idx end as tail_idx
    from bounds
),

-- Each portfolio's last sessions, from its earliest tail or head continuation to END, read
-- once (one range scan of the snapshots key, at most about 260 rows however long the
-- history): every chart's tail is a slice of these arrays (snapshots have a row for every
-- session, so session s sits at position s - series_idx + 1). The market values become
-- numeric here, once per session, not once per chart that shows them (the conversion is the
-- costliest part of a point).
series_ranges as (
    select
        thinning.portfolio_id,
        least(min(thinning.tail_idx), min(chart_heads.until_idx)) as series_idx,
        max(thinning.end_idx) as end_idx
    from thinning
    left join chart_heads
        on
            thinning.n_sessions > 260
            and thinning.portfolio_id = chart_heads.portfolio_id
            and thinning.start_idx = chart_heads.start_idx
            and thinning.step = chart_heads.step
    group by thinning.portfolio_id
),

series as (
    select
        series_ranges.portfolio_id,
        series_ranges.series_idx,
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

-- Charts that start at the same session have the same points (their END is the portfolio's;
-- a portfolio younger than a year has the same 1Y, 5Y and MAX chart): the points are built
-- once per START.
chart_starts as (
    select distinct
        thinning.portfolio_id,
        thinning.start_idx,
        thinning.tail_idx,
        thinning.end_idx,
        thinning.recent_idx,
        thinning.step,
        thinning.n_sessions > 260 as is_thinned,
        thinning.start_twr,
        thinning.start_benchmark_close
    from thinning
),

-- each START's tail: a slice of its portfolio's series
start_tails as (
    select
        chart_starts.portfolio_id,
        chart_starts.start_idx,
        chart_starts.recent_idx,
        chart_starts.step,
        chart_starts.is_thinned,
        chart_starts.start_twr,
        chart_starts.start_benchmark_close,
        series.series_idx,
        series.series_dates,
        series.series_values,
        series.series_cum_twrs,
        series.series_benchmark_closes,
        series.series_dates[chart_starts.tail_idx - series.series_idx + 1:chart_starts.end_idx - series.series_idx + 1]
            as tail_dates,
        series.series_values[chart_starts.tail_idx - series.series_idx + 1:chart_starts.end_idx - series.series_idx + 1]
            as tail_values,
        series.series_cum_twrs[
            chart_starts.tail_idx - series.series_idx + 1:chart_starts.end_idx - series.series_idx + 1
        ] as tail_cum_twrs,
        series.series_benchmark_closes[
            chart_starts.tail_idx - series.series_idx + 1:chart_starts.end_idx - series.series_idx + 1
        ] as tail_benchmark_closes
    from chart_starts
    inner join series on chart_starts.portfolio_id = series.portfolio_id
),

-- each START's points: its head (if thinned) followed by its tail. The head is the one
-- int_chart_heads kept (the kept sessions before its until_idx, looked up by its key),
-- completed up to the recent sessions with the step-th sessions from until_idx (the first one:
-- START + 1 + step * ceil((until_idx - START - 1) / step)) before recent_idx, picked from the
-- series by position. (Joined by key here, not as a CTE of heads: the planner cannot estimate
-- a CTE's rows and joined the heads to the starts by a nested loop, every start against every
-- head.) Dates and values are copied as they are; the returns are rebased on START in one pass
-- over the tail (unnest yields the elements in order).
start_points as materialized (
    select
        start_tails.portfolio_id,
        start_tails.start_idx,
        coalesce(chart_heads.head_points + continued.n_points, 0) + cardinality(start_tails.tail_dates) as n_points,
        case
            when chart_heads.portfolio_id is null then '{}'
            else chart_heads.head_dates || coalesce(continued.point_dates, '{}')
        end || start_tails.tail_dates as point_dates,
        case
            when chart_heads.portfolio_id is null then '{}'
            else chart_heads.head_values || coalesce(continued.point_values, '{}')
        end || start_tails.tail_values as point_values,
        case
            when chart_heads.portfolio_id is null then '{}'
            else chart_heads.head_cum_returns || coalesce(continued.point_cum_returns, '{}')
        end || rebased.tail_cum_returns as point_cum_returns,
        case
            when chart_heads.portfolio_id is null then '{}'
            else chart_heads.head_benchmark_cum_returns || coalesce(continued.point_benchmark_cum_returns, '{}')
        end || rebased.tail_benchmark_cum_returns as point_benchmark_cum_returns
    from start_tails
    left join chart_heads
        on
            start_tails.is_thinned
            and start_tails.portfolio_id = chart_heads.portfolio_id
            and start_tails.start_idx = chart_heads.start_idx
            and start_tails.step = chart_heads.step
    cross join
        lateral (
            select
                count(*) as n_points,
                array_agg(start_tails.series_dates[positions.pos]) as point_dates,
                array_agg(start_tails.series_values[positions.pos]) as point_values,
                array_agg((1 + start_tails.series_cum_twrs[positions.pos]) / nullif(1 + start_tails.start_twr, 0) - 1)
                    as point_cum_returns,
                array_agg(
                    (start_tails.series_benchmark_closes[positions.pos] / nullif(start_tails.start_benchmark_close, 0))::float8
                    - 1
                ) as point_benchmark_cum_returns
            from generate_series(
                chart_heads.start_idx + 1 - start_tails.series_idx + 1
                + chart_heads.step
                * ((chart_heads.until_idx - chart_heads.start_idx - 2 + chart_heads.step) / chart_heads.step),
                start_tails.recent_idx - 1 - start_tails.series_idx + 1,
                chart_heads.step
            ) as positions (pos)
        ) as continued
    cross join lateral (
        select
            array_agg((1 + points.cum_twr) / nullif(1 + start_tails.start_twr, 0) - 1) as tail_cum_returns,
            array_agg(
                (points.benchmark_close / nullif(start_tails.start_benchmark_close, 0))::float8 - 1
            ) as tail_benchmark_cum_returns
        from unnest(start_tails.tail_cum_twrs, start_tails.tail_benchmark_closes) as points (cum_twr, benchmark_close)
    ) as rebased
),

chart_points as (
    select
        thinning.*,
        start_points.n_points,
        start_points.point_dates,
        start_points.point_values,
        start_points.point_cum_returns,
        start_points.point_benchmark_cum_returns
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
        returns.point_dates,
        returns.point_values,
        returns.point_cum_returns,
        returns.point_benchmark_cum_returns,
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
