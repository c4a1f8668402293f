{{
    config(
        materialized='foliodb_refresh',
        unique_key=['calendar_date'],
        refresh_scope='calendar_changed',
    )
}}
-- Every calendar date from the start of the kept calendar (market.calendar_start(), on or
-- before the first session: 2000-01-01 for XNYS, whose first session is 2000-01-03) to the
-- last session, mapped to the first session on or after it (a weekend or a closure maps to the
-- next session). Rebuilt only when the calendar changed (ops.calendar_map_is_current compares
-- sessions and bounds).
with trading_days as (
    select * from {{ ref('stg_market__trading_days') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

calendar_sessions as (
    select
        trading_days.session_date,
        trading_days.session_idx
    from trading_days
    inner join refresh_windows on trading_days.calendar = refresh_windows.calendar
),

bounds as (
    select
        least(min(session_date), market.calendar_start()) as first_date,
        max(session_date) as last_date
    from calendar_sessions
),

dates as (
    select calendar_days.calendar_date::date as calendar_date
    from bounds
    cross join lateral generate_series(bounds.first_date, bounds.last_date, interval '1 day') as calendar_days (calendar_date)
)

select
    dates.calendar_date,
    -- running minimum walking backwards in time: the next session on or after the date
    min(calendar_sessions.session_idx) over (
        order by dates.calendar_date desc
        rows between unbounded preceding and current row
    ) as session_idx
from dates
left join calendar_sessions on dates.calendar_date = calendar_sessions.session_date
where not exists (select from {{ this }})
