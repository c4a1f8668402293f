{#-
  The SQL of int_positions_resolved / int_valuations_ranged, written once. With
  in_scope_only=true it reads only the portfolios of the chunk of the refresh's scope being
  computed (by index; stg_ops__refresh_scope_chunks), which is what a refresh of a few
  portfolios needs; the unscoped views serve models that need all.
  portfolio_filter (optional): a query returning portfolio ids; only those portfolios are read
  (by index). A model embeds the macro as a CTE body and names its own subject portfolios, e.g.
  positions_resolved(portfolio_filter='select subjects.portfolio_id from subjects').
-#}
{% macro positions_resolved(in_scope_only=false, portfolio_filter=none) %}
-- Positions with their entry and exit mapped to sessions: a date that is not a session
-- (a weekend, the 2025-01-09 closure) maps to the first session on or after it.
-- An option expires on its expiry session (the last session on or before the expiry date),
-- valued at its intrinsic value from the underlying's close; it leaves the next session at
-- that value, unless it was closed before.
with positions as not materialized (
    select * from {{ ref('stg_core__positions') }}
    where
        true
        {%- if in_scope_only %}
        and portfolio_id in (select scopes.portfolio_id from {{ ref('stg_ops__refresh_scope_chunks') }} as scopes)
        {%- endif %}
        {%- if portfolio_filter %}
        and portfolio_id in ({{ portfolio_filter }})
        {%- endif %}
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
{% endmacro %}

{% macro valuations_ranged(in_scope_only=false, portfolio_filter=none) %}
-- Each manual valuation holds from its session until the session before the next one.
with valuations as (
    select * from {{ ref('stg_core__valuations') }}
    where
        true
        {%- if in_scope_only %}
        and portfolio_id in (select scopes.portfolio_id from {{ ref('stg_ops__refresh_scope_chunks') }} as scopes)
        {%- endif %}
        {%- if portfolio_filter %}
        and portfolio_id in ({{ portfolio_filter }})
        {%- endif %}
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
{% endmacro %}
