{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'currency', 'session_idx'],
        refresh_scope='portfolios_from_session',
        chunk_by_portfolio=true,
        refresh_empty_without=[
            'int_activities_in_base', 'int_lots_matched', ['stg_core__positions', 'stg_market__dividends'],
        ],
    )
}}
-- depends_on: {{ ref('stg_core__positions') }} (refresh_empty_without: a portfolio of positions
-- gets cash only from the market's dividends on their symbols)
-- The ledger's cash: one row per portfolio per cash currency per session with activities
-- (recomputed for each portfolio in the refresh's scope from its scope's first session, once
-- per refresh, carrying on from the rows kept before it: a new session costs its own
-- activities and dividends, not the whole history; the snapshots read it by portfolio_id).
-- Cash is kept per currency (docs/semantics.md, "Currencies"): the base currency's, and one
-- per other currency that activities without fx_rate move
-- (int_activities_in_base's cash_currency), each in its own whole currency.
-- What each activity does to cash, to the external flows and to
-- income and costs (docs/semantics.md, "Activities"):
--   BUY −(q·p + fee); SELL +(q·p − fee); DIVIDEND, INTEREST +amount − fee (income);
--   FEE, TAX −amount − fee (costs); DEPOSIT +amount − fee, WITHDRAWAL −amount − fee (flows);
--   TRANSFER_IN/OUT of cash: as a deposit/withdrawal; of securities: no cash, a flow at the
--   stated value q·p; every fee is a cost.
-- The market's dividends (market.dividends) are paid on the lots and the quoted positions held,
-- unless the ledger records the payment itself, in the base currency: converted at the
-- ex-date session's factor, the one that values the holding that session (docs/semantics.md,
-- "Currencies"); without a rate, not credited.
-- A debit with no cash to pay it is funded by an implicit deposit, per currency (a EUR debit
-- with no EUR cash: a EUR deposit): the cash balance would go below zero, so the running
-- minimum of the cumulative cash change, once below zero, is the total deposited implicitly
-- (an inflow on the session it grows). A ledger of buys alone
-- therefore has no cash and flows equal to its buys: the positions semantics.
with scopes as (
    select * from {{ ref('stg_ops__refresh_scope_chunks') }}
),

activities as not materialized (
    select * from {{ ref('int_activities_in_base') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

calendar_dates as not materialized (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

lots as not materialized (
    select * from {{ ref('int_lots_matched') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

-- what receives the market's dividends: the ledger's lot pieces and the quoted positions'
-- pieces (cut at splits: the units held then)
holders as not materialized (
    select
        portfolio_id,
        symbol,
        quantity,
        entry_idx,
        exit_idx
    from lots
    union all
    select
        portfolio_id,
        symbol,
        quantity * multiplier,
        entry_idx,
        exit_idx
    from {{ ref('int_positions_split_in_scope') }}
    where investment_class = 'PUBLIC' and entry_idx is not null
),

market_dividends as not materialized (
    select * from {{ ref('stg_market__dividends') }}
),

portfolios as not materialized (
    select * from {{ ref('stg_core__portfolios') }}
),

{{ fx_inputs() }},

-- the ledger's own dividend payments of a symbol: each is the payment of the market's latest
-- dividend of that symbol with an ex-date on or before it, at most 45 days before
-- (materialized: computed once; inlined into the anti-join below, with an estimate of one
-- row before activities are analyzed, it was computed again for every dividend held: 160 ms
-- of a 190 ms step in scenario h)
recorded_dividends as materialized (
    select
        activities.portfolio_id,
        activities.symbol,
        (
            select max(market_dividends.ex_date)
            from market_dividends
            where
                market_dividends.symbol = activities.symbol
                and market_dividends.ex_date <= activities.activity_date
                and market_dividends.ex_date >= activities.activity_date - 45
        ) as ex_date
    from activities
    where activities.activity_type = 'DIVIDEND' and activities.symbol is not null
),

-- the market's dividends with an ex-date session from the scope's first recomputed session
-- on: a night's are the new session's (a handful, or none). Materialized, and the paid
-- dividends below are computed only when there is one: a night without reads no holder (the
-- holders, every lot and position piece of the scope, were 80 ms of a 1k night's 130 ms
-- step, joined to every dividend of the history and filtered to the new session after)
scoped_dividends as materialized (
    select
        market_dividends.symbol,
        market_dividends.ex_date,
        market_dividends.amount_per_share,
        ex_sessions.session_idx
    from market_dividends
    inner join calendar_dates as ex_sessions on market_dividends.ex_date = ex_sessions.calendar_date
    where ex_sessions.session_idx >= (select min(scopes.from_idx) from scopes)
),

-- the market's dividends paid on the units held at the close before the ex-date (a buy on
-- the ex-date does not get it, a sell on it does), credited on the ex-date, unless recorded
paid_dividends as (
    select
        holders.portfolio_id,
        scoped_dividends.session_idx,
        scoped_dividends.symbol,
        sum(holders.quantity) * scoped_dividends.amount_per_share as amount
    from scoped_dividends
    inner join holders
        on
            scoped_dividends.symbol = holders.symbol
            and scoped_dividends.session_idx > holders.entry_idx
            and scoped_dividends.session_idx <= coalesce(holders.exit_idx, 2147483647)
    inner join scopes on holders.portfolio_id = scopes.portfolio_id
    where
        -- (a one-time filter: without a dividend in range, the join's inputs are not read)
        exists (select any_dividends.symbol from scoped_dividends as any_dividends)
        and scoped_dividends.session_idx >= scopes.from_idx
        and not exists (
            select from recorded_dividends
            where
                recorded_dividends.portfolio_id = holders.portfolio_id
                and recorded_dividends.symbol = scoped_dividends.symbol
                and recorded_dividends.ex_date = scoped_dividends.ex_date
        )
    group by holders.portfolio_id, scoped_dividends.session_idx, scoped_dividends.symbol, scoped_dividends.amount_per_share
),

-- each paid dividend in the base currency: as paid when the symbol trades in the base (GBp in a
-- GBP portfolio: / 100), else times the ex-date session's rate into the base (the market's,
-- on the session or its last; else the one the portfolio's own activities imply that
-- session); no rate: left out (null), like the holding's value that session
paid_dividends_base as (
    select
        paid_dividends.portfolio_id,
        portfolios.base_currency as currency,
        paid_dividends.session_idx,
        case
            when coalesce(currencies.whole_currency, 'USD') = portfolios.base_currency
                then paid_dividends.amount / coalesce(currencies.units_per_whole, 1)
            else
                paid_dividends.amount * coalesce(fx_conversions.fx_rate, fx_activity_rates.fx_rate)
                / coalesce(currencies.units_per_whole, 1)
        end as amount
    from paid_dividends
    inner join portfolios on paid_dividends.portfolio_id = portfolios.portfolio_id
    left join symbols on paid_dividends.symbol = symbols.symbol
    left join currencies on symbols.trading_currency = currencies.currency
    left join fx_conversions
        on
            coalesce(currencies.whole_currency, 'USD') = fx_conversions.currency
            and portfolios.base_currency = fx_conversions.base_currency
            and paid_dividends.session_idx = fx_conversions.session_idx
    left join fx_activity_rates
        on
            paid_dividends.portfolio_id = fx_activity_rates.portfolio_id
            and coalesce(currencies.whole_currency, 'USD') = fx_activity_rates.currency
            and portfolios.base_currency = fx_activity_rates.base_currency
            and paid_dividends.session_idx = fx_activity_rates.session_idx
),

effects as (
    select
        activities.portfolio_id,
        activities.cash_currency as currency,
        calendar_dates.session_idx,
        case
            when activities.activity_type = 'BUY' then -activities.quantity * activities.unit_price
            when activities.activity_type = 'SELL' then activities.quantity * activities.unit_price
            when activities.activity_type in ('DIVIDEND', 'INTEREST', 'DEPOSIT') then activities.amount
            when activities.activity_type in ('FEE', 'TAX', 'WITHDRAWAL') then -activities.amount
            when activities.activity_type = 'TRANSFER_IN' then coalesce(activities.amount, 0)
            when activities.activity_type = 'TRANSFER_OUT' then -coalesce(activities.amount, 0)
            else 0
        end - activities.fee as cash_change,
        case
            when activities.activity_type in ('DEPOSIT', 'TRANSFER_IN')
                then coalesce(activities.amount, activities.quantity * activities.unit_price)
            else 0
        end as external_inflow,
        case
            when activities.activity_type in ('WITHDRAWAL', 'TRANSFER_OUT')
                then coalesce(activities.amount, activities.quantity * activities.unit_price)
            else 0
        end as external_outflow,
        case when activities.activity_type in ('DIVIDEND', 'INTEREST') then activities.amount else 0 end as income,
        case when activities.activity_type in ('FEE', 'TAX') then activities.amount else 0 end
        + activities.fee as costs
    from activities
    inner join calendar_dates on activities.activity_date = calendar_dates.calendar_date
    inner join scopes on activities.portfolio_id = scopes.portfolio_id
    where calendar_dates.session_idx >= scopes.from_idx
    union all
    select
        paid_dividends_base.portfolio_id,
        paid_dividends_base.currency,
        paid_dividends_base.session_idx,
        paid_dividends_base.amount as cash_change,
        0 as external_inflow,
        0 as external_outflow,
        paid_dividends_base.amount as income,
        0 as costs
    from paid_dividends_base
    where paid_dividends_base.amount is not null
),

per_session as (
    select
        portfolio_id,
        currency,
        session_idx,
        sum(cash_change) as cash_change,
        sum(external_inflow) as external_inflow,
        sum(external_outflow) as external_outflow,
        sum(income) as income,
        sum(costs) as costs
    from effects
    group by portfolio_id, currency, session_idx
),

-- each balance as the rows kept before the scope's first session leave it: the cash change
-- before implicit deposits, and the total deposited implicitly (none for a full rebuild)
kept as (
    select
        kept.portfolio_id,
        kept.currency,
        sum(kept.cash_change - kept.implicit_deposit) as cumulative_change,
        sum(kept.implicit_deposit) as implicit_total
    from {{ this }} as kept
    inner join scopes on kept.portfolio_id = scopes.portfolio_id
    where kept.session_idx < scopes.from_idx
    group by kept.portfolio_id, kept.currency
),

cumulated as (
    select
        per_session.*,
        coalesce(kept.implicit_total, 0) as kept_implicit_total,
        coalesce(kept.cumulative_change, 0) + sum(per_session.cash_change) over (
            partition by per_session.portfolio_id, per_session.currency
            order by per_session.session_idx
            rows between unbounded preceding and current row
        ) as cumulative_change
    from per_session
    left join kept
        on
            per_session.portfolio_id = kept.portfolio_id
            and per_session.currency = kept.currency
),

-- the total deposited implicitly up to each session: what keeps the balance at or above zero
-- (the running minimum of the whole history: the kept rows' total is its part before the scope)
funded as (
    select
        cumulated.*,
        greatest(
            cumulated.kept_implicit_total,
            -min(cumulated.cumulative_change) over (
                partition by cumulated.portfolio_id, cumulated.currency
                order by cumulated.session_idx
                rows between unbounded preceding and current row
            )
        ) as implicit_total
    from cumulated
),

final as (
    select
        portfolio_id,
        currency,
        session_idx,
        implicit_total - coalesce(
            lag(implicit_total) over (partition by portfolio_id, currency order by session_idx),
            kept_implicit_total
        ) as implicit_deposit,
        cash_change,
        external_inflow,
        external_outflow,
        income,
        costs
    from funded
)

select
    portfolio_id,
    -- the cash's whole currency: the base, or another one moved without fx_rate
    currency,
    session_idx,
    -- the session's change of the cash balance, implicit deposit included
    cash_change + implicit_deposit as cash_change,
    -- external flows: deposits and transfers in (and the implicit deposit), withdrawals and
    -- transfers out
    external_inflow + implicit_deposit as inflow,
    external_outflow as outflow,
    implicit_deposit,
    income,
    costs
from final
