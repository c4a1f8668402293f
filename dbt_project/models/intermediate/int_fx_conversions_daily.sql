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
--   session     both legs have a rate on the session
--   last_rate   a leg's last rate is from an earlier session (stale_sessions: the older leg's age)
--   none        a leg has no rate on or before the session: rate is null, never 1.0
-- Cross rates go through USD: rate = (USD per unit of the currency) / (USD per unit of the
-- base); USD itself is worth 1 USD on every session.
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
        case when grid.currency = 'USD' then 1 else from_leg.usd_rate end as from_usd_rate,
        case when grid.currency = 'USD' then 0 else from_leg.stale_sessions end as from_stale,
        case when grid.base_currency = 'USD' then 1 else to_leg.usd_rate end as to_usd_rate,
        case when grid.base_currency = 'USD' then 0 else to_leg.stale_sessions end as to_stale
    from grid
    left join fx_filled as from_leg
        on
            grid.currency = from_leg.currency
            and grid.session_idx = from_leg.session_idx
    left join fx_filled as to_leg
        on
            grid.base_currency = to_leg.currency
            and grid.session_idx = to_leg.session_idx
)

select
    currency,
    base_currency,
    session_idx,
    from_usd_rate / to_usd_rate as fx_rate,
    case
        when from_usd_rate is null or to_usd_rate is null then 'none'
        when greatest(from_stale, to_stale) = 0 then 'session'
        else 'last_rate'
    end as fx_rule,
    case
        when from_usd_rate is not null and to_usd_rate is not null then greatest(from_stale, to_stale)
    end as stale_sessions
from legs
