-- One row per symbol per session of the factor window (the window_sessions sessions ending at
-- the as-of session) on which the symbol has a daily return (int_symbol_returns_daily, where
-- the rule is), for the symbols the refresh fits (its exposure symbols) and the active
-- factors' proxies, which every fit reads. Read by key, (symbol, session_idx) per fitted
-- symbol: a one-portfolio refresh fitting its new symbols reads their windows only, not every
-- priced symbol's (485 ms of 522 at 1,000 portfolios and 510 symbols, for 10 symbols); and the
-- stored returns, not the closes they were computed from (recomputing the window's returns was
-- a third of a nightly fit of every symbol).
with symbol_returns as (
    select * from {{ ref('int_symbol_returns_daily') }}
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

-- the window's sessions (the first one's return is over the close of the session before it)
final as (
    select
        symbol_returns.symbol,
        symbol_returns.session_idx,
        symbol_returns.daily_return
    from symbol_returns
    cross join factor_settings
    where
        symbol_returns.symbol = any(array(select fitted_symbols.symbol from fitted_symbols))
        and symbol_returns.session_idx > factor_settings.as_of_idx - factor_settings.window_sessions
        and symbol_returns.session_idx <= factor_settings.as_of_idx
)

select * from final
