{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'session_idx'],
        delete_using='ops.refresh_scope as scope',
        delete_where='target.portfolio_id = scope.portfolio_id and target.session_idx >= scope.from_idx',
        indexes=[{'columns': ['session_date']}],
    )
}}
-- One row per portfolio per session: value, cost, fallbacks used, flows, the day's
-- time-weighted return and the chained return, against the benchmark. Definitions:
-- docs/semantics.md. Recomputed per portfolio from its scope's first session, chaining on
-- the stored row just before it.
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

positions as (
    select * from {{ ref('int_positions_resolved') }}
),

valuations as (
    select * from {{ ref('int_valuations_ranged') }}
),

prices_filled as (
    select * from {{ ref('int_prices_filled_daily') }}
),

sessions as (
    select * from {{ ref('int_sessions_windowed') }}
),

scoped_positions as (
    select
        positions.*,
        scopes.from_idx
    from positions
    inner join scopes on positions.portfolio_id = scopes.portfolio_id
    where positions.entry_idx is not null
),

-- first session, and last: the as-of session while anything is open, else the last exit
spans as (
    select
        scoped_positions.portfolio_id,
        scoped_positions.from_idx,
        min(scoped_positions.entry_idx) as first_idx,
        case
            when bool_or(scoped_positions.exit_idx is null or scoped_positions.exit_idx > refresh_windows.as_of_idx)
                then min(refresh_windows.as_of_idx)
            else max(scoped_positions.exit_idx)
        end as last_idx
    from scoped_positions
    cross join refresh_windows
    group by scoped_positions.portfolio_id, scoped_positions.from_idx
),

-- each position on each session from its entry (or the session before the recomputed range)
-- through its exit session (where it is no longer held but its outflow is counted)
position_days as (
    select
        scoped_positions.portfolio_id,
        scoped_positions.position_id,
        scoped_positions.symbol,
        scoped_positions.investment_class,
        scoped_positions.quantity * scoped_positions.multiplier as units,
        scoped_positions.entry_price,
        scoped_positions.exit_price,
        scoped_positions.entry_idx,
        scoped_positions.exit_idx,
        held_sessions.session_idx
    from scoped_positions
    inner join spans on scoped_positions.portfolio_id = spans.portfolio_id
    cross join lateral generate_series(
        greatest(scoped_positions.entry_idx, spans.from_idx - 1),
        least(coalesce(scoped_positions.exit_idx, spans.last_idx), spans.last_idx)
    ) as held_sessions (session_idx)
),

valued as (
    select
        position_days.portfolio_id,
        position_days.session_idx,
        position_days.session_idx < coalesce(position_days.exit_idx, 2147483647) as is_held,
        position_days.session_idx = position_days.entry_idx as is_entry,
        position_days.session_idx = position_days.exit_idx as is_exit,
        position_days.units,
        position_days.entry_price,
        position_days.exit_price,
        case
            when position_days.investment_class = 'PRIVATE'
                then case when valuations.valuation_value is not null then 'manual' else 'entry' end
            when prices_filled.close_price is null then 'entry'
            when prices_filled.stale_sessions = 0 then 'close'
            else 'stale'
        end as valued_by,
        coalesce(prices_filled.stale_sessions, 0) as stale_sessions,
        case
            when position_days.investment_class = 'PRIVATE'
                then coalesce(valuations.valuation_value, position_days.units * position_days.entry_price)
            else position_days.units * coalesce(prices_filled.close_price, position_days.entry_price)
        end as position_value
    from position_days
    left join prices_filled
        on
            position_days.symbol = prices_filled.symbol
            and position_days.session_idx = prices_filled.session_idx
            and position_days.investment_class <> 'PRIVATE'
    left join valuations
        on
            position_days.position_id = valuations.position_id
            and position_days.session_idx between valuations.from_idx and valuations.to_idx
            and position_days.investment_class = 'PRIVATE'
),

daily as (
    select
        portfolio_id,
        session_idx,
        coalesce(sum(position_value) filter (where is_held), 0) as market_value,
        coalesce(sum(units * entry_price) filter (where is_held), 0) as cost_basis,
        count(*) filter (where is_held) as positions_held,
        count(*) filter (where is_held and valued_by = 'close') as n_close,
        count(*) filter (where is_held and valued_by = 'stale') as n_stale,
        coalesce(max(stale_sessions) filter (where is_held and valued_by = 'stale'), 0) as max_stale_sessions,
        count(*) filter (where is_held and valued_by = 'entry') as n_entry,
        count(*) filter (where is_held and valued_by = 'manual') as n_manual,
        coalesce(sum(units * entry_price) filter (where is_entry), 0) as inflow,
        coalesce(sum(coalesce(units * exit_price, position_value)) filter (where is_exit), 0) as outflow
    from valued
    group by portfolio_id, session_idx
),

-- every session of the span, including ones with nothing held
span_days as (
    select
        spans.portfolio_id,
        spans.from_idx,
        spans.first_idx,
        span_sessions.session_idx
    from spans
    cross join lateral generate_series(
        greatest(spans.first_idx, spans.from_idx - 1), spans.last_idx
    ) as span_sessions (session_idx)
),

returns as (
    select
        span_days.portfolio_id,
        span_days.from_idx,
        span_days.first_idx,
        span_days.session_idx,
        coalesce(daily.market_value, 0) as market_value,
        coalesce(daily.cost_basis, 0) as cost_basis,
        coalesce(daily.positions_held, 0) as positions_held,
        coalesce(daily.n_close, 0) as n_close,
        coalesce(daily.n_stale, 0) as n_stale,
        coalesce(daily.max_stale_sessions, 0) as max_stale_sessions,
        coalesce(daily.n_entry, 0) as n_entry,
        coalesce(daily.n_manual, 0) as n_manual,
        coalesce(daily.inflow, 0) as inflow,
        coalesce(daily.outflow, 0) as outflow,
        coalesce(
            lag(daily.market_value) over (partition by span_days.portfolio_id order by span_days.session_idx),
            0
        ) as previous_value
    from span_days
    left join daily
        on
            span_days.portfolio_id = daily.portfolio_id
            and span_days.session_idx = daily.session_idx
),

daily_returns as (
    select
        returns.*,
        -- flows at the end of the day at their own price: never a gain or a loss
        case
            when returns.previous_value <> 0
                then ((returns.market_value + returns.outflow - returns.inflow) / returns.previous_value - 1)::float8
            when returns.inflow <> 0
                then ((returns.market_value + returns.outflow) / returns.inflow - 1)::float8
            else 0::float8
        end as daily_return
    from returns
    where returns.session_idx >= returns.from_idx
),

-- the chained return of the last kept row: the base the recomputed range continues from
bases as (
    select
        kept.portfolio_id,
        kept.cum_twr
    from {{ this }} as kept
    inner join scopes
        on
            kept.portfolio_id = scopes.portfolio_id
            and kept.session_idx = scopes.from_idx - 1
),

chained as (
    select
        daily_returns.*,
        coalesce(bases.cum_twr, 0) as base_twr,
        sum(ln(greatest(1 + daily_returns.daily_return, 1e-300))) over running as log_growth,
        count(*) filter (where daily_returns.daily_return <= -1) over running as wipeouts
    from daily_returns
    left join bases on daily_returns.portfolio_id = bases.portfolio_id
    window running as (
        partition by daily_returns.portfolio_id
        order by daily_returns.session_idx
        rows between unbounded preceding and current row
    )
),

final as (
    select
        chained.portfolio_id,
        chained.session_idx,
        sessions.session_date,
        chained.market_value,
        chained.cost_basis,
        chained.market_value - chained.cost_basis as unrealized_pnl,
        chained.positions_held,
        chained.n_close,
        chained.n_stale,
        chained.max_stale_sessions,
        chained.n_entry,
        chained.n_manual,
        chained.inflow,
        chained.outflow,
        chained.daily_return,
        case
            when chained.wipeouts > 0 then -1::float8
            else (1 + chained.base_twr) * exp(chained.log_growth) - 1
        end as cum_twr,
        portfolios.benchmark_symbol,
        benchmark.close_price as benchmark_close,
        benchmark.close_price / nullif(benchmark_base.close_price, 0) - 1 as benchmark_cum_return,
        chained.first_idx,
        refresh_windows.run_id as computed_by_run
    from chained
    inner join sessions on chained.session_idx = sessions.session_idx
    inner join portfolios on chained.portfolio_id = portfolios.portfolio_id
    cross join refresh_windows
    left join prices_filled as benchmark
        on
            portfolios.benchmark_symbol = benchmark.symbol
            and chained.session_idx = benchmark.session_idx
    left join prices_filled as benchmark_base
        on
            portfolios.benchmark_symbol = benchmark_base.symbol
            and chained.first_idx = benchmark_base.session_idx
)

select * from final
