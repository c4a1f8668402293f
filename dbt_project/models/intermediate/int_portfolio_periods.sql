{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'period'],
        refresh_scope='portfolios',
    )
}}
-- One row per portfolio per chart period (1D … MAX): the period's start and end sessions
-- from the trading calendar (docs/semantics.md, "Chart caches"). A portfolio younger than
-- the period starts at its first session and is marked partial.
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
),

-- not materialized: each scoped portfolio's first and last session are two lookups of the
-- (portfolio_id, session_idx) key, never an aggregate over its whole series
snapshots as not materialized (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

-- not materialized: a few scoped portfolios look their sessions and dates up by key (as CTEs
-- they would be read and sorted whole); a big scope still joins them by hash
sessions as not materialized (
    select * from {{ ref('int_sessions_windowed') }}
),

calendar_dates as not materialized (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

-- materialized: the lookups run once per portfolio, not once per use of the columns below
spans as materialized (
    select
        scopes.portfolio_id,
        (
            select min(snapshots.session_idx) from snapshots
            where snapshots.portfolio_id = scopes.portfolio_id
        ) as first_idx,
        (
            select max(snapshots.session_idx) from snapshots
            where snapshots.portfolio_id = scopes.portfolio_id
        ) as end_idx
    from scopes
),

ends as (
    select
        spans.portfolio_id,
        spans.first_idx,
        spans.end_idx,
        sessions.session_date as end_date
    from spans
    inner join sessions on spans.end_idx = sessions.session_idx
),

periods as (
    select *
    from (
        values
        ('1D', 1, null::interval, false),
        ('5D', 2, null, false),
        ('1M', 3, interval '1 month', false),
        ('3M', 4, interval '3 months', false),
        ('6M', 5, interval '6 months', false),
        ('YTD', 6, null, true),
        ('1Y', 7, interval '12 months', false),
        ('5Y', 8, interval '60 months', false),
        ('MAX', 9, null, false)
    ) as period_list (period, period_order, lookback, is_year_to_date)
),

-- START is the close the period's return runs from: the close before the period's first
-- session (1D: END's previous session; YTD: the previous year's last session; 1M … 5Y: the
-- last session on or before END's date minus the lookback). The last session on or before a
-- date is the session before the first one after it.
starts as (
    select
        ends.portfolio_id,
        periods.period,
        periods.period_order,
        ends.first_idx,
        ends.end_idx,
        ends.end_date,
        case
            when periods.period = '1D' then ends.end_idx - 1
            when periods.period = '5D' then ends.end_idx - 5
            when periods.period = 'MAX' then ends.first_idx
            -- the previous year's last session: the session before the year's first
            when periods.is_year_to_date then year_start.session_idx - 1
            else after_lookback.session_idx - 1
        end as wanted_start_idx
    from ends
    cross join periods
    left join calendar_dates as after_lookback
        on after_lookback.calendar_date = (ends.end_date - periods.lookback)::date + 1
    left join calendar_dates as year_start
        on year_start.calendar_date = date_trunc('year', ends.end_date)::date
)

select
    starts.portfolio_id,
    starts.period,
    starts.period_order,
    greatest(starts.wanted_start_idx, starts.first_idx) as start_idx,
    start_sessions.session_date as start_date,
    starts.end_idx,
    starts.end_date,
    starts.wanted_start_idx < starts.first_idx as is_partial
from starts
inner join sessions as start_sessions
    on greatest(starts.wanted_start_idx, starts.first_idx) = start_sessions.session_idx
