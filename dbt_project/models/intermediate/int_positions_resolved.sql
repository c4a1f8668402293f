-- Positions with their entry and exit mapped to sessions: a date that is not a session
-- (a weekend, the 2025-01-09 closure) maps to the first session on or after it.
with positions as (
    select * from {{ ref('stg_core__positions') }}
),

calendar_dates as (
    select * from {{ ref('int_calendar_dates_mapped') }}
)

select
    positions.portfolio_id,
    positions.position_id,
    positions.symbol,
    positions.investment_class,
    positions.quantity,
    positions.entry_price,
    positions.exit_price,
    positions.entry_date,
    positions.exit_date,
    case when positions.investment_class = 'OPTIONS' then 100 else 1 end as multiplier,
    entry_sessions.session_idx as entry_idx,
    exit_sessions.session_idx as exit_idx
from positions
left join calendar_dates as entry_sessions on positions.entry_date = entry_sessions.calendar_date
left join calendar_dates as exit_sessions on positions.exit_date = exit_sessions.calendar_date
