{{
    config(
        materialized='foliodb_refresh',
        unique_key=['currency', 'quote_currency', 'session_idx'],
        refresh_scope='all',
        refresh_empty_without=['stg_market__fx_rates'],
    )
}}
-- Every currency's value in US dollars, and in the other currency of each stored pair without
-- USD (EURGBP), on every session from its first rate to the as-of session: the rate of that
-- session, else the last rate before it (with that rate's session, so its age is known). A
-- rate stored either way round counts: EURUSD (1 EUR in USD) as it is, USDJPY (1 USD in JPY)
-- inverted, EURGBP both ways (1 EUR in GBP, and 1 GBP in EUR); a session with both takes the
-- one stored that way round. Recomputed whole by each refresh: a few pairs, one row per
-- session each.
with fx_rates as (
    select * from {{ ref('stg_market__fx_rates') }}
),

sessions as (
    select * from {{ ref('int_sessions_windowed') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

-- each rate as the value of one unit of a currency in the quote currency, on its session:
-- as stored, and inverted (against USD only the other currency's value in USD: USD is 1)
legs as (
    select
        fx_rates.base_currency as currency,
        fx_rates.quote_currency,
        sessions.session_idx,
        fx_rates.fx_rate as rate,
        0 as leg_order
    from fx_rates
    inner join sessions on fx_rates.rate_date = sessions.session_date
    where fx_rates.base_currency <> 'USD'
    union all
    select
        fx_rates.quote_currency as currency,
        fx_rates.base_currency as quote_currency,
        sessions.session_idx,
        1 / fx_rates.fx_rate as rate,
        1 as leg_order
    from fx_rates
    inner join sessions on fx_rates.rate_date = sessions.session_date
    where fx_rates.quote_currency <> 'USD'
),

quotes as (
    select distinct on (currency, quote_currency, session_idx)
        currency,
        quote_currency,
        session_idx,
        rate,
        session_idx as rate_idx
    from legs
    order by currency, quote_currency, session_idx, leg_order
),

grid as (
    select
        starts.currency,
        starts.quote_currency,
        grid_sessions.session_idx
    from (
        select
            currency,
            quote_currency,
            min(session_idx) as start_idx
        from quotes
        group by currency, quote_currency
    ) as starts
    cross join refresh_windows
    cross join lateral generate_series(starts.start_idx, refresh_windows.as_of_idx) as grid_sessions (session_idx)
),

-- each rate starts a group that runs until the next rate
grouped as (
    select
        grid.currency,
        grid.quote_currency,
        grid.session_idx,
        quotes.rate,
        quotes.rate_idx,
        count(quotes.rate_idx) over (
            partition by grid.currency, grid.quote_currency order by grid.session_idx
        ) as rate_group
    from grid
    left join quotes
        on
            grid.currency = quotes.currency
            and grid.quote_currency = quotes.quote_currency
            and grid.session_idx = quotes.session_idx
),

final as (
    select
        currency,
        quote_currency,
        session_idx,
        max(rate) over (partition by currency, quote_currency, rate_group) as rate,
        max(rate_idx) over (partition by currency, quote_currency, rate_group) as rate_idx
    from grouped
)

select
    currency,
    quote_currency,
    session_idx,
    rate,
    rate_idx,
    session_idx - rate_idx as stale_sessions
from final
