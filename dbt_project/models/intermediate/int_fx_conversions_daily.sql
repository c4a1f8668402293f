{{
    config(
        materialized='foliodb_refresh',
        unique_key=['currency', 'base_currency', 'session_idx'],
        refresh_scope='all',
    )
}}
-- The rate that converts each currency a portfolio needs (ops.currencies_needed) into that
-- portfolio's base currency, on every session from the first date it is needed to the as-of
-- session, and the rule that gave it (docs/semantics.md, "Currencies"):
--   session     the rate used is of the session
--   last_rate   it is from an earlier session (stale_sessions: its age; a cross rate's is
--               the older leg's)
--   none        no rate on or before the session: rate is null, never 1.0
-- Cross rates go through USD: rate = (USD per unit of the currency) / (USD per unit of the
-- base); USD itself is worth 1 USD on every session. Where a pair of the two currencies is
-- stored without USD (EURGBP, either way round), its rate is used when it is no older than
-- the cross rate: a fresher cross rate wins over a stale direct one.
with currencies_needed as (
    select * from {{ ref('stg_ops__currencies_needed') }}
),

fx_filled as not materialized (
    select * from {{ ref('int_fx_rates_filled_daily') }}
),

sessions as (
    select * from {{ ref('int_sessions_windowed') }}
),

-- each pair once, from the earliest date any portfolio needs it
pairs as (
    select
        currency,
        base_currency,
        min(needed_from) as needed_from
    from currencies_needed
    group by currency, base_currency
),

-- a pair needed from before the calendar's first session starts at that session
grid as (
    select
        pairs.currency,
        pairs.base_currency,
        sessions.session_idx
    from pairs
    inner join sessions
        on sessions.session_date >= coalesce(pairs.needed_from, sessions.session_date)
),

legs as (
    select
        grid.currency,
        grid.base_currency,
        grid.session_idx,
        case when grid.currency = 'USD' then 1 else from_leg.rate end as from_usd_rate,
        case when grid.currency = 'USD' then 0 else from_leg.stale_sessions end as from_stale,
        case when grid.base_currency = 'USD' then 1 else to_leg.rate end as to_usd_rate,
        case when grid.base_currency = 'USD' then 0 else to_leg.stale_sessions end as to_stale,
        direct.rate as direct_rate,
        direct.stale_sessions as direct_stale
    from grid
    left join fx_filled as from_leg
        on
            grid.currency = from_leg.currency
            and from_leg.quote_currency = 'USD'
            and grid.session_idx = from_leg.session_idx
    left join fx_filled as to_leg
        on
            grid.base_currency = to_leg.currency
            and to_leg.quote_currency = 'USD'
            and grid.session_idx = to_leg.session_idx
    -- a stored pair of the two without USD (a pair with USD is a leg above)
    left join fx_filled as direct
        on
            grid.currency = direct.currency
            and grid.base_currency = direct.quote_currency
            and grid.session_idx = direct.session_idx
            and direct.quote_currency <> 'USD'
),

crossed as (
    select
        legs.*,
        legs.from_usd_rate / legs.to_usd_rate as cross_rate,
        greatest(legs.from_stale, legs.to_stale) as cross_stale
    from legs
),

-- the direct rate when it is no older than the cross rate (or there is no cross rate)
chosen as (
    select
        currency,
        base_currency,
        session_idx,
        case
            when direct_rate is not null and (cross_rate is null or direct_stale <= cross_stale)
                then direct_rate
            else cross_rate
        end as fx_rate,
        case
            when direct_rate is not null and (cross_rate is null or direct_stale <= cross_stale)
                then direct_stale
            when cross_rate is not null then cross_stale
        end as stale_sessions
    from crossed
)

select
    currency,
    base_currency,
    session_idx,
    fx_rate,
    case
        when fx_rate is null then 'none'
        when stale_sessions = 0 then 'session'
        else 'last_rate'
    end as fx_rule,
    stale_sessions
from chosen
