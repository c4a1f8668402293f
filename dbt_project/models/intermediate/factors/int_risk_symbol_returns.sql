-- The series a portfolio's risk figures compare it with, as one array of daily returns per
-- symbol by session index: the benchmarks of the refresh's scope and the risk-free proxy.
-- returns: the carried-forward close over the previous session's − 1, in float8 (the
-- benchmark's cumulative return in the snapshots uses the same closes; the risk-free rate of a
-- session without a quote is 0). quoted_returns: the same where the symbol has a real quote on
-- the session and on the one before, else none (beta and correlation pair only real quotes,
-- as the factor models do). last_quote_idx: the symbol's last real quote.
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

prices_filled as (
    select * from {{ ref('int_prices_filled_daily') }}
),

wanted as (
    select portfolios.benchmark_symbol as symbol
    from portfolios
    inner join scopes on portfolios.portfolio_id = scopes.portfolio_id
    union
    select factor_settings.risk_free_symbol from factor_settings
),

-- per wanted symbol, its series through the key (a join would read every symbol's)
daily_returns as (
    select
        wanted.symbol,
        series.session_idx,
        series.daily_return,
        series.is_quoted
    from wanted
    cross join lateral (
        select
            prices_filled.session_idx,
            prices_filled.close_price::float8
            / lag(prices_filled.close_price::float8) over (order by prices_filled.session_idx) - 1
                as daily_return,
            prices_filled.stale_sessions = 0
            and lag(prices_filled.stale_sessions) over (order by prices_filled.session_idx) = 0 as is_quoted
        from prices_filled
        where prices_filled.symbol = wanted.symbol
    ) as series
),

final as (
    select
        daily_returns.symbol,
        min(daily_returns.session_idx) as first_idx,
        -- NaN, not null, where there is no return: an array with nulls is searched element by
        -- element on every lookup, one without is indexed directly
        array_agg(coalesce(daily_returns.daily_return, 'NaN'::float8) order by daily_returns.session_idx)
            as returns,
        array_agg(
            case when daily_returns.is_quoted then daily_returns.daily_return else 'NaN'::float8 end
            order by daily_returns.session_idx
        ) as quoted_returns,
        max(daily_returns.session_idx) filter (where daily_returns.is_quoted) as last_quote_idx
    from daily_returns
    group by daily_returns.symbol
)

select * from final
