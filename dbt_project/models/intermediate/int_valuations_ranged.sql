-- Each manual valuation holds from its session until the session before the next one.
with valuations as (
    select * from {{ ref('stg_core__valuations') }}
),

calendar_dates as (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

mapped as (
    select
        valuations.portfolio_id,
        valuations.position_id,
        valuations.valuation_date,
        valuations.valuation_value,
        calendar_dates.session_idx as from_idx
    from valuations
    left join calendar_dates on valuations.valuation_date = calendar_dates.calendar_date
),

-- Several valuations mapping to one session (a weekend's): the latest date wins.
latest_per_session as (
    select distinct on (position_id, from_idx)
        portfolio_id,
        position_id,
        from_idx,
        valuation_value
    from mapped
    where from_idx is not null
    order by position_id asc, from_idx asc, valuation_date desc
)

select
    portfolio_id,
    position_id,
    from_idx,
    coalesce(
        lead(from_idx) over (partition by position_id order by from_idx) - 1,
        2147483647
    ) as to_idx,
    valuation_value
from latest_per_session
