{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'symbol'],
        refresh_scope='portfolios',
        chunk_by_portfolio=true,
    )
}}
-- One row per portfolio per holding (symbol) at the portfolio's last snapshot session END:
-- positions and the ledger's lots held then, valued by the snapshot's rules (close, last
-- close, entry price; PRIVATE: last valuation, else cost). docs/semantics.md, "Holdings".
with scopes as (
    select * from {{ ref('stg_ops__refresh_scope_chunks') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

-- not materialized: read through its (portfolio_id, session_idx) key, for the scope's
-- portfolios only (as a CTE it was scanned whole, every snapshot of every portfolio, for
-- each chunk: 1.5 s of a one-portfolio refresh at 1,000 portfolios)
snapshots as not materialized (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

positions as not materialized (
    select
        portfolio_id, position_id, symbol, investment_class, quantity, multiplier, entry_price,
        entry_idx, exit_idx, entry_split_ratio, false as is_ledger
    from {{ ref('int_positions_split_in_scope') }}
    union all
    select
        portfolio_id, position_id, symbol, investment_class, quantity, multiplier, entry_price,
        entry_idx, exit_idx, null::numeric as entry_split_ratio, true as is_ledger
    from {{ ref('int_lots_matched') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

{{ valuation_inputs() }},

-- each scoped portfolio's last session: one backward lookup of the key, not an aggregate over
-- its whole series (as a lateral, once: a scalar subquery tested for null was looked up twice);
-- a portfolio without snapshots has no END and no holdings
ends as (
    select
        scopes.portfolio_id,
        last_snapshots.end_idx
    from scopes
    cross join lateral (
        select snapshots.session_idx as end_idx
        from snapshots
        where snapshots.portfolio_id = scopes.portfolio_id
        order by snapshots.session_idx desc
        limit 1
    ) as last_snapshots
),

-- each scoped portfolio's snapshot at END, once (materialized: joined to every held row, it
-- was planned as a probe of the portfolio's whole series per row, 2,016 snapshots x 149 rows
-- for one ledger)
latest as materialized (
    select snapshots.*
    from snapshots
    inner join ends
        on
            snapshots.portfolio_id = ends.portfolio_id
            and snapshots.session_idx = ends.end_idx
),

held as (
    select
        positions.*,
        ends.end_idx,
        (positions.quantity * positions.multiplier) as units,
        coalesce(symbols.trading_currency, 'USD') as trading_currency,
        coalesce(currencies.whole_currency, 'USD') as whole_currency,
        coalesce(currencies.units_per_whole, 1) as units_per_whole,
        portfolios.base_currency,
        -- the ledger's holding holds a lot of unknown cost (paid from cash in another currency
        -- with no rate): its cost and value are unknown, rule none (as in the snapshot)
        bool_or(positions.is_ledger and positions.entry_price is null) over (
            partition by positions.portfolio_id, positions.symbol, positions.is_ledger
        ) as is_cost_unknown
    from positions
    inner join ends on positions.portfolio_id = ends.portfolio_id
    inner join portfolios on positions.portfolio_id = portfolios.portfolio_id
    left join symbols on positions.symbol = symbols.symbol
    left join currencies on symbols.trading_currency = currencies.currency
    where
        positions.entry_idx <= ends.end_idx
        and coalesce(positions.exit_idx, 2147483647) > ends.end_idx
),

-- the factor of each held position or lot into the base currency (docs/semantics.md,
-- "Currencies"): at END and the session before for its value, at its entry for its cost
-- (1: PRIVATE positions, valued in the base; the ledger's cost, paid in base-currency cash);
-- null without a rate, never 1.0
-- (materialized: inlined, its six rate joins and the four price and valuation joins of
-- `valued` were one join problem of about a dozen relations, whose search was most of this
-- statement's planning: 12.7 -> 9.0 ms at best, median 32 -> 20 ms, under load; every
-- refresh in a new session, pg_cron's and `folio refresh`'s, plans it)
held_fx as materialized (
    select
        held.*,
        case
            when held.investment_class = 'PRIVATE' or held.whole_currency = held.base_currency then 1.0
            else coalesce(end_fx.fx_rate, end_activity.fx_rate)
        end / case when held.investment_class = 'PRIVATE' then 1 else held.units_per_whole end as end_fx,
        case
            when held.investment_class = 'PRIVATE' or held.whole_currency = held.base_currency then 1.0
            else coalesce(before_fx.fx_rate, before_activity.fx_rate)
        end / case when held.investment_class = 'PRIVATE' then 1 else held.units_per_whole end as before_fx,
        case
            when held.investment_class = 'PRIVATE' or held.is_ledger then 1.0
            when held.whole_currency = held.base_currency then 1.0 / held.units_per_whole
            else coalesce(entry_fx.fx_rate, entry_activity.fx_rate) / held.units_per_whole
        end as entry_fx,
        case
            when held.investment_class = 'PRIVATE' or held.whole_currency = held.base_currency then 'base'
            else coalesce(end_activity.fx_rule, end_fx.fx_rule, 'none')
        end as fx_rule,
        case
            when held.whole_currency <> held.base_currency then coalesce(end_fx.fx_rate, end_activity.fx_rate)
        end as fx_rate
    from held
    left join fx_conversions as end_fx
        on
            held.whole_currency = end_fx.currency
            and held.base_currency = end_fx.base_currency
            and held.end_idx = end_fx.session_idx
    left join fx_conversions as before_fx
        on
            held.whole_currency = before_fx.currency
            and held.base_currency = before_fx.base_currency
            and held.end_idx - 1 = before_fx.session_idx
    left join fx_conversions as entry_fx
        on
            held.whole_currency = entry_fx.currency
            and held.base_currency = entry_fx.base_currency
            and held.entry_idx = entry_fx.session_idx
    left join fx_activity_rates as end_activity
        on
            held.portfolio_id = end_activity.portfolio_id
            and held.whole_currency = end_activity.currency
            and held.base_currency = end_activity.base_currency
            and held.end_idx = end_activity.session_idx
    left join fx_activity_rates as before_activity
        on
            held.portfolio_id = before_activity.portfolio_id
            and held.whole_currency = before_activity.currency
            and held.base_currency = before_activity.base_currency
            and held.end_idx - 1 = before_activity.session_idx
    left join fx_activity_rates as entry_activity
        on
            held.portfolio_id = entry_activity.portfolio_id
            and held.whole_currency = entry_activity.currency
            and held.base_currency = entry_activity.base_currency
            and held.entry_idx = entry_activity.session_idx
),

-- the closes the held symbols need, at END and on the session before: once per symbol and
-- END (the portfolios share the as-of session: ~500 pairs of lookups at 1,000 portfolios, not
-- two per held position, 12,700 pairs; materialized, so they are looked up once)
end_closes as materialized (
    select
        symbol_ends.symbol,
        symbol_ends.end_idx,
        end_prices.close_price as end_close,
        before_prices.close_price as before_close
    from (select distinct held_fx.symbol, held_fx.end_idx from held_fx) as symbol_ends
    left join prices_filled as end_prices
        on
            symbol_ends.symbol = end_prices.symbol
            and symbol_ends.end_idx = end_prices.session_idx
    left join prices_filled as before_prices
        on
            symbol_ends.symbol = before_prices.symbol
            and symbol_ends.end_idx - 1 = before_prices.session_idx
),

-- each held position or lot at END, and (held the session before) at the session before
valued as (
    select
        held.portfolio_id,
        held.symbol,
        held.investment_class,
        held.units,
        held.trading_currency,
        -- a ledger lot before its symbol's first close is worth its cost, the base-currency
        -- cash paid: nothing converted (rule base, no rate), and a local value only when the
        -- symbol trades in the base currency itself
        case
            when held.is_cost_unknown then 'none'
            when held.is_ledger and end_closes.end_close is null then 'base'
            else held.fx_rule
        end as fx_rule,
        case
            when held.is_cost_unknown then null
            when not held.is_ledger or end_closes.end_close is not null then held.fx_rate
        end as fx_rate,
        case when not held.is_cost_unknown then held.units * held.entry_price * held.entry_fx end as cost,
        case
            when held.is_cost_unknown then null
            when held.investment_class = 'PRIVATE'
                then coalesce(end_valuations.valuation_value, held.units * held.entry_price)
            -- the ledger's cost per unit is in the base currency already
            when held.is_ledger and end_closes.end_close is null then held.units * held.entry_price
            else held.units * coalesce(end_closes.end_close, held.entry_price) * held.end_fx
        end as market_value,
        case
            when
                held.investment_class <> 'PRIVATE'
                and (
                    not held.is_ledger
                    or end_closes.end_close is not null
                    or held.trading_currency = held.base_currency
                )
                then held.units * coalesce(end_closes.end_close, held.entry_price)
        end as local_market_value,
        case
            -- a position piece that starts at a split on END: its units before the split
            when held.entry_idx = held.end_idx and held.entry_split_ratio is not null
                then
                    held.units / held.entry_split_ratio
                    * coalesce(end_closes.before_close, held.entry_price * held.entry_split_ratio)
                    * held.before_fx
            when held.entry_idx = held.end_idx then held.units * held.entry_price * held.entry_fx
            when held.investment_class = 'PRIVATE'
                then coalesce(before_valuations.valuation_value, held.units * held.entry_price)
            when held.is_ledger and end_closes.before_close is null then held.units * held.entry_price
            else held.units * coalesce(end_closes.before_close, held.entry_price) * held.before_fx
        end as previous_value
    from held_fx as held
    left join end_closes
        on
            held.symbol = end_closes.symbol
            and held.end_idx = end_closes.end_idx
    left join valuations as end_valuations
        on
            held.position_id = end_valuations.position_id
            and held.end_idx between end_valuations.from_idx and end_valuations.to_idx
    left join valuations as before_valuations
        on
            held.position_id = before_valuations.position_id
            and held.end_idx - 1 between before_valuations.from_idx and before_valuations.to_idx
),

final as (
    select
        valued.portfolio_id,
        valued.symbol,
        min(valued.investment_class) as investment_class,
        latest.session_date as as_of,
        sum(valued.units)::float8 as quantity,
        sum(valued.cost)::float8 as cost_basis,
        sum(valued.market_value)::float8 as market_value,
        sum(valued.market_value - valued.cost)::float8 as unrealized_pnl,
        (sum(valued.market_value) / nullif(latest.market_value, 0))::float8 as weight,
        -- the session's change: from the previous close (from the price paid if bought on END)
        sum(valued.market_value - valued.previous_value)::float8 as day_change,
        refresh_windows.run_id as computed_by_run,
        -- currencies: the holding's value as quoted, the rate into the base at as_of, its rule
        min(valued.trading_currency) as trading_currency,
        sum(valued.local_market_value)::float8 as local_market_value,
        min(valued.fx_rate)::float8 as fx_rate,
        min(valued.fx_rule) as fx_rule
    from valued
    inner join latest on valued.portfolio_id = latest.portfolio_id
    cross join refresh_windows
    group by valued.portfolio_id, valued.symbol, latest.session_date, latest.market_value, refresh_windows.run_id
)

select * from final
