{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'period'],
        delete_using='ops.refresh_scope as scope',
        delete_where='target.portfolio_id = scope.portfolio_id',
    )
}}
-- One row per portfolio per chart period (int_portfolio_periods): risk figures of the daily
-- time-weighted returns r(d) of the sessions START < d <= END (the returns the period's TWR
-- chains). Conventions (docs/factors.md): sample standard deviations (n - 1), 252 sessions a
-- year, drawdowns on the wealth path starting at 1 on START, Sharpe on daily excess returns
-- over the risk-free proxy (0 on a session where it has no return), beta and correlation on
-- the benchmark's daily returns.
--
-- Every period ends at END, the portfolio's last session: the figures of all nine periods
-- come from one pass over each portfolio's series, latest session first, with running
-- aggregates from END back to each session (read at START + 1 for the returns, at START for
-- the drawdown path, which includes START).
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
),

-- the scope's periods only, by index (a CTE of the whole table is scanned whole)
periods as materialized (
    select int_portfolio_periods.*
    from {{ ref('int_portfolio_periods') }} as int_portfolio_periods
    inner join scopes on int_portfolio_periods.portfolio_id = scopes.portfolio_id
),

prices_filled as (
    select * from {{ ref('int_prices_filled_daily') }}
),

factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

-- not materialized: four lookups of a session's date by its key, not four sorts of them all
sessions as not materialized (
    select * from {{ ref('int_sessions_windowed') }}
),

-- the risk-free proxy's return on each session (its carried-forward close: 0 without a quote)
risk_free_returns as (
    select
        prices_filled.session_idx,
        prices_filled.close_price::float8
        / lag(prices_filled.close_price::float8) over (order by prices_filled.session_idx) - 1 as risk_free_return
    from prices_filled
    inner join factor_settings on prices_filled.symbol = factor_settings.risk_free_symbol
),

-- the proxy's returns as one array by session (looked up by position, 0 outside it)
risk_free as materialized (
    select
        min(risk_free_returns.session_idx) as first_idx,
        array_agg(coalesce(risk_free_returns.risk_free_return, 0) order by risk_free_returns.session_idx) as returns
    from risk_free_returns
),

-- read through their keys, one portfolio at a time, never scanned whole
portfolio_snapshots as not materialized (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

portfolio_periods as not materialized (
    select * from {{ ref('int_portfolio_periods') }}
),

-- Per portfolio of the scope, one backward pass over its series (the key's order, no sort):
-- running figures of the sessions from each session through END. Read at START + 1 they are
-- the period's return statistics; at START, the deepest drawdown of the path from START.
-- The extremes carry their session (the earliest on ties) as a second array element; the
-- deepest drawdown orders by ratio, then the first trough, then the last peak (a flat top's
-- last session), as the forward definition picks them.
figures as (
    select
        scopes.portfolio_id,
        suffixes.session_idx,
        suffixes.n_returns,
        suffixes.mean_daily_return,
        suffixes.daily_volatility,
        suffixes.mean_excess_return,
        suffixes.excess_volatility,
        suffixes.mean_risk_free_return,
        suffixes.beta,
        suffixes.correlation,
        suffixes.n_benchmark_returns,
        suffixes.best_day,
        suffixes.worst_day,
        suffixes.deepest
    from scopes
    cross join risk_free
    cross join
        lateral (
            select
                array_agg(portfolio_periods.start_idx)
                || array_agg(portfolio_periods.start_idx + 1) as start_idxs
            from portfolio_periods
            where portfolio_periods.portfolio_id = scopes.portfolio_id
        ) as starts
    -- a lateral pass per portfolio needs nested subqueries: a CTE would sort every series at once
    cross join
        lateral ( -- noqa: ST05
            select
                through_end.*,
                min(
                    array[
                        through_end.low_point[1] / nullif(through_end.growth, 0) - 1,
                        through_end.low_point[2],
                        -through_end.session_idx
                    ]
                ) over (order by through_end.session_idx desc rows between unbounded preceding and current row)
                    as deepest
            from (
                select
                    series.session_idx,
                    series.growth,
                    count(*) over running as n_returns,
                    avg(series.daily_return) over running as mean_daily_return,
                    stddev_samp(series.daily_return) over running as daily_volatility,
                    avg(series.daily_return - series.risk_free_return) over running as mean_excess_return,
                    stddev_samp(series.daily_return - series.risk_free_return) over running as excess_volatility,
                    avg(series.risk_free_return) over running as mean_risk_free_return,
                    regr_slope(series.daily_return, series.benchmark_return) over running as beta,
                    corr(series.daily_return, series.benchmark_return) over running as correlation,
                    regr_count(series.daily_return, series.benchmark_return) over running as n_benchmark_returns,
                    max(array[series.daily_return, -series.session_idx]) over running as best_day,
                    min(array[series.daily_return, series.session_idx]) over running as worst_day,
                    -- the lowest point from here through END: the trough of a drawdown peaking here
                    min(array[series.growth, series.session_idx]) over running as low_point
                from (
                    select
                        portfolio_snapshots.session_idx,
                        portfolio_snapshots.daily_return,
                        1 + portfolio_snapshots.cum_twr as growth,
                        portfolio_snapshots.benchmark_close::float8
                        / lead(portfolio_snapshots.benchmark_close::float8) over (
                            order by portfolio_snapshots.session_idx desc
                        ) - 1 as benchmark_return,
                        coalesce(risk_free.returns[portfolio_snapshots.session_idx - risk_free.first_idx + 1], 0)
                            as risk_free_return
                    from portfolio_snapshots
                    where portfolio_snapshots.portfolio_id = scopes.portfolio_id
                ) as series
                window running as (order by series.session_idx desc rows between unbounded preceding and current row)
            ) as through_end
        ) as suffixes
    -- only the rows at a period's START or START + 1 leave the lateral pass
    where suffixes.session_idx = any(starts.start_idxs)
),

-- the return figures from START + 1, the drawdown from START
statistics as (
    select
        periods.portfolio_id,
        periods.period_order,
        returns_from.n_returns,
        returns_from.mean_daily_return,
        returns_from.daily_volatility,
        returns_from.mean_excess_return,
        returns_from.excess_volatility,
        returns_from.mean_risk_free_return,
        returns_from.beta,
        returns_from.correlation,
        returns_from.n_benchmark_returns,
        returns_from.best_day[1] as best_day_return,
        -returns_from.best_day[2]::integer as best_day_idx,
        returns_from.worst_day[1] as worst_day_return,
        returns_from.worst_day[2]::integer as worst_day_idx,
        path_from.deepest[1] as max_drawdown,
        path_from.deepest[2]::integer as trough_idx,
        -path_from.deepest[3]::integer as peak_idx
    from periods
    inner join figures as path_from
        on
            periods.portfolio_id = path_from.portfolio_id
            and periods.start_idx = path_from.session_idx
    left join figures as returns_from
        on
            periods.portfolio_id = returns_from.portfolio_id
            and periods.start_idx + 1 = returns_from.session_idx
),

final as (
    select
        periods.portfolio_id,
        periods.period,
        periods.period_order,
        periods.start_date,
        periods.end_date,
        periods.is_partial,
        coalesce(statistics.n_returns, 0)::integer as n_returns,
        statistics.mean_daily_return,
        statistics.daily_volatility * sqrt(252) as annualized_volatility,
        statistics.max_drawdown,
        case when statistics.max_drawdown < 0 then peak_sessions.session_date end as drawdown_peak_date,
        case when statistics.max_drawdown < 0 then trough_sessions.session_date end as drawdown_trough_date,
        statistics.mean_excess_return / nullif(statistics.excess_volatility, 0) * sqrt(252) as sharpe_ratio,
        factor_settings.risk_free_symbol,
        statistics.mean_risk_free_return * 252 as risk_free_annual_rate,
        statistics.beta as benchmark_beta,
        statistics.correlation as benchmark_correlation,
        coalesce(statistics.n_benchmark_returns, 0)::integer as n_benchmark_returns,
        statistics.best_day_return,
        best_sessions.session_date as best_day_date,
        statistics.worst_day_return,
        worst_sessions.session_date as worst_day_date,
        factor_settings.run_id as computed_by_run
    from periods
    inner join scopes on periods.portfolio_id = scopes.portfolio_id
    cross join factor_settings
    left join statistics
        on
            periods.portfolio_id = statistics.portfolio_id
            and periods.period_order = statistics.period_order
    left join sessions as peak_sessions on statistics.peak_idx = peak_sessions.session_idx
    left join sessions as trough_sessions on statistics.trough_idx = trough_sessions.session_idx
    left join sessions as best_sessions on statistics.best_day_idx = best_sessions.session_idx
    left join sessions as worst_sessions on statistics.worst_day_idx = worst_sessions.session_idx
)

select * from final
