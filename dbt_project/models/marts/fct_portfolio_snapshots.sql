{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'session_idx'],
        refresh_scope='portfolios_from_session',
        indexes=[{'columns': ['session_date']}],
        chunk_by_portfolio=true,
    )
}}
-- One row per portfolio per session: value, cost, fallbacks used, flows, the day's
-- time-weighted return and the chained return, against the benchmark (docs/semantics.md).
-- Recomputed per portfolio from its scope's first session, chaining on the stored row before.
--
-- How it stays fast: only the market value of quoted positions needs a row per position per
-- session. Everything else (positions held, cost, entry-price and manual valuations, PRIVATE
-- values) is a step function, computed from a handful of change events per position and
-- accumulated with a running sum; stale closes are rare symbol-days joined directly.
-- the chunk of the scope this statement computes (the model is chunked: chunk_by_portfolio)
with scopes as (
    select * from {{ ref('stg_ops__refresh_scope_chunks') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

-- the chunk's portfolios (read six times: whole, every refresh read and hashed every portfolio
-- six times, 10,000 of them for an upload's one)
portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

-- the ledger's lot pieces (read twice: holdings and realized gains), stored by int_lots_matched
lots as (
    select * from {{ ref('int_lots_matched') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

-- the units each ledger buys or transfers in per symbol and session (in that session's terms):
-- the rest of what it holds at the close was carried from the previous one (the currency part)
ledger_buys as (
    select
        activities.portfolio_id,
        activities.symbol,
        calendar_dates.session_idx,
        sum(activities.quantity) as units
    from {{ ref('stg_core__activities') }} as activities
    inner join {{ ref('int_calendar_dates_mapped') }} as calendar_dates
        on activities.activity_date = calendar_dates.calendar_date
    where
        activities.portfolio_id in (select scopes.portfolio_id from scopes)
        and activities.activity_type in ('BUY', 'TRANSFER_IN')
        and activities.symbol is not null
    group by activities.portfolio_id, activities.symbol, calendar_dates.session_idx
),

-- the ledger's holdings: per symbol, the units and cost held from a session where they change
-- until the next (valued like positions: one row per symbol held, not per lot); a lot of
-- unknown cost (paid from cash in another currency with no rate) leaves the holding's cost
-- unknown while it is held (d_unknown: such pieces held)
holding_changes as (
    select
        portfolio_id,
        symbol,
        entry_idx as session_idx,
        quantity as d_units,
        quantity * entry_price as d_cost,
        case when entry_price is null then 1 else 0 end as d_unknown
    from lots
    union all
    select
        portfolio_id,
        symbol,
        exit_idx,
        -quantity,
        -quantity * entry_price,
        case when entry_price is null then -1 else 0 end
    from lots
    where exit_idx is not null
),

holding_levels as (
    select
        portfolio_id,
        symbol,
        session_idx,
        sum(sum(d_units)) over symbol_changes as units,
        case when sum(sum(d_unknown)) over symbol_changes = 0 then sum(sum(d_cost)) over symbol_changes end as cost,
        lead(session_idx) over (partition by portfolio_id, symbol order by session_idx) as next_idx
    from holding_changes
    group by portfolio_id, symbol, session_idx
    window symbol_changes as (
        partition by portfolio_id, symbol
        order by session_idx
        rows between unbounded preceding and current row
    )
),

-- positions (cut at the market's splits), and the ledger's holdings (valued the same way; their
-- flows are the cash's)
positions as not materialized (
    select
        portfolio_id,
        position_id,
        symbol,
        investment_class,
        quantity,
        entry_price,
        exit_price,
        entry_date,
        exit_date,
        multiplier,
        entry_idx,
        exit_idx,
        expiry_idx,
        expiry_value,
        false as is_ledger,
        enters_by_split,
        leaves_by_split,
        -- the units carried into the entry session from the previous close: a piece cut at a
        -- split carries all its units, a position entering none
        case when enters_by_split then quantity else 0 end as entry_carried
    from {{ ref('int_positions_split_in_scope') }}
    union all
    select
        holding_levels.portfolio_id,
        null::bigint as position_id,
        holding_levels.symbol,
        'PUBLIC' as investment_class,
        holding_levels.units as quantity,
        holding_levels.cost / holding_levels.units as entry_price,
        null::numeric as exit_price,
        null::date as entry_date,
        null::date as exit_date,
        1 as multiplier,
        holding_levels.session_idx as entry_idx,
        holding_levels.next_idx as exit_idx,
        null::integer as expiry_idx,
        null::numeric as expiry_value,
        true as is_ledger,
        false as enters_by_split,
        false as leaves_by_split,
        greatest(holding_levels.units - coalesce(ledger_buys.units, 0), 0) as entry_carried
    from holding_levels
    left join ledger_buys
        on
            holding_levels.portfolio_id = ledger_buys.portfolio_id
            and holding_levels.symbol = ledger_buys.symbol
            and holding_levels.session_idx = ledger_buys.session_idx
    where holding_levels.units > 0
),

-- the ledger's cash in every currency it keeps (docs/semantics.md, "Currencies")
all_cash as not materialized (
    select * from {{ ref('int_cash_daily') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

-- the base currency's cash: as stored
ledger_cash as not materialized (
    select all_cash.*
    from all_cash
    inner join portfolios on all_cash.portfolio_id = portfolios.portfolio_id
    where all_cash.currency = portfolios.base_currency
),

sessions as not materialized (
    select * from {{ ref('int_sessions_windowed') }}
),

{{ valuation_inputs() }},

scoped_positions as (
    select
        positions.portfolio_id,
        positions.position_id,
        positions.symbol,
        positions.investment_class = 'PRIVATE' as is_private,
        (positions.quantity * positions.multiplier)::float8 as units,
        positions.entry_price::float8 as entry_price,
        positions.exit_price::float8 as exit_price,
        positions.entry_idx,
        positions.exit_idx,
        positions.expiry_idx,
        positions.expiry_value::float8 as expiry_value,
        positions.is_ledger,
        positions.enters_by_split,
        positions.leaves_by_split,
        scopes.from_idx,
        (positions.entry_carried * positions.multiplier)::float8 as entry_carried
    from positions
    inner join scopes on positions.portfolio_id = scopes.portfolio_id
    where positions.entry_idx is not null
),

-- first session, and last: the as-of session while anything is open, else the last exit;
-- start: the first session computed (one before the scope, for the previous value)
-- (a ledger's cash events count as held from their session on: a ledger runs to the as-of session)
span_inputs as (
    select
        portfolio_id,
        from_idx,
        entry_idx,
        exit_idx
    from scoped_positions
    union all
    select
        all_cash.portfolio_id,
        scopes.from_idx,
        all_cash.session_idx,
        null
    from all_cash
    inner join scopes on all_cash.portfolio_id = scopes.portfolio_id
),

spans as (
    select
        span_inputs.portfolio_id,
        min(span_inputs.from_idx) as from_idx,
        min(span_inputs.entry_idx) as first_idx,
        greatest(min(span_inputs.entry_idx), min(span_inputs.from_idx) - 1) as start_idx,
        case
            when bool_or(span_inputs.exit_idx is null or span_inputs.exit_idx > refresh_windows.as_of_idx)
                then refresh_windows.as_of_idx
            else max(span_inputs.exit_idx)
        end as last_idx
    from span_inputs
    cross join refresh_windows
    group by span_inputs.portfolio_id, refresh_windows.as_of_idx
),

span_positions as (
    select
        scoped_positions.*,
        spans.start_idx,
        spans.last_idx
    from scoped_positions
    inner join spans on scoped_positions.portfolio_id = spans.portfolio_id
    where
        scoped_positions.entry_idx <= spans.last_idx
        and coalesce(scoped_positions.exit_idx, 2147483647) > spans.start_idx
),

-- each quoted symbol's filled closes as one array from the first session needed
needed_symbols as (
    select
        needed.symbol,
        min(needed.from_idx) as from_idx
    from (
        select
            span_positions.symbol,
            greatest(span_positions.entry_idx, span_positions.start_idx) as from_idx
        from span_positions
        where not span_positions.is_private
        union all
        -- benchmarks, from each portfolio's first session (the base of its cumulative return)
        select
            portfolios.benchmark_symbol,
            spans.first_idx
        from spans
        inner join portfolios on spans.portfolio_id = portfolios.portfolio_id
    ) as needed
    group by needed.symbol
),

-- (per symbol, a range of the key (symbol, session_idx): joined, the whole table was read
-- for an edit that needs its last sessions)
symbol_series as (
    select
        needed_symbols.symbol,
        series.base_idx,
        series.closes
    from needed_symbols
    cross join
        lateral (
            select
                min(prices_filled.session_idx) as base_idx,
                array_agg(prices_filled.close_price::float8 order by prices_filled.session_idx) as closes
            from prices_filled
            where
                prices_filled.symbol = needed_symbols.symbol
                and prices_filled.session_idx >= needed_symbols.from_idx
        ) as series
    where series.closes is not null
),

-- the first quote of each held symbol: before it a position is valued at its entry price
-- (materialized: one lookup per symbol; inlined, a plan could look every needed symbol up
-- again for each quoted position: 90 x 21 lookups, 30 % of scenario h's edit statement)
first_quotes as materialized (
    select
        needed_symbols.symbol,
        first_quote.session_idx as first_quote_idx
    from needed_symbols
    cross join lateral (
        select prices_filled.session_idx
        from prices_filled
        where prices_filled.symbol = needed_symbols.symbol
        order by prices_filled.session_idx
        limit 1
    ) as first_quote
),

-- each quoted position's trading currency (as a whole currency: GBp is GBP / 100) and its
-- portfolio's base currency (docs/semantics.md, "Currencies")
public_positions as (
    select
        span_positions.*,
        coalesce(first_quotes.first_quote_idx, 2147483647) as first_quote_idx,
        coalesce(currencies.whole_currency, 'USD') as whole_currency,
        portfolios.base_currency,
        (1 / coalesce(currencies.units_per_whole, 1))::float8 as unit_factor,
        -- valued in the base currency by the unit factor alone (held_values)
        coalesce(currencies.whole_currency, 'USD') = portfolios.base_currency
        and not (span_positions.is_ledger and span_positions.entry_price is null) as is_in_base
    from span_positions
    inner join portfolios on span_positions.portfolio_id = portfolios.portfolio_id
    left join first_quotes on span_positions.symbol = first_quotes.symbol
    left join symbols on span_positions.symbol = symbols.symbol
    left join currencies on symbols.trading_currency = currencies.currency
    where not span_positions.is_private
),

-- each portfolio's benchmark currency (the benchmark is measured in the base currency too)
benchmark_currencies as (
    select
        portfolios.portfolio_id,
        portfolios.base_currency,
        coalesce(currencies.whole_currency, 'USD') as whole_currency,
        (1 / coalesce(currencies.units_per_whole, 1))::float8 as unit_factor
    from portfolios
    inner join spans on portfolios.portfolio_id = spans.portfolio_id
    left join symbols on portfolios.benchmark_symbol = symbols.symbol
    left join currencies on symbols.trading_currency = currencies.currency
),

-- the cash kept in another currency than the base (activities without fx_rate): per
-- portfolio, currency and session of its span, the session's changes in that currency
-- (changes before the start count at the start: the balance; flows, income and costs only
-- on their own session)
foreign_cash_changes as (
    select
        all_cash.portfolio_id,
        all_cash.currency as whole_currency,
        portfolios.base_currency,
        greatest(all_cash.session_idx, spans.start_idx) as session_idx,
        sum(all_cash.cash_change) as cash_change,
        sum(all_cash.inflow) filter (where all_cash.session_idx >= spans.start_idx) as inflow,
        sum(all_cash.outflow) filter (where all_cash.session_idx >= spans.start_idx) as outflow,
        sum(all_cash.income) filter (where all_cash.session_idx >= spans.start_idx) as income,
        sum(all_cash.costs) filter (where all_cash.session_idx >= spans.start_idx) as costs
    from all_cash
    inner join spans on all_cash.portfolio_id = spans.portfolio_id
    inner join portfolios on all_cash.portfolio_id = portfolios.portfolio_id
    where all_cash.currency <> portfolios.base_currency and all_cash.session_idx <= spans.last_idx
    group by
        all_cash.portfolio_id, all_cash.currency, portfolios.base_currency,
        greatest(all_cash.session_idx, spans.start_idx)
),

foreign_cash_spans as (
    select
        portfolio_id,
        whole_currency,
        base_currency,
        min(session_idx) as from_idx
    from foreign_cash_changes
    group by portfolio_id, whole_currency, base_currency
),

-- each foreign balance on every session from its first change to the span's last: the
-- balance at the close and the one carried from the previous close (the currency part's L)
foreign_cash_days as (
    select
        foreign_cash_spans.portfolio_id,
        foreign_cash_spans.whole_currency,
        foreign_cash_spans.base_currency,
        cash_sessions.session_idx,
        foreign_cash_changes.inflow,
        foreign_cash_changes.outflow,
        foreign_cash_changes.income,
        foreign_cash_changes.costs,
        sum(coalesce(foreign_cash_changes.cash_change, 0)) over running as balance,
        coalesce(sum(coalesce(foreign_cash_changes.cash_change, 0)) over carried, 0) as carried
    from foreign_cash_spans
    inner join spans on foreign_cash_spans.portfolio_id = spans.portfolio_id
    cross join lateral generate_series(foreign_cash_spans.from_idx, spans.last_idx) as cash_sessions (session_idx)
    left join foreign_cash_changes
        on
            foreign_cash_spans.portfolio_id = foreign_cash_changes.portfolio_id
            and foreign_cash_spans.whole_currency = foreign_cash_changes.whole_currency
            and cash_sessions.session_idx = foreign_cash_changes.session_idx
    window
        running as (
            partition by foreign_cash_spans.portfolio_id, foreign_cash_spans.whole_currency
            order by cash_sessions.session_idx
            rows between unbounded preceding and current row
        ),
        carried as (
            partition by foreign_cash_spans.portfolio_id, foreign_cash_spans.whole_currency
            order by cash_sessions.session_idx
            rows between unbounded preceding and 1 preceding
        )
),

-- the pairs held or benchmarked: a foreign currency and the base it is converted into
fx_pairs as (
    select
        whole_currency,
        base_currency
    from public_positions
    where whole_currency <> base_currency
    union
    select
        whole_currency,
        base_currency
    from foreign_cash_days
    union
    select
        whole_currency,
        base_currency
    from benchmark_currencies
    where whole_currency <> base_currency
),

-- the rates converting each held foreign currency into a base, as one array per pair from its
-- first session needed (a null element: no rate, the value is left out of the total)
fx_series as (
    select
        fx_conversions.currency,
        fx_conversions.base_currency,
        min(fx_conversions.session_idx) as base_idx,
        array_agg(fx_conversions.fx_rate::float8 order by fx_conversions.session_idx) as rates,
        array_agg(fx_conversions.stale_sessions order by fx_conversions.session_idx) as stales
    from fx_conversions
    inner join fx_pairs
        on
            fx_conversions.currency = fx_pairs.whole_currency
            and fx_conversions.base_currency = fx_pairs.base_currency
    group by fx_conversions.currency, fx_conversions.base_currency
),

-- each position's factor into the base currency at its entry and at its exit: its cost and
-- its flows are converted at those sessions' rates (1: PRIVATE positions, valued in the base,
-- and the ledger's holdings, whose cost is the base-currency cash paid). Computed on the
-- quoted rows themselves (public_positions is span_positions less PRIVATE, one row each):
-- joined back to span_positions, a ledger's lots (no position_id) matched nothing, and with
-- the CTE's low estimate the join was a nested loop over every pair of pieces (a full
-- rebuild of scenario h: 1,526 x 1,526).
position_fx as (
    select
        public_positions.portfolio_id,
        public_positions.position_id,
        public_positions.symbol,
        public_positions.is_private,
        public_positions.units,
        public_positions.entry_price,
        public_positions.exit_price,
        public_positions.entry_idx,
        public_positions.exit_idx,
        public_positions.expiry_idx,
        public_positions.expiry_value,
        public_positions.is_ledger,
        public_positions.enters_by_split,
        public_positions.leaves_by_split,
        public_positions.from_idx,
        public_positions.entry_carried,
        public_positions.start_idx,
        public_positions.last_idx,
        case
            when public_positions.is_ledger then 1::float8
            when public_positions.whole_currency = public_positions.base_currency then public_positions.unit_factor
            else public_positions.unit_factor * coalesce(
                fx_series.rates[public_positions.entry_idx - fx_series.base_idx + 1], entry_activity.fx_rate::float8
            )
        end as entry_fx,
        case
            when public_positions.is_ledger then 1::float8
            when public_positions.whole_currency = public_positions.base_currency then public_positions.unit_factor
            else public_positions.unit_factor * coalesce(
                fx_series.rates[public_positions.exit_idx - fx_series.base_idx + 1], exit_activity.fx_rate::float8
            )
        end as exit_fx,
        -- the factor on the session before the exit (the exit's currency part)
        case
            when public_positions.is_ledger then 1::float8
            when public_positions.whole_currency = public_positions.base_currency then public_positions.unit_factor
            else public_positions.unit_factor * coalesce(
                fx_series.rates[public_positions.exit_idx - fx_series.base_idx], before_exit_activity.fx_rate::float8
            )
        end as before_exit_fx
    from public_positions
    left join fx_series
        on
            not public_positions.is_ledger
            and public_positions.whole_currency = fx_series.currency
            and public_positions.base_currency = fx_series.base_currency
    left join fx_activity_rates as entry_activity
        on
            not public_positions.is_ledger
            and public_positions.portfolio_id = entry_activity.portfolio_id
            and public_positions.whole_currency = entry_activity.currency
            and public_positions.base_currency = entry_activity.base_currency
            and public_positions.entry_idx = entry_activity.session_idx
    left join fx_activity_rates as exit_activity
        on
            not public_positions.is_ledger
            and public_positions.portfolio_id = exit_activity.portfolio_id
            and public_positions.whole_currency = exit_activity.currency
            and public_positions.base_currency = exit_activity.base_currency
            and public_positions.exit_idx = exit_activity.session_idx
    left join fx_activity_rates as before_exit_activity
        on
            not public_positions.is_ledger
            and public_positions.portfolio_id = before_exit_activity.portfolio_id
            and public_positions.whole_currency = before_exit_activity.currency
            and public_positions.base_currency = before_exit_activity.base_currency
            and public_positions.exit_idx - 1 = before_exit_activity.session_idx
    union all
    select
        span_positions.*,
        1::float8 as entry_fx,
        1::float8 as exit_fx,
        1::float8 as before_exit_fx
    from span_positions
    where span_positions.is_private
),

-- the quoted positions held in their portfolio's base currency, each with its symbol's closes:
-- converted by the unit factor alone, no rate looked up, no currency part. These are most of
-- the position-sessions; the others (another currency, or a ledger holding of unknown cost)
-- go through fx_held
in_base_positions as (
    select
        public_positions.portfolio_id,
        public_positions.units,
        public_positions.entry_price,
        public_positions.expiry_idx,
        public_positions.expiry_value,
        public_positions.is_ledger,
        public_positions.unit_factor,
        greatest(public_positions.entry_idx, public_positions.start_idx) as held_from,
        least(coalesce(public_positions.exit_idx, 2147483647) - 1, public_positions.last_idx) as held_to,
        symbol_series.base_idx,
        symbol_series.closes
    from public_positions
    left join symbol_series on public_positions.symbol = symbol_series.symbol
    where public_positions.is_in_base
),

-- per held position and session: the factor into the base currency (1 in the base; null
-- without a rate, never 1.0) and the age of the rate used (null when not converted; -1: no
-- rate, rule none; -2: the rate an activity of the portfolio implies, rule activity). A
-- ledger holding before its symbol's first quote is valued at its cost, the base-currency
-- cash paid: not converted, so counted by no rule. A ledger holding of unknown cost (a lot
-- paid from cash in another currency with no rate) is left out whole, value and cost, and
-- counted as rule none
fx_held as (
    select
        public_positions.*,
        held_sessions.session_idx,
        case
            when public_positions.is_ledger and public_positions.entry_price is null then null
            when public_positions.whole_currency = public_positions.base_currency
                then public_positions.unit_factor
            else public_positions.unit_factor * coalesce(
                fx_series.rates[held_sessions.session_idx - fx_series.base_idx + 1],
                fx_activity_rates.fx_rate::float8
            )
        end as fx_factor,
        case
            when public_positions.is_ledger and public_positions.entry_price is null then -1
            when
                public_positions.whole_currency <> public_positions.base_currency
                and not (public_positions.is_ledger and held_sessions.session_idx < public_positions.first_quote_idx)
                then coalesce(
                    fx_series.stales[held_sessions.session_idx - fx_series.base_idx + 1],
                    case when fx_activity_rates.fx_rate is not null then -2 end,
                    -1
                )
        end as fx_stale,
        -- the currency part (docs/semantics.md, "The parts of a day's return"): the factor on
        -- the previous session, and the units carried from its close (all of them after the
        -- entry session; a ledger holding only once valued at a close on the previous session)
        case
            when public_positions.whole_currency <> public_positions.base_currency
                then public_positions.unit_factor * coalesce(
                    fx_series.rates[held_sessions.session_idx - fx_series.base_idx],
                    previous_activity.fx_rate::float8
                )
        end as previous_fx_factor,
        case
            when
                public_positions.whole_currency = public_positions.base_currency
                or (public_positions.is_ledger and held_sessions.session_idx <= public_positions.first_quote_idx)
                then 0::float8
            when held_sessions.session_idx > public_positions.entry_idx then public_positions.units
            else public_positions.entry_carried
        end as carried_units
    from public_positions
    left join fx_series
        on
            public_positions.whole_currency = fx_series.currency
            and public_positions.base_currency = fx_series.base_currency
    cross join
        lateral generate_series(
            greatest(public_positions.entry_idx, public_positions.start_idx),
            least(coalesce(public_positions.exit_idx, 2147483647) - 1, public_positions.last_idx)
        ) as held_sessions (session_idx)
    left join fx_activity_rates
        on
            public_positions.portfolio_id = fx_activity_rates.portfolio_id
            and public_positions.whole_currency = fx_activity_rates.currency
            and public_positions.base_currency = fx_activity_rates.base_currency
            and held_sessions.session_idx = fx_activity_rates.session_idx
    left join fx_activity_rates as previous_activity
        on
            public_positions.portfolio_id = previous_activity.portfolio_id
            and public_positions.whole_currency = previous_activity.currency
            and public_positions.base_currency = previous_activity.base_currency
            and held_sessions.session_idx - 1 = previous_activity.session_idx
    where not public_positions.is_in_base
),

-- the one per-position-per-session part: quoted value of the positions held, per portfolio and
-- session, in the base currency. Each close is looked up in its symbol's array where the
-- value is computed, so only narrow rows reach the aggregates (rows that carried the arrays
-- made a sort copy them: scenario h; materialized, the 8 M rows of a 1k full rebuild spilled
-- to disk; each subquery ends with offset 0, so the planner cannot pull the lookups up into the
-- aggregate above). In the base currency: the factor is the unit factor (the ledger's cost per unit is
-- in the base currency already); no currency part, no rate counted
in_base_held_values as (
    select
        in_base_positions.portfolio_id,
        held_sessions.session_idx,
        {{ quoted_value(
            'in_base_positions',
            'held_sessions.session_idx',
            'in_base_positions.closes[held_sessions.session_idx - in_base_positions.base_idx + 1]',
            'in_base_positions.unit_factor',
        ) }} as public_value
    from in_base_positions
    cross join
        lateral generate_series(in_base_positions.held_from, in_base_positions.held_to) as held_sessions (session_idx)
    -- a fence: the value is computed here, so the arrays never reach the aggregate's input
    offset 0  -- noqa: AM09
),

public_values as (
    select
        portfolio_id,
        session_idx,
        sum(public_value) as public_value
    from in_base_held_values
    group by portfolio_id, session_idx
),

-- the others: each value in the base currency (null without a rate: left out of the sum and
-- counted), its currency part and the age of its rate
fx_held_values as (
    select
        fx_held.portfolio_id,
        fx_held.session_idx,
        {{ quoted_value(
            'fx_held',
            'fx_held.session_idx',
            'symbol_series.closes[fx_held.session_idx - symbol_series.base_idx + 1]',
            'fx_held.fx_factor',
        ) }} as public_value,
        -- the currency part of the day's gain: the carried units' local value at the close
        -- times the move of their factor (null without a rate on either session: none)
        fx_held.carried_units * case
            when fx_held.session_idx = fx_held.expiry_idx and fx_held.expiry_value is not null
                then fx_held.expiry_value
            else coalesce(
                symbol_series.closes[fx_held.session_idx - symbol_series.base_idx + 1], fx_held.entry_price
            )
        end * (fx_held.fx_factor - fx_held.previous_fx_factor) as currency_gain,
        fx_held.fx_stale
    from fx_held
    left join symbol_series on fx_held.symbol = symbol_series.symbol
    offset 0  -- noqa: AM09
),

fx_values as (
    select
        portfolio_id,
        session_idx,
        sum(public_value) as public_value,
        sum(currency_gain) as currency_gain,
        count(*) filter (where fx_stale = 0) as n_fx_session,
        count(*) filter (where fx_stale > 0) as n_fx_last_rate,
        count(*) filter (where fx_stale = -1) as n_fx_none,
        count(*) filter (where fx_stale = -2) as n_fx_activity,
        coalesce(max(fx_stale) filter (where fx_stale > 0), 0) as max_fx_stale_sessions
    from fx_held_values
    group by portfolio_id, session_idx
),

-- the foreign cash in the base currency, per portfolio and session: each balance valued like a
-- holding in its currency (the factor of the session: the market's rate, of the session or
-- its last, else the rate the portfolio's activities of the session imply; none: left out and
-- counted, never 1.0), counted by rule while its balance is not 0; its flows, income and
-- costs at the session's factor; the balance carried from the previous close times the move
-- of the factor, the currency part (null without a rate on either session)
foreign_cash_values as (
    select
        foreign_cash_fx.portfolio_id,
        foreign_cash_fx.session_idx,
        sum(foreign_cash_fx.balance * foreign_cash_fx.fx_factor) as cash_value,
        sum(foreign_cash_fx.inflow * foreign_cash_fx.fx_factor) as inflow,
        sum(foreign_cash_fx.outflow * foreign_cash_fx.fx_factor) as outflow,
        sum(foreign_cash_fx.income * foreign_cash_fx.fx_factor) as income,
        sum(foreign_cash_fx.costs * foreign_cash_fx.fx_factor) as costs,
        sum(foreign_cash_fx.carried * (foreign_cash_fx.fx_factor - foreign_cash_fx.previous_fx_factor))
            as currency_gain,
        count(*) filter (where foreign_cash_fx.balance <> 0 and foreign_cash_fx.fx_stale = 0) as n_fx_session,
        count(*) filter (where foreign_cash_fx.balance <> 0 and foreign_cash_fx.fx_stale > 0) as n_fx_last_rate,
        count(*) filter (where foreign_cash_fx.balance <> 0 and foreign_cash_fx.fx_stale = -1) as n_fx_none,
        count(*) filter (where foreign_cash_fx.balance <> 0 and foreign_cash_fx.fx_stale = -2) as n_fx_activity,
        coalesce(
            max(foreign_cash_fx.fx_stale) filter (where foreign_cash_fx.balance <> 0 and foreign_cash_fx.fx_stale > 0),
            0
        ) as max_fx_stale_sessions
    from (
        select
            foreign_cash_days.portfolio_id,
            foreign_cash_days.session_idx,
            foreign_cash_days.balance::float8 as balance,
            foreign_cash_days.carried::float8 as carried,
            foreign_cash_days.inflow::float8 as inflow,
            foreign_cash_days.outflow::float8 as outflow,
            foreign_cash_days.income::float8 as income,
            foreign_cash_days.costs::float8 as costs,
            coalesce(
                fx_series.rates[foreign_cash_days.session_idx - fx_series.base_idx + 1],
                fx_activity_rates.fx_rate::float8
            ) as fx_factor,
            coalesce(
                fx_series.rates[foreign_cash_days.session_idx - fx_series.base_idx],
                previous_activity.fx_rate::float8
            ) as previous_fx_factor,
            coalesce(
                fx_series.stales[foreign_cash_days.session_idx - fx_series.base_idx + 1],
                case when fx_activity_rates.fx_rate is not null then -2 end,
                -1
            ) as fx_stale
        from foreign_cash_days
        left join fx_series
            on
                foreign_cash_days.whole_currency = fx_series.currency
                and foreign_cash_days.base_currency = fx_series.base_currency
        left join fx_activity_rates
            on
                foreign_cash_days.portfolio_id = fx_activity_rates.portfolio_id
                and foreign_cash_days.whole_currency = fx_activity_rates.currency
                and foreign_cash_days.base_currency = fx_activity_rates.base_currency
                and foreign_cash_days.session_idx = fx_activity_rates.session_idx
        left join fx_activity_rates as previous_activity
            on
                foreign_cash_days.portfolio_id = previous_activity.portfolio_id
                and foreign_cash_days.whole_currency = previous_activity.currency
                and foreign_cash_days.base_currency = previous_activity.base_currency
                and foreign_cash_days.session_idx - 1 = previous_activity.session_idx
    ) as foreign_cash_fx
    group by foreign_cash_fx.portfolio_id, foreign_cash_fx.session_idx
),

first_valuations as (
    select
        position_id,
        min(from_idx) as first_idx
    from valuations
    group by position_id
),

-- PRIVATE positions: at cost until the first valuation, then each valuation's value
private_segments as (
    select
        span_positions.portfolio_id,
        span_positions.entry_idx as segment_from,
        least(
            coalesce(span_positions.exit_idx, 2147483647),
            coalesce(first_valuations.first_idx, 2147483647)
        ) as segment_until,
        span_positions.units * span_positions.entry_price as segment_value,
        false as is_manual
    from span_positions
    left join first_valuations on span_positions.position_id = first_valuations.position_id
    where span_positions.is_private
    union all
    select
        span_positions.portfolio_id,
        greatest(valuations.from_idx, span_positions.entry_idx),
        least(coalesce(span_positions.exit_idx, 2147483647), valuations.to_idx::bigint + 1),
        valuations.valuation_value::float8,
        true
    from span_positions
    inner join valuations on span_positions.position_id = valuations.position_id
    where span_positions.is_private
),

-- step functions as (session, change) events; events before the start count at the start
events as (
    -- held positions and their cost
    select
        portfolio_id,
        entry_idx as event_idx,
        1 as d_held,
        units * entry_price * entry_fx as d_cost,
        0 as d_entry,
        0 as d_manual,
        0::float8 as d_private_value
    from position_fx
    union all
    select portfolio_id, exit_idx, -1, -units * entry_price * entry_fx, 0, 0, 0
    from position_fx
    where exit_idx is not null
    -- quoted positions before their symbol's first quote are valued at entry price
    union all
    select portfolio_id, entry_idx, 0, 0, 1, 0, 0
    from public_positions
    where entry_idx < first_quote_idx
    union all
    select portfolio_id, least(first_quote_idx, coalesce(exit_idx, 2147483647)), 0, 0, -1, 0, 0
    from public_positions
    where entry_idx < first_quote_idx and least(first_quote_idx, coalesce(exit_idx, 2147483647)) < 2147483647
    -- PRIVATE values, at cost (an entry-price valuation) or manual
    union all
    select
        portfolio_id, segment_from, 0, 0,
        case when is_manual then 0 else 1 end,
        case when is_manual then 1 else 0 end,
        segment_value
    from private_segments
    where segment_from < segment_until
    union all
    select
        portfolio_id, segment_until, 0, 0,
        case when is_manual then 0 else -1 end,
        case when is_manual then -1 else 0 end,
        -segment_value
    from private_segments
    where segment_from < segment_until and segment_until < 2147483647
),

clamped_events as (
    select
        events.portfolio_id,
        greatest(events.event_idx, spans.start_idx) as session_idx,
        sum(events.d_held) as d_held,
        sum(events.d_cost) as d_cost,
        sum(events.d_entry) as d_entry,
        sum(events.d_manual) as d_manual,
        sum(events.d_private_value) as d_private_value
    from events
    inner join spans on events.portfolio_id = spans.portfolio_id
    where events.event_idx <= spans.last_idx
    group by events.portfolio_id, greatest(events.event_idx, spans.start_idx)
),

-- held positions valued at an older close (the rare symbol-days without a quote)
stale as (
    select
        public_positions.portfolio_id,
        stale_days.session_idx,
        count(*) as n_stale,
        max(stale_days.stale_sessions) as max_stale_sessions
    from public_positions
    -- per position, its symbol's stale sessions in its held range (a small partial index)
    cross join
        lateral (
            select
                prices_filled.session_idx,
                prices_filled.stale_sessions
            from prices_filled
            where
                prices_filled.symbol = public_positions.symbol
                and prices_filled.stale_sessions > 0
                and prices_filled.session_idx >= greatest(public_positions.entry_idx, public_positions.start_idx)
                and prices_filled.session_idx < coalesce(public_positions.exit_idx, 2147483647)
                and prices_filled.session_idx <= public_positions.last_idx
        ) as stale_days
    group by public_positions.portfolio_id, stale_days.session_idx
),

-- flows: entries at their price; exits at their price, else their value that session (a
-- position's cut at a split is no flow)
flows as (
    select
        portfolio_id,
        entry_idx as session_idx,
        units * entry_price * entry_fx as inflow,
        0::float8 as outflow,
        0::float8 as exit_currency_gain
    from position_fx
    where entry_idx >= start_idx and not is_ledger and not enters_by_split
    union all
    select
        position_fx.portfolio_id,
        position_fx.exit_idx,
        0,
        position_fx.units * coalesce(
            position_fx.exit_price,
            symbol_series.closes[position_fx.exit_idx - symbol_series.base_idx + 1],
            position_fx.entry_price
        ) * position_fx.exit_fx,
        -- an exit's currency part: its proceeds in its currency times the move of the factor
        -- from the previous session (held then: entered before its exit session)
        case
            when position_fx.entry_idx < position_fx.exit_idx
                then position_fx.units * coalesce(
                    position_fx.exit_price,
                    symbol_series.closes[position_fx.exit_idx - symbol_series.base_idx + 1],
                    position_fx.entry_price
                ) * (position_fx.exit_fx - position_fx.before_exit_fx)
        end
    from position_fx
    left join symbol_series on position_fx.symbol = symbol_series.symbol
    where
        not position_fx.is_private
        and position_fx.exit_idx between position_fx.start_idx and position_fx.last_idx
        and not position_fx.is_ledger
        and not position_fx.leaves_by_split
    union all
    select
        span_positions.portfolio_id,
        span_positions.exit_idx,
        0,
        coalesce(
            span_positions.units * span_positions.exit_price,
            exit_valuations.valuation_value::float8,
            span_positions.units * span_positions.entry_price
        ),
        0
    from span_positions
    left join valuations as exit_valuations
        on
            span_positions.position_id = exit_valuations.position_id
            and span_positions.exit_idx between exit_valuations.from_idx and exit_valuations.to_idx
    where
        span_positions.is_private
        and span_positions.exit_idx between span_positions.start_idx and span_positions.last_idx
    -- the ledger's external flows: deposits, withdrawals, transfers, implicit deposits
    union all
    select
        ledger_cash.portfolio_id,
        ledger_cash.session_idx,
        ledger_cash.inflow::float8,
        ledger_cash.outflow::float8,
        0
    from ledger_cash
    inner join spans on ledger_cash.portfolio_id = spans.portfolio_id
    where ledger_cash.session_idx between spans.start_idx and spans.last_idx
),

-- the ledger's gains realized by sells, on the sell's session
realized as (
    select
        lots.portfolio_id,
        lots.exit_idx as session_idx,
        sum(lots.realized_gain)::float8 as realized_gain
    from lots
    inner join spans on lots.portfolio_id = spans.portfolio_id
    where lots.realized_gain is not null and lots.exit_idx between spans.start_idx and spans.last_idx
    group by lots.portfolio_id, lots.exit_idx
),

-- the ledger's cash changes, income and costs; changes before the start count at the start
-- (the balance), income and costs only on their own session
clamped_cash as (
    select
        ledger_cash.portfolio_id,
        greatest(ledger_cash.session_idx, spans.start_idx) as session_idx,
        sum(ledger_cash.cash_change)::float8 as cash_change,
        sum(ledger_cash.income) filter (where ledger_cash.session_idx >= spans.start_idx)::float8 as income,
        sum(ledger_cash.costs) filter (where ledger_cash.session_idx >= spans.start_idx)::float8 as costs
    from ledger_cash
    inner join spans on ledger_cash.portfolio_id = spans.portfolio_id
    where ledger_cash.session_idx <= spans.last_idx
    group by ledger_cash.portfolio_id, greatest(ledger_cash.session_idx, spans.start_idx)
),

daily_flows as (
    select
        portfolio_id,
        session_idx,
        sum(inflow) as inflow,
        sum(outflow) as outflow,
        sum(exit_currency_gain) as exit_currency_gain
    from flows
    group by portfolio_id, session_idx
),

span_days as (
    select
        spans.portfolio_id,
        spans.from_idx,
        spans.first_idx,
        span_sessions.session_idx
    from spans
    cross join lateral generate_series(spans.start_idx, spans.last_idx) as span_sessions (session_idx)
),

accumulated as (
    select
        span_days.portfolio_id,
        span_days.from_idx,
        span_days.first_idx,
        span_days.session_idx,
        coalesce(public_values.public_value, 0) + coalesce(fx_values.public_value, 0) as public_value,
        coalesce(fx_values.n_fx_session, 0) + coalesce(foreign_cash_values.n_fx_session, 0) as n_fx_session,
        coalesce(fx_values.n_fx_last_rate, 0) + coalesce(foreign_cash_values.n_fx_last_rate, 0)
            as n_fx_last_rate,
        coalesce(fx_values.n_fx_none, 0) + coalesce(foreign_cash_values.n_fx_none, 0) as n_fx_none,
        coalesce(fx_values.n_fx_activity, 0) + coalesce(foreign_cash_values.n_fx_activity, 0) as n_fx_activity,
        greatest(
            coalesce(fx_values.max_fx_stale_sessions, 0), coalesce(foreign_cash_values.max_fx_stale_sessions, 0)
        ) as max_fx_stale_sessions,
        coalesce(stale.n_stale, 0) as n_stale,
        coalesce(stale.max_stale_sessions, 0) as max_stale_sessions,
        coalesce(daily_flows.inflow, 0) + coalesce(foreign_cash_values.inflow, 0) as inflow,
        coalesce(daily_flows.outflow, 0) + coalesce(foreign_cash_values.outflow, 0) as outflow,
        coalesce(fx_values.currency_gain, 0) + coalesce(daily_flows.exit_currency_gain, 0)
        + coalesce(foreign_cash_values.currency_gain, 0) as currency_gain,
        coalesce(clamped_cash.income, 0) + coalesce(foreign_cash_values.income, 0) as income,
        coalesce(clamped_cash.costs, 0) + coalesce(foreign_cash_values.costs, 0) as costs,
        coalesce(realized.realized_gain, 0) as realized_gain,
        -- the base currency's balance and the foreign ones' values in the base
        sum(coalesce(clamped_cash.cash_change, 0)) over running + coalesce(foreign_cash_values.cash_value, 0)
            as cash_balance,
        sum(coalesce(clamped_events.d_held, 0)) over running as positions_held,
        sum(coalesce(clamped_events.d_cost, 0)) over running as cost_basis,
        sum(coalesce(clamped_events.d_entry, 0)) over running as n_entry,
        sum(coalesce(clamped_events.d_manual, 0)) over running as n_manual,
        sum(coalesce(clamped_events.d_private_value, 0)) over running as private_value
    from span_days
    left join public_values
        on
            span_days.portfolio_id = public_values.portfolio_id
            and span_days.session_idx = public_values.session_idx
    left join fx_values
        on
            span_days.portfolio_id = fx_values.portfolio_id
            and span_days.session_idx = fx_values.session_idx
    left join clamped_events
        on
            span_days.portfolio_id = clamped_events.portfolio_id
            and span_days.session_idx = clamped_events.session_idx
    left join stale
        on
            span_days.portfolio_id = stale.portfolio_id
            and span_days.session_idx = stale.session_idx
    left join daily_flows
        on
            span_days.portfolio_id = daily_flows.portfolio_id
            and span_days.session_idx = daily_flows.session_idx
    left join clamped_cash
        on
            span_days.portfolio_id = clamped_cash.portfolio_id
            and span_days.session_idx = clamped_cash.session_idx
    left join realized
        on
            span_days.portfolio_id = realized.portfolio_id
            and span_days.session_idx = realized.session_idx
    left join foreign_cash_values
        on
            span_days.portfolio_id = foreign_cash_values.portfolio_id
            and span_days.session_idx = foreign_cash_values.session_idx
    window running as (
        partition by span_days.portfolio_id
        order by span_days.session_idx
        rows between unbounded preceding and current row
    )
),

valued as (
    select
        accumulated.*,
        accumulated.public_value + accumulated.private_value + accumulated.cash_balance as market_value,
        coalesce(
            lag(accumulated.public_value + accumulated.private_value + accumulated.cash_balance) over (
                partition by accumulated.portfolio_id order by accumulated.session_idx
            ),
            0
        ) as previous_value,
        -- positions valued at their own close on the previous session (the real-quote rule)
        lag(
            accumulated.positions_held - accumulated.n_entry - accumulated.n_manual - accumulated.n_stale
        ) over (
            partition by accumulated.portfolio_id order by accumulated.session_idx
        ) as previous_n_close
    from accumulated
),

-- inflows at the start of the day at their entry price, outflows at the end at their exit
-- price: a flow is never a gain or a loss, and a return is never below -100 %
daily_returns as (
    select
        valued.*,
        {{ flow_adjusted_return(
            'valued.market_value', 'valued.outflow', 'valued.previous_value', 'valued.inflow'
        ) }} as daily_return,
        -- the day's return in parts over the same denominator (docs/semantics.md, "The parts
        -- of a day's return"); price is the rest, so the four sum to daily_return
        {{ return_part('valued.currency_gain', 'valued.previous_value', 'valued.inflow') }} as currency_return,
        {{ return_part('valued.income', 'valued.previous_value', 'valued.inflow') }} as income_return,
        {{ return_part('-valued.costs', 'valued.previous_value', 'valued.inflow') }} as cost_return
    from valued
    where valued.session_idx >= valued.from_idx
),

-- the chained return of the last kept row: the base the recomputed range continues from
bases as (
    select
        kept.portfolio_id,
        kept.cum_twr,
        kept.income_to_date,
        kept.costs_to_date,
        kept.realized_gain_to_date,
        kept.cum_price_return,
        kept.cum_currency_return,
        kept.cum_income_return,
        kept.cum_cost_return
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
        coalesce(bases.income_to_date, 0) + sum(daily_returns.income) over running as income_to_date,
        coalesce(bases.costs_to_date, 0) + sum(daily_returns.costs) over running as costs_to_date,
        coalesce(bases.realized_gain_to_date, 0) + sum(daily_returns.realized_gain) over running
            as realized_gain_to_date,
        sum(ln(greatest(1 + daily_returns.daily_return, 1e-300))) over running as log_growth,
        count(*) filter (where daily_returns.daily_return <= -1) over running as wipeouts,
        daily_returns.daily_return - daily_returns.currency_return - daily_returns.income_return
        - daily_returns.cost_return as price_return,
        bases.cum_price_return as base_price_return,
        bases.cum_currency_return as base_currency_return,
        bases.cum_income_return as base_income_return,
        bases.cum_cost_return as base_cost_return
    from daily_returns
    left join bases on daily_returns.portfolio_id = bases.portfolio_id
    window running as (
        partition by daily_returns.portfolio_id
        order by daily_returns.session_idx
        rows between unbounded preceding and current row
    )
),

-- 1 + cum_twr of the previous session: what a day's return parts add to cum_twr, each part
-- times it (0 after a wipeout, as cum_twr stays -1)
grown as (
    select
        chained.*,
        case
            when chained.wipeouts - (chained.daily_return <= -1)::integer > 0 then 0::float8
            else (1 + chained.base_twr) * exp(
                chained.log_growth - ln(greatest(1 + chained.daily_return, 1e-300))
            )
        end as growth_before
    from chained
),

-- each part's contribution to cum_twr since the first session: the four sum to cum_twr
chained_parts as (
    select
        grown.*,
        coalesce(grown.base_price_return, 0) + sum(grown.price_return * grown.growth_before) over running
            as cum_price_return,
        coalesce(grown.base_currency_return, 0) + sum(grown.currency_return * grown.growth_before) over running
            as cum_currency_return,
        coalesce(grown.base_income_return, 0) + sum(grown.income_return * grown.growth_before) over running
            as cum_income_return,
        coalesce(grown.base_cost_return, 0) + sum(grown.cost_return * grown.growth_before) over running
            as cum_cost_return
    from grown
    window running as (
        partition by grown.portfolio_id
        order by grown.session_idx
        rows between unbounded preceding and current row
    )
),

-- each portfolio's benchmark: its closes, its currency and the rates converting it into the
-- base currency, one row per portfolio (materialized: one hash lookup per session row; joined
-- there one relation at a time, with the low estimate of the sessions' rows, a plan sorted or
-- materialized the 1.2 M rows of a 1k full rebuild to merge them in: ~4 s)
portfolio_benchmarks as materialized (
    select
        benchmark_currencies.portfolio_id,
        portfolios.benchmark_symbol,
        portfolios.base_currency,
        benchmark_currencies.whole_currency,
        benchmark_currencies.unit_factor,
        benchmark.base_idx,
        benchmark.closes,
        benchmark_fx.base_idx as fx_base_idx,
        benchmark_fx.rates as fx_rates
    from benchmark_currencies
    inner join portfolios on benchmark_currencies.portfolio_id = portfolios.portfolio_id
    left join symbol_series as benchmark on portfolios.benchmark_symbol = benchmark.symbol
    left join fx_series as benchmark_fx
        on
            benchmark_currencies.whole_currency = benchmark_fx.currency
            and benchmark_currencies.base_currency = benchmark_fx.base_currency
),

final as (
    select
        chained.portfolio_id,
        chained.session_idx,
        sessions.session_date,
        chained.market_value,
        chained.cost_basis,
        chained.market_value - chained.cash_balance - chained.cost_basis as unrealized_pnl,
        chained.positions_held,
        chained.positions_held - chained.n_entry - chained.n_manual - chained.n_stale as n_close,
        chained.n_stale,
        chained.max_stale_sessions,
        chained.n_entry,
        chained.n_manual,
        -- the day's return has a real quote: positions valued at their own close on this
        -- session and on the previous one (docs/factors.md; beta pairs and Sharpe use it)
        chained.positions_held - chained.n_entry - chained.n_manual - chained.n_stale > 0
        and coalesce(chained.previous_n_close > 0, false) as is_quoted_return,
        chained.inflow,
        chained.outflow,
        chained.daily_return,
        case
            when chained.wipeouts > 0 then -1::float8
            else (1 + chained.base_twr) * exp(chained.log_growth) - 1
        end as cum_twr,
        benchmarks.benchmark_symbol,
        -- the benchmark in the base currency (a close with no rate is null, never taken at 1.0)
        benchmarks.closes[chained.session_idx - benchmarks.base_idx + 1] * case
            when benchmarks.whole_currency = benchmarks.base_currency
                then benchmarks.unit_factor
            else
                benchmarks.unit_factor
                * benchmarks.fx_rates[chained.session_idx - benchmarks.fx_base_idx + 1]
        end as benchmark_close,
        (
            benchmarks.closes[chained.session_idx - benchmarks.base_idx + 1] * case
                when benchmarks.whole_currency = benchmarks.base_currency then 1
                else
                    benchmarks.fx_rates[chained.session_idx - benchmarks.fx_base_idx + 1]
                    / benchmarks.fx_rates[chained.first_idx - benchmarks.fx_base_idx + 1]
            end
        )
        / nullif(benchmarks.closes[chained.first_idx - benchmarks.base_idx + 1], 0) - 1 as benchmark_cum_return,
        chained.first_idx,
        refresh_windows.run_id as computed_by_run,
        chained.cash_balance,
        chained.income,
        chained.costs,
        chained.realized_gain,
        chained.income_to_date,
        chained.costs_to_date,
        chained.realized_gain_to_date,
        benchmarks.base_currency,
        chained.n_fx_session,
        chained.n_fx_last_rate,
        chained.n_fx_none,
        chained.max_fx_stale_sessions,
        -- the benchmark in its own currency, beside it
        benchmarks.closes[chained.session_idx - benchmarks.base_idx + 1] as benchmark_close_local,
        benchmarks.closes[chained.session_idx - benchmarks.base_idx + 1]
        / nullif(benchmarks.closes[chained.first_idx - benchmarks.base_idx + 1], 0) - 1
            as benchmark_cum_return_local,
        chained.n_fx_activity,
        chained.price_return,
        chained.currency_return,
        chained.income_return,
        chained.cost_return,
        chained.cum_price_return,
        chained.cum_currency_return,
        chained.cum_income_return,
        chained.cum_cost_return
    from chained_parts as chained
    inner join sessions on chained.session_idx = sessions.session_idx
    inner join portfolio_benchmarks as benchmarks on chained.portfolio_id = benchmarks.portfolio_id
    cross join refresh_windows
)

select * from final
