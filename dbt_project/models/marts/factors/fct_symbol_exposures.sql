{{
    config(
        materialized='foliodb_refresh',
        unique_key=['symbol', 'as_of_idx', 'factor'],
        refresh_scope='exposure_symbols',
        indexes=[{'columns': ['as_of_idx', 'factor']}],
    )
}}
-- depends_on: {{ ref('stg_ops__refresh_windows') }} (the refresh's delete reads the as-of session)
-- One row per symbol per as-of session per active factor: the symbol's exposure to the factor
-- fitted on the trailing window of daily returns (docs/factors.md). Rows of earlier as-of
-- sessions are kept as history; a refresh computes the as-of session only, for the symbols in
-- the symbol scope (every priced symbol when there is a new session), and for every priced
-- symbol when a factor proxy's prices changed (every fit depends on them).
--   market: OLS of the symbol's daily return on the market proxy's (SPY):
--           r = alpha + beta * r_market + e.
--   styles: OLS of the market residual e on the style proxy's return spread over the market:
--           e = a + b * (r_style - r_market) + u.
with factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

factors as (
    select * from {{ ref('stg_market__factors') }}
    where is_active
),

symbol_returns as (
    select * from {{ ref('int_symbol_returns_windowed') }}
),

-- the symbols re-fitted: the symbol scope, every priced symbol when a factor proxy's prices
-- changed (every fit depends on them): ops.open_window
subjects as (
    select * from {{ ref('stg_ops__refresh_exposure_symbols') }}
),

-- materialized: the proxies' few rows, so the planner never joins all symbols first
market_returns as materialized (
    select
        symbol_returns.session_idx,
        symbol_returns.daily_return as market_return
    from symbol_returns
    inner join factors on symbol_returns.symbol = factors.proxy_symbol
    where factors.is_market
),

style_returns as materialized (
    select
        factors.factor,
        symbol_returns.session_idx,
        symbol_returns.daily_return as factor_return
    from symbol_returns
    inner join factors on symbol_returns.symbol = factors.proxy_symbol
    where not factors.is_market
),

subject_returns as (
    select
        symbol_returns.symbol,
        symbol_returns.session_idx,
        symbol_returns.daily_return,
        market_returns.market_return
    from symbol_returns
    inner join subjects on symbol_returns.symbol = subjects.symbol
    inner join market_returns on symbol_returns.session_idx = market_returns.session_idx
),

-- sessions where both the symbol and the market proxy have a return
market_fits as (
    select
        symbol,
        regr_slope(daily_return, market_return) as beta,
        regr_intercept(daily_return, market_return) as alpha,
        regr_r2(daily_return, market_return) as r_squared,
        regr_count(daily_return, market_return)::integer as n_obs
    from subject_returns
    group by symbol
),

published_market_fits as (
    select market_fits.*
    from market_fits
    cross join factor_settings
    where market_fits.n_obs >= factor_settings.min_observations
),

residuals as (
    select
        subject_returns.symbol,
        subject_returns.session_idx,
        subject_returns.market_return,
        subject_returns.daily_return
        - (published_market_fits.alpha + published_market_fits.beta * subject_returns.market_return) as residual
    from subject_returns
    inner join published_market_fits on subject_returns.symbol = published_market_fits.symbol
),

-- sessions where the symbol, the market proxy and the style proxy all have a return
style_fits as (
    select
        residuals.symbol,
        style_returns.factor,
        regr_slope(residuals.residual, style_returns.factor_return - residuals.market_return) as exposure,
        regr_intercept(residuals.residual, style_returns.factor_return - residuals.market_return) as intercept,
        regr_r2(residuals.residual, style_returns.factor_return - residuals.market_return) as r_squared,
        regr_count(residuals.residual, style_returns.factor_return - residuals.market_return)::integer as n_obs
    from residuals
    inner join style_returns on residuals.session_idx = style_returns.session_idx
    group by residuals.symbol, style_returns.factor
),

fits as (
    select
        subjects.symbol,
        factors.factor,
        factors.proxy_symbol,
        factors.is_market,
        case when factors.is_market then market_fits.beta else style_fits.exposure end as exposure,
        case when factors.is_market then market_fits.alpha else style_fits.intercept end as intercept,
        case when factors.is_market then market_fits.r_squared else style_fits.r_squared end as r_squared,
        coalesce(case when factors.is_market then market_fits.n_obs else style_fits.n_obs end, 0) as n_obs,
        coalesce(market_fits.n_obs, 0) as market_n_obs,
        market_factors.proxy_symbol as market_proxy_symbol
    from subjects
    cross join factors
    left join factors as market_factors on market_factors.is_market
    left join market_fits on subjects.symbol = market_fits.symbol
    left join style_fits
        on
            subjects.symbol = style_fits.symbol
            and factors.factor = style_fits.factor
),

final as (
    select
        fits.symbol,
        factor_settings.as_of_idx,
        fits.factor,
        factor_settings.as_of_date,
        fits.proxy_symbol,
        fits.is_market,
        fits.n_obs >= factor_settings.min_observations and fits.exposure is not null as is_published,
        case when fits.n_obs >= factor_settings.min_observations then fits.exposure end as exposure,
        case when fits.n_obs >= factor_settings.min_observations then fits.intercept end as intercept,
        case when fits.n_obs >= factor_settings.min_observations then fits.r_squared end as r_squared,
        fits.n_obs,
        factor_settings.window_sessions,
        factor_settings.min_observations,
        case
            when not fits.is_market and fits.market_n_obs < factor_settings.min_observations
                then format(
                    'market beta not published: %s of at least %s daily returns with %s',
                    fits.market_n_obs, factor_settings.min_observations, fits.market_proxy_symbol
                )
            when fits.n_obs < factor_settings.min_observations
                then format(
                    'insufficient history: %s of at least %s daily returns with %s in the last %s sessions',
                    fits.n_obs, factor_settings.min_observations, fits.proxy_symbol, factor_settings.window_sessions
                )
            when fits.exposure is null
                then format('%s returns do not vary over the window', fits.proxy_symbol)
        end as unpublished_reason,
        factor_settings.run_id as computed_by_run
    from fits
    cross join factor_settings
    where factor_settings.as_of_idx >= 0
)

select * from final
