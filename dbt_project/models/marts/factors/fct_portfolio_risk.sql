{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'period'],
        refresh_scope='portfolios',
    )
}}
-- One row per portfolio per chart period (int_portfolio_periods): risk figures of the daily
-- time-weighted returns r(d) of the sessions START < d <= END (the returns the period's TWR
-- chains). Conventions (docs/factors.md): sample standard deviations (n - 1), 252 sessions a
-- year, drawdowns on the wealth path starting at 1 on START, Sharpe on daily excess returns
-- over the risk-free proxy (0 on a session where it has no return), beta and correlation on
-- the benchmark's daily returns.
--
-- A period is read as pieces (macros/risk_pieces.sql): its head, the sessions from START to
-- the end of START's block (or END), summarized from the snapshots, then the stored blocks
-- after it through END's (int_portfolio_risk_blocks). The pieces combine in order, so a
-- period costs at most one block of sessions plus one row per block. A period starting at the
-- portfolio's first session (MAX, and any period longer than the portfolio) is one stored
-- piece, the history to date (int_portfolio_risk_to_date), however long the history.
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
),

-- the scope's periods only, by index (a CTE of the whole table is scanned whole)
periods as materialized (
    select
        int_portfolio_periods.*,
        int_portfolio_periods.is_partial or int_portfolio_periods.period = 'MAX' as is_to_date
    from {{ ref('int_portfolio_periods') }} as int_portfolio_periods
    inner join scopes on int_portfolio_periods.portfolio_id = scopes.portfolio_id
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

symbol_returns as materialized (
    select * from {{ ref('int_risk_symbol_returns') }}
),

-- not materialized: five lookups of a session's date by its key (calendar, session_idx), not
-- five sorts of them all. Read from the calendar itself, the window by scalar subqueries:
-- through int_sessions_windowed (a join with the window) each lookup was a scan of every
-- session (6,769 in scenario h) per date and period, 25 ms of this step's 31 ms for an edit.
sessions as not materialized (
    select
        trading_days.session_date,
        trading_days.session_idx
    from {{ ref('stg_market__trading_days') }} as trading_days
    where
        trading_days.calendar = (select windows.calendar from {{ ref('stg_ops__refresh_windows') }} as windows)
        and trading_days.session_idx <= (select windows.as_of_idx from {{ ref('stg_ops__refresh_windows') }} as windows)
),

-- read through their keys, one period at a time, never scanned whole
snapshots as not materialized (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

blocks as not materialized (
    select * from {{ ref('int_portfolio_risk_blocks') }}
),

to_date as not materialized (
    select * from {{ ref('int_portfolio_risk_to_date') }}
),

-- each period's pieces: its head from the snapshots (START's own return is not in the period,
-- START is on its wealth path), then its whole blocks; or its history to date
pieces as (
    select
        periods.portfolio_id,
        periods.period_order,
        {{ risk_piece_columns('head') }}
    from periods
    {{ join_risk_series('periods.portfolio_id') }}
    cross join {{ risk_head_piece('periods.portfolio_id', 'periods.start_idx', 'periods.end_idx') }} as head
    where not periods.is_to_date
    union all
    select
        periods.portfolio_id,
        periods.period_order,
        {{ risk_piece_columns('blocks') }}
    from periods
    inner join blocks
        on
            periods.portfolio_id = blocks.portfolio_id
            and blocks.block_no > periods.start_idx / {{ var('risk_block_sessions') }}
            and blocks.block_no <= periods.end_idx / {{ var('risk_block_sessions') }}
    where not periods.is_to_date
    union all
    select
        periods.portfolio_id,
        periods.period_order,
        {{ risk_piece_columns('to_date') }}
    from periods
    inner join to_date
        on
            periods.portfolio_id = to_date.portfolio_id
            and periods.end_idx / {{ var('risk_block_sessions') }} = to_date.block_no
    where periods.is_to_date
),

-- over each period's pieces: the highest point before each piece (a drawdown from it may
-- bottom out in the piece), and the period's means, which the spreads are taken about
placed as (
    select
        pieces.*,
        max(pieces.high_point) over earlier as earlier_high,
        sum(pieces.n_returns * pieces.mean_return) over whole
        / nullif(sum(pieces.n_returns) over whole, 0) as period_mean_return,
        sum(pieces.n_returns * pieces.mean_excess) over whole
        / nullif(sum(pieces.n_returns) over whole, 0) as period_mean_excess,
        sum(pieces.n_pairs * pieces.mean_pair_return) over whole
        / nullif(sum(pieces.n_pairs) over whole, 0) as period_mean_pair_return,
        sum(pieces.n_pairs * pieces.mean_benchmark) over whole
        / nullif(sum(pieces.n_pairs) over whole, 0) as period_mean_benchmark
    from pieces
    window
        whole as (partition by pieces.portfolio_id, pieces.period_order),
        earlier as (
            partition by pieces.portfolio_id, pieces.period_order
            order by pieces.first_idx
            rows between unbounded preceding and 1 preceding
        )
),

-- the pieces combined: counts add; squared and cross deviations add with each piece's mean's
-- deviation from the period's; the deepest drawdown is a piece's own or one from an earlier
-- high to a piece's low (ties: the first trough, then the last peak)
statistics as (
    select
        placed.portfolio_id,
        placed.period_order,
        sum(placed.n_returns) as n_returns,
        max(placed.period_mean_return) as mean_daily_return,
        sum(placed.m2_return + placed.n_returns * (placed.mean_return - placed.period_mean_return) ^ 2)
            as m2_return,
        sum(placed.n_quoted) as n_quoted_returns,
        max(placed.period_mean_excess) as mean_excess_return,
        sum(placed.m2_excess + placed.n_returns * (placed.mean_excess - placed.period_mean_excess) ^ 2)
            as m2_excess,
        sum(placed.n_returns * placed.mean_risk_free) / nullif(sum(placed.n_returns), 0)
            as mean_risk_free_return,
        sum(placed.n_pairs) as n_benchmark_returns,
        sum(
            placed.m2_pair_return
            + placed.n_pairs * (placed.mean_pair_return - placed.period_mean_pair_return) ^ 2
        ) as m2_pair_return,
        sum(placed.m2_benchmark + placed.n_pairs * (placed.mean_benchmark - placed.period_mean_benchmark) ^ 2)
            as m2_benchmark,
        sum(
            placed.co_moment
            + placed.n_pairs
            * (placed.mean_pair_return - placed.period_mean_pair_return)
            * (placed.mean_benchmark - placed.period_mean_benchmark)
        ) as co_moment,
        max(placed.best_day) as best_day,
        min(placed.worst_day) as worst_day,
        min(
            least(
                placed.deepest,
                case
                    when placed.earlier_high is not null
                        then array[
                            placed.low_point[1] / nullif(placed.earlier_high[1], 0) - 1,
                            placed.low_point[2],
                            -placed.earlier_high[2]
                        ]
                end
            )
        ) as deepest
    from placed
    group by placed.portfolio_id, placed.period_order
),

figures as (
    select
        statistics.portfolio_id,
        statistics.period_order,
        statistics.n_returns,
        statistics.n_quoted_returns,
        statistics.mean_daily_return,
        case
            when statistics.n_returns > 1 then sqrt(statistics.m2_return / (statistics.n_returns - 1))
        end as daily_volatility,
        statistics.mean_excess_return,
        case
            when statistics.n_returns > 1 then sqrt(statistics.m2_excess / (statistics.n_returns - 1))
        end as excess_volatility,
        statistics.mean_risk_free_return,
        statistics.co_moment / nullif(statistics.m2_benchmark, 0) as beta,
        statistics.co_moment
        / nullif(sqrt(statistics.m2_benchmark) * sqrt(statistics.m2_pair_return), 0) as correlation,
        statistics.n_benchmark_returns,
        statistics.best_day[1] as best_day_return,
        -statistics.best_day[2]::integer as best_day_idx,
        statistics.worst_day[1] as worst_day_return,
        statistics.worst_day[2]::integer as worst_day_idx,
        statistics.deepest[1] as max_drawdown,
        statistics.deepest[2]::integer as trough_idx,
        -statistics.deepest[3]::integer as peak_idx
    from statistics
),

-- A Sharpe ratio is published only when it means something (docs/factors.md): at least two
-- returns, at least risk_min_quoted_share of them with a real quote on both days, and an
-- annualized spread of the excess returns of at least sharpe_min_excess_volatility (a frozen
-- value over a T-bill rate gives a ratio of about −1,000,000: right by the formula, useless).
published as (
    select
        figures.*,
        figures.excess_volatility * sqrt(252) as annualized_excess_volatility,
        case
            when figures.n_returns < 2 then 'fewer than two returns'
            when figures.n_quoted_returns < factor_settings.risk_min_quoted_share * figures.n_returns
                then format(
                    'too few sessions with a real quote: %s of %s returns (at least %s %% needed)',
                    figures.n_quoted_returns, figures.n_returns, factor_settings.risk_min_quoted_share * 100
                )
            when
                coalesce(figures.excess_volatility * sqrt(252), 0) < factor_settings.sharpe_min_excess_volatility
                then format(
                    'excess returns too flat: annualized spread %s below the floor %s',
                    trim(to_char(coalesce(figures.excess_volatility * sqrt(252), 0), '9.9EEEE')),
                    factor_settings.sharpe_min_excess_volatility
                )
        end as sharpe_null_reason
    from figures
    cross join factor_settings
),

final as (
    select
        periods.portfolio_id,
        periods.period,
        periods.period_order,
        periods.start_date,
        periods.end_date,
        periods.is_partial,
        coalesce(figures.n_returns, 0)::integer as n_returns,
        coalesce(figures.n_quoted_returns, 0)::integer as n_quoted_returns,
        figures.mean_daily_return,
        figures.daily_volatility * sqrt(252) as annualized_volatility,
        figures.max_drawdown,
        case when figures.max_drawdown < 0 then peak_sessions.session_date end as drawdown_peak_date,
        case when figures.max_drawdown < 0 then trough_sessions.session_date end as drawdown_trough_date,
        case
            when figures.sharpe_null_reason is null
                then figures.mean_excess_return / nullif(figures.excess_volatility, 0) * sqrt(252)
        end as sharpe_ratio,
        case
            when figures.portfolio_id is null then 'fewer than two returns'
            else figures.sharpe_null_reason
        end as sharpe_null_reason,
        factor_settings.risk_free_symbol,
        figures.mean_risk_free_return * 252 as risk_free_annual_rate,
        -- whether the risk-free proxy had data for the period: a named symbol without prices is
        -- a rate of 0, and says so
        case
            when factor_settings.risk_free_symbol is null then 'zero rate'
            when
                risk_free.symbol is null
                or risk_free.last_quote_idx is null
                or risk_free.last_quote_idx <= periods.start_idx
                or risk_free.first_idx >= periods.end_idx
                then 'none'
            when risk_free.first_idx > periods.start_idx then 'partial'
            else 'full'
        end as risk_free_coverage,
        case
            when factor_settings.risk_free_symbol is null then null
            when risk_free.symbol is null or risk_free.last_quote_idx is null
                then format('%s has no prices: the risk-free rate is taken as 0', factor_settings.risk_free_symbol)
            when risk_free.last_quote_idx <= periods.start_idx or risk_free.first_idx >= periods.end_idx
                then format(
                    '%s has no quote in the period: the risk-free rate is taken as 0', factor_settings.risk_free_symbol
                )
            when risk_free.first_idx > periods.start_idx
                then format(
                    '%s has prices only from %s: the risk-free rate is 0 before',
                    factor_settings.risk_free_symbol, risk_free_sessions.session_date
                )
        end as risk_free_note,
        figures.beta as benchmark_beta,
        figures.correlation as benchmark_correlation,
        coalesce(figures.n_benchmark_returns, 0)::integer as n_benchmark_returns,
        figures.best_day_return,
        best_sessions.session_date as best_day_date,
        figures.worst_day_return,
        worst_sessions.session_date as worst_day_date,
        factor_settings.run_id as computed_by_run
    from periods
    inner join scopes on periods.portfolio_id = scopes.portfolio_id
    cross join factor_settings
    left join published as figures
        on
            periods.portfolio_id = figures.portfolio_id
            and periods.period_order = figures.period_order
    left join symbol_returns as risk_free on factor_settings.risk_free_symbol = risk_free.symbol
    left join sessions as risk_free_sessions on risk_free.first_idx = risk_free_sessions.session_idx
    left join sessions as peak_sessions on figures.peak_idx = peak_sessions.session_idx
    left join sessions as trough_sessions on figures.trough_idx = trough_sessions.session_idx
    left join sessions as best_sessions on figures.best_day_idx = best_sessions.session_idx
    left join sessions as worst_sessions on figures.worst_day_idx = worst_sessions.session_idx
)

select * from final
