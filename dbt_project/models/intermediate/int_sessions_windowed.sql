-- The sessions of the refresh window's calendar, up to its as-of session.
with refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

trading_days as (
    select * from {{ ref('stg_market__trading_days') }}
)

select
    trading_days.session_date,
    trading_days.session_idx
from trading_days
inner join refresh_windows
    on
        trading_days.calendar = refresh_windows.calendar
        and trading_days.session_idx <= refresh_windows.as_of_idx
