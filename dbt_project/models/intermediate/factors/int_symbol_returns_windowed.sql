-- One row per symbol per session of the factor window (the window_sessions sessions ending at
-- the as-of session) on which the symbol has a daily return, for the symbols the refresh
-- fits (its exposure symbols) and the active factors' proxies, which every fit reads. The
-- rule: a return exists only when the symbol has a real quote on the session and on the
-- session before it; a session without a quote (and the session after it) has no return, so
-- carried-forward closes never add a zero return and a gap never adds a multi-day move.
-- Read by key, (symbol, session_idx) per fitted symbol: a one-portfolio refresh fitting its
-- new symbols reads their windows only, not every priced symbol's (485 ms of 522 at 1,000
-- portfolios and 510 symbols, for 10 symbols).
with prices_filled as (
    select * from {{ ref('int_prices_filled_daily') }}
),

factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

subjects as (
    select * from {{ ref('stg_ops__refresh_exposure_symbols') }}
),

factors as (
    select * from {{ ref('stg_market__factors') }}
    where is_active
),

fitted_symbols as (
    select subjects.symbol from subjects
    union
    select factors.proxy_symbol from factors
),

-- the window's closes and the session before it, each return from the row before it (the
-- filled series has a row for every session from the symbol's first quote); null where the
-- rule gives none, so the filter below is estimated as the few rows it drops (three equalities
-- on window outputs were estimated at one row, and every fit was planned as nested loops)
returns as (
    select
        prices_filled.symbol,
        prices_filled.session_idx,
        case
            when
                prices_filled.stale_sessions = 0
                and lag(prices_filled.stale_sessions) over symbol_series = 0
                and lag(prices_filled.session_idx) over symbol_series = prices_filled.session_idx - 1
                then prices_filled.close_price::float8 / lag(prices_filled.close_price::float8) over symbol_series - 1
        end as daily_return
    from prices_filled
    cross join factor_settings
    where
        prices_filled.symbol = any(array(select fitted_symbols.symbol from fitted_symbols))
        and prices_filled.session_idx > factor_settings.as_of_idx - factor_settings.window_sessions - 1
        and prices_filled.session_idx <= factor_settings.as_of_idx
    window symbol_series as (partition by prices_filled.symbol order by prices_filled.session_idx)
),

final as (
    select
        symbol,
        session_idx,
        daily_return
    from returns
    where daily_return is not null
)

select * from final
