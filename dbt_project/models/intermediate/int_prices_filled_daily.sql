{{
    config(
        materialized='foliodb_refresh',
        unique_key=['symbol', 'session_idx'],
        refresh_scope='symbols_from_session',
        refresh_write='changed',
        indexes=[
            {'columns': ['session_idx']},
            {'columns': ['symbol', 'session_idx'], 'where': 'stale_sessions > 0', 'name': 'stale'},
        ],
    )
}}
-- Every symbol's close on every session from its first quote to the as-of session, carried
-- forward from the last quote when a session has none (with the quote's session, so the age
-- of a stale close is known). Recomputed per symbol from the scope's first session, seeded by
-- the row just before it; only the rows that differ are written (refresh_write='changed': a
-- full rebuild recomputes every symbol's whole series, and most of it is as stored).
with prices as (
    select * from {{ ref('stg_market__prices') }}
),

sessions as (
    select * from {{ ref('int_sessions_windowed') }}
),

symbol_scopes as (
    select * from {{ ref('stg_ops__refresh_symbol_scopes') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

-- the last filled row before the recomputed range, kept from the previous run
seeds as (
    select
        filled.symbol,
        filled.session_idx,
        filled.close_price,
        filled.quote_idx
    from {{ this }} as filled
    inner join symbol_scopes
        on
            filled.symbol = symbol_scopes.symbol
            and filled.session_idx = symbol_scopes.from_idx - 1
),

-- each scoped symbol's first recomputed date, so only those prices are read (by index)
scope_dates as (
    select
        symbol_scopes.symbol,
        symbol_scopes.from_idx,
        coalesce(sessions.session_date, '-infinity'::date) as from_date
    from symbol_scopes
    left join sessions on symbol_scopes.from_idx = sessions.session_idx
),

-- per symbol, by the primary key (symbol, price_date): a new session reads one row per symbol
-- (the `order by` keeps the subquery a per-symbol lookup: flattened into a join, it was planned
-- as a scan of every price; materialized, so the sessions are then joined once, by hash)
scoped_prices as materialized (
    select
        scope_dates.symbol,
        scope_dates.from_idx,
        symbol_prices.price_date,
        symbol_prices.close_price
    from scope_dates
    cross join
        lateral (
            select
                prices.price_date,
                prices.close_price
            from prices
            where
                prices.symbol = scope_dates.symbol
                and prices.price_date >= scope_dates.from_date
            order by prices.price_date
        ) as symbol_prices
),

quotes as (
    select
        scoped_prices.symbol,
        sessions.session_idx,
        scoped_prices.close_price,
        sessions.session_idx as quote_idx
    from scoped_prices
    inner join sessions on scoped_prices.price_date = sessions.session_date
    where sessions.session_idx >= scoped_prices.from_idx
),

known as (
    select * from seeds
    union all
    select * from quotes
),

-- each known close holds until the session before the next one (the last until the as-of
-- session): one run of sessions per quote, no grid joined back to the quotes
known_runs as (
    select
        known.symbol,
        known.session_idx,
        known.close_price,
        known.quote_idx,
        coalesce(
            lead(known.session_idx) over (partition by known.symbol order by known.session_idx) - 1,
            refresh_windows.as_of_idx
        ) as until_idx
    from known
    cross join refresh_windows
    where known.session_idx <= refresh_windows.as_of_idx
),

final as (
    select
        known_runs.symbol,
        run_sessions.session_idx,
        known_runs.close_price,
        known_runs.quote_idx
    from known_runs
    cross join lateral generate_series(known_runs.session_idx, known_runs.until_idx) as run_sessions (session_idx)
)

select
    final.symbol,
    final.session_idx,
    final.close_price,
    final.quote_idx,
    final.session_idx - final.quote_idx as stale_sessions
from final
inner join symbol_scopes
    on
        final.symbol = symbol_scopes.symbol
        and final.session_idx >= symbol_scopes.from_idx
