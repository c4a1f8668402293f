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
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
),

periods as (
    select * from {{ ref('int_portfolio_periods') }}
),

snapshots as (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

prices_filled as (
    select * from {{ ref('int_prices_filled_daily') }}
),

factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

sessions as (
    select * from {{ ref('int_sessions_windowed') }}
),

scoped_snapshots as (
    select
        snapshots.portfolio_id,
        snapshots.session_idx,
        snapshots.session_date,
        snapshots.daily_return,
        snapshots.cum_twr,
        snapshots.benchmark_close::float8
        / lag(snapshots.benchmark_close::float8) over (
            partition by snapshots.portfolio_id order by snapshots.session_idx
        ) - 1 as benchmark_return
    from snapshots
    inner join scopes on snapshots.portfolio_id = scopes.portfolio_id
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

period_days as (
    select
        periods.portfolio_id,
        periods.period,
        periods.period_order,
        periods.start_idx,
        periods.start_date,
        periods.end_idx,
        periods.end_date,
        periods.is_partial,
        scoped_snapshots.session_idx,
        scoped_snapshots.session_date,
        scoped_snapshots.daily_return,
        scoped_snapshots.benchmark_return,
        coalesce(risk_free_returns.risk_free_return, 0) as risk_free_return,
        -- wealth on the session for 1 invested at START's close
        (1 + scoped_snapshots.cum_twr) / nullif(1 + first_value(scoped_snapshots.cum_twr) over by_period, 0) as wealth
    from periods
    inner join scopes on periods.portfolio_id = scopes.portfolio_id
    inner join scoped_snapshots
        on
            periods.portfolio_id = scoped_snapshots.portfolio_id
            and scoped_snapshots.session_idx between periods.start_idx and periods.end_idx
    left join risk_free_returns on scoped_snapshots.session_idx = risk_free_returns.session_idx
    window by_period as (partition by periods.portfolio_id, periods.period_order order by scoped_snapshots.session_idx)
),

-- one sort order (portfolio, period_order, session) for every window and the aggregate below
drawdowns as (
    select
        period_days.*,
        period_days.wealth / nullif(max(period_days.wealth) over running, 0) - 1 as drawdown
    from period_days
    window running as (
        partition by period_days.portfolio_id, period_days.period_order
        order by period_days.session_idx
        rows between unbounded preceding and current row
    )
),

-- the last session at the running maximum so far (the peak a later trough falls from), and
-- the period's extremes, so the aggregate can pick their sessions without sorting again
marked as (
    select
        drawdowns.*,
        max(case when drawdowns.drawdown = 0 then drawdowns.session_idx end) over running as last_peak_idx,
        min(drawdowns.drawdown) over whole as period_max_drawdown,
        max(drawdowns.daily_return) filter (where drawdowns.session_idx > drawdowns.start_idx) over whole as period_best,
        min(drawdowns.daily_return) filter (where drawdowns.session_idx > drawdowns.start_idx) over whole as period_worst
    from drawdowns
    window
        running as (
            partition by drawdowns.portfolio_id, drawdowns.period_order
            order by drawdowns.session_idx
            rows between unbounded preceding and current row
        ),
        whole as (partition by drawdowns.portfolio_id, drawdowns.period_order)
),

-- the period's returns are the sessions after START; the drawdown path includes START
statistics as (
    select
        portfolio_id,
        period_order,
        count(*) filter (where session_idx > start_idx)::integer as n_returns,
        avg(daily_return) filter (where session_idx > start_idx) as mean_daily_return,
        stddev_samp(daily_return) filter (where session_idx > start_idx) as daily_volatility,
        avg(daily_return - risk_free_return) filter (where session_idx > start_idx) as mean_excess_return,
        stddev_samp(daily_return - risk_free_return) filter (where session_idx > start_idx) as excess_volatility,
        avg(risk_free_return) filter (where session_idx > start_idx) as mean_risk_free_return,
        regr_slope(daily_return, benchmark_return) filter (where session_idx > start_idx) as beta,
        corr(daily_return, benchmark_return) filter (where session_idx > start_idx) as correlation,
        regr_count(daily_return, benchmark_return) filter (where session_idx > start_idx)::integer as n_benchmark_returns,
        min(period_best) as best_day_return,
        min(period_worst) as worst_day_return,
        min(session_idx) filter (where session_idx > start_idx and daily_return = period_best) as best_day_idx,
        min(session_idx) filter (where session_idx > start_idx and daily_return = period_worst) as worst_day_idx,
        min(period_max_drawdown) as max_drawdown,
        -- the first session at the lowest point, and the last peak before it
        min(session_idx) filter (where drawdown = period_max_drawdown) as trough_idx,
        min(last_peak_idx) filter (where drawdown = period_max_drawdown) as peak_idx
    from marked
    group by portfolio_id, period_order
),

final as (
    select
        periods.portfolio_id,
        periods.period,
        periods.period_order,
        periods.start_date,
        periods.end_date,
        periods.is_partial,
        coalesce(statistics.n_returns, 0) as n_returns,
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
        coalesce(statistics.n_benchmark_returns, 0) as n_benchmark_returns,
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
