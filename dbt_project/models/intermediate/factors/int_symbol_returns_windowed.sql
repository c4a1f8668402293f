-- One row per symbol per session of the factor window (the window_sessions sessions ending at
-- the as-of session) on which the symbol has a daily return. The rule: a return exists only
-- when the symbol has a real quote on the session and on the session before it; a session
-- without a quote (and the session after it) has no return, so carried-forward closes never
-- add a zero return and a gap never adds a multi-day move.
with prices_filled as (
    select * from {{ ref('int_prices_filled_daily') }}
),

factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

quotes as (
    select
        prices_filled.symbol,
        prices_filled.session_idx,
        prices_filled.close_price::float8 as close_price
    from prices_filled
    cross join factor_settings
    where
        prices_filled.stale_sessions = 0
        and prices_filled.session_idx > factor_settings.as_of_idx - factor_settings.window_sessions - 1
        and prices_filled.session_idx <= factor_settings.as_of_idx
),

final as (
    select
        quotes.symbol,
        quotes.session_idx,
        quotes.close_price / previous_quotes.close_price - 1 as daily_return
    from quotes
    inner join quotes as previous_quotes
        on
            quotes.symbol = previous_quotes.symbol
            and quotes.session_idx = previous_quotes.session_idx + 1
)

select * from final
