-- Positions with their entry and exit mapped to sessions: a date that is not a session
-- (a weekend, the 2025-01-09 closure) maps to the first session on or after it.
-- An option expires on its expiry session (the last session on or before the expiry date),
-- valued at its intrinsic value from the underlying's close; it leaves the next session at
-- that value, unless it was closed before.
with positions as not materialized (
    select * from {{ ref('stg_core__positions') }}
),

option_contracts as not materialized (
    select * from {{ ref('stg_market__option_contracts') }}
),

prices_filled as not materialized (
    select * from {{ ref('int_prices_filled_daily') }}
),

calendar_dates as not materialized (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

mapped as (
    select
        positions.*,
        entry_sessions.session_idx as entry_idx,
        exit_sessions.session_idx as exit_idx,
        after_expiry.session_idx - 1 as expiry_idx,
        option_contracts.underlying_symbol,
        option_contracts.option_type,
        option_contracts.strike_price,
        coalesce(option_contracts.multiplier, case when positions.investment_class = 'OPTIONS' then 100 else 1 end)
            as multiplier
    from positions
    left join calendar_dates as entry_sessions on positions.entry_date = entry_sessions.calendar_date
    left join calendar_dates as exit_sessions on positions.exit_date = exit_sessions.calendar_date
    left join option_contracts
        on
            positions.symbol = option_contracts.symbol
            and positions.investment_class = 'OPTIONS'
    left join calendar_dates as after_expiry on option_contracts.expiry_date + 1 = after_expiry.calendar_date
),

expiring as (
    select
        mapped.*,
        case
            when mapped.option_type = 'call' then greatest(underlying.close_price - mapped.strike_price, 0)
            when mapped.option_type = 'put' then greatest(mapped.strike_price - underlying.close_price, 0)
        end as expiry_value,
        mapped.expiry_idx is not null
        and mapped.expiry_idx + 1 < coalesce(mapped.exit_idx, 2147483647) as is_expired_first
    from mapped
    left join prices_filled as underlying
        on
            mapped.underlying_symbol = underlying.symbol
            and mapped.expiry_idx = underlying.session_idx
)

select
    portfolio_id,
    position_id,
    symbol,
    investment_class,
    quantity,
    entry_price,
    case when is_expired_first then expiry_value else exit_price end as exit_price,
    entry_date,
    exit_date,
    multiplier,
    entry_idx,
    case when is_expired_first then expiry_idx + 1 else exit_idx end as exit_idx,
    expiry_idx,
    expiry_value
from expiring
