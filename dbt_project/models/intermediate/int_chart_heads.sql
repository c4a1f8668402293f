{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'start_idx', 'step'],
        refresh_scope='portfolios_from_session',
        refresh_session_column='end_idx',
        refresh_keep='chart_head_is_current',
        post_hook=[
            "alter table {{ this }}
                alter column head_dates set storage external,
                alter column head_values set storage external,
                alter column head_cum_returns set storage external,
                alter column head_benchmark_cum_returns set storage external",
        ],
    )
}}
-- One row per thinned chart start (5Y and MAX with more than 260 sessions; one row for both when
-- they start together) per step: the chart's head — START and every step-th session before the
-- recent ones, as they were when the row was computed (sessions before until_idx) — as four
-- arrays, ready to be followed by the rest of the chart (docs/semantics.md, "Chart caches").
--
-- Why it is kept between refreshes: with START and step unchanged, a night's new session only
-- moves the recent sessions on; the head's sessions, their values and their returns against
-- START stay what they were. fct_chart_caches takes the head from here and adds the step-th
-- sessions from until_idx on, so a night reads about 260 snapshot rows per portfolio however
-- long its history. A row is dropped, and recomputed, when a snapshot it was computed from may
-- have changed (the scope starts at or before its END), or when no 5Y or MAX chart starts at
-- its START and ends at most 259 sessions after its until_idx any more (further on, its
-- continuation would need more than the last 260 sessions: macro chart_head_is_current). A row whose step is no longer
-- current is left unused until then (the step changes about once a year).
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

portfolio_periods as (
    select * from {{ ref('int_portfolio_periods') }}
),

-- not materialized: read through its (portfolio_id, session_idx) key, never scanned whole
snapshots as not materialized (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

calendar_dates as (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

-- the rows that survived this refresh's delete: still valid, not recomputed
kept_heads as (
    select * from {{ this }}
),

thinned_starts as (
    select distinct
        portfolio_periods.portfolio_id,
        portfolio_periods.start_idx,
        portfolio_periods.end_idx,
        {{ chart_recent_idx('recent_start.session_idx', 'portfolio_periods.start_idx') }} as recent_idx
    from portfolio_periods
    inner join scopes on portfolio_periods.portfolio_id = scopes.portfolio_id
    left join calendar_dates as recent_start
        on recent_start.calendar_date = (portfolio_periods.end_date - interval '1 month')::date + 1
    where
        portfolio_periods.period in ('5Y', 'MAX')
        and portfolio_periods.end_idx - portfolio_periods.start_idx + 1 > {{ var('chart_max_points') }}
),

-- the heads to compute: those with no valid row for their START and step
missing_heads as (
    select
        thinned_starts.*,
        {{ chart_thinning_step('thinned_starts.start_idx', 'thinned_starts.end_idx', 'thinned_starts.recent_idx') }}
            as step
    from thinned_starts
    where not exists (
        select from kept_heads
        where
            kept_heads.portfolio_id = thinned_starts.portfolio_id
            and kept_heads.start_idx = thinned_starts.start_idx
            and kept_heads.step = {{ chart_thinning_step(
                'thinned_starts.start_idx', 'thinned_starts.end_idx', 'thinned_starts.recent_idx'
            ) }}
    )
),

-- the head's sessions, computed from the bounds and looked up by key in one index scan (about
-- 240 rows however long the period, never a scan of the whole period); a sort of those rows
-- (an index scan with `= any` is not known to be ordered) puts the arrays in session order
heads as (
    select
        missing_heads.portfolio_id,
        missing_heads.start_idx,
        missing_heads.step,
        missing_heads.recent_idx as until_idx,
        missing_heads.end_idx,
        kept.head_points,
        kept.head_dates,
        kept.head_values,
        kept.head_cum_returns,
        kept.head_benchmark_cum_returns
    from missing_heads
    inner join snapshots as start_snapshots
        on
            missing_heads.portfolio_id = start_snapshots.portfolio_id
            and missing_heads.start_idx = start_snapshots.session_idx
    cross join lateral (
        select
            count(*) as head_points,
            array_agg(ordered.session_date) as head_dates,
            array_agg(ordered.market_value::numeric) as head_values,
            array_agg((1 + ordered.cum_twr) / nullif(1 + start_snapshots.cum_twr, 0) - 1) as head_cum_returns,
            array_agg(
                (ordered.benchmark_close / nullif(start_snapshots.benchmark_close, 0))::float8 - 1
            ) as head_benchmark_cum_returns
        -- noqa: ST05
        from (
            select
                snapshots.session_date,
                snapshots.market_value,
                snapshots.cum_twr,
                snapshots.benchmark_close
            from snapshots
            where
                snapshots.portfolio_id = missing_heads.portfolio_id
                and snapshots.session_idx = any(
                    array[missing_heads.start_idx]
                    || array(
                        select generate_series(missing_heads.start_idx + 1, missing_heads.recent_idx - 1, missing_heads.step)
                    )
                )
            order by snapshots.session_idx asc
        ) as ordered
    ) as kept
),

final as (
    select
        heads.*,
        refresh_windows.run_id as computed_by_run
    from heads
    cross join refresh_windows
)

select * from final
