{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'currency'],
        refresh_scope='portfolios',
        chunk_by_portfolio=true,
        refresh_empty_without=['int_cash_daily'],
    )
}}
-- One row per portfolio per currency its ledger keeps cash in, at the portfolio's last
-- snapshot session END (docs/semantics.md, "Currencies"): the balance in that currency and
-- its value in the base, converted as the snapshot converts it (the base: as it is; another
-- currency: the market's rate on END or its last, else the rate the portfolio's activities
-- of END imply, else none: no value, left out of the snapshot's cash_balance). The values of
-- a portfolio's rows sum to its snapshot's cash_balance at END.
with scopes as (
    select * from {{ ref('stg_ops__refresh_scope_chunks') }}
),

refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

-- read through its (portfolio_id, session_idx) key, for the scope's portfolios only
snapshots as not materialized (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

cash as not materialized (
    select * from {{ ref('int_cash_daily') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

fx_conversions as not materialized (
    select * from {{ ref('int_fx_conversions_daily') }}
),

-- the rates the scope's activities imply where the market has none (a handful of rows)
fx_activity_rates as materialized (
    select * from {{ ref('int_fx_activity_rates_in_scope') }}
),

-- each scoped portfolio's last session (as fct_portfolio_holdings finds it; materialized:
-- inlined, the lookup ran again for every cash row, 1,308 times for one ledger, 7 of 9 ms)
ends as materialized (
    select
        spans.portfolio_id,
        spans.end_idx
    from (
        select
            scopes.portfolio_id,
            (
                select max(snapshots.session_idx) from snapshots
                where snapshots.portfolio_id = scopes.portfolio_id
            ) as end_idx
        from scopes
    ) as spans
    where spans.end_idx is not null
),

-- each currency's balance at END's close
balances as (
    select
        cash.portfolio_id,
        cash.currency,
        ends.end_idx,
        portfolios.base_currency,
        sum(cash.cash_change) as balance,
        sum(cash.implicit_deposit) as implicit_deposits
    from cash
    inner join ends on cash.portfolio_id = ends.portfolio_id
    inner join portfolios on cash.portfolio_id = portfolios.portfolio_id
    where cash.session_idx <= ends.end_idx
    group by cash.portfolio_id, cash.currency, ends.end_idx, portfolios.base_currency
),

-- the rate into the base at END and the rule that gave it
converted as (
    select
        balances.*,
        case
            when balances.currency = balances.base_currency then 1.0
            else coalesce(end_fx.fx_rate, end_activity.fx_rate)
        end as fx_rate,
        case
            when balances.currency = balances.base_currency then 'base'
            else coalesce(end_activity.fx_rule, end_fx.fx_rule, 'none')
        end as fx_rule,
        case when balances.currency <> balances.base_currency then end_fx.stale_sessions end as stale_sessions
    from balances
    left join fx_conversions as end_fx
        on
            balances.currency = end_fx.currency
            and balances.base_currency = end_fx.base_currency
            and balances.end_idx = end_fx.session_idx
    left join fx_activity_rates as end_activity
        on
            balances.portfolio_id = end_activity.portfolio_id
            and balances.currency = end_activity.currency
            and balances.base_currency = end_activity.base_currency
            and balances.end_idx = end_activity.session_idx
),

final as (
    select
        converted.portfolio_id,
        converted.currency,
        snapshots.session_date as as_of,
        converted.balance::float8 as balance,
        converted.base_currency,
        case when converted.currency <> converted.base_currency then converted.fx_rate end::float8 as fx_rate,
        converted.fx_rule,
        case when converted.fx_rule = 'last_rate' then converted.stale_sessions end as fx_stale_sessions,
        (converted.balance::float8 * converted.fx_rate::float8) as market_value,
        -- what funded debits with no cash of the currency (in it; included in balance)
        converted.implicit_deposits::float8 as implicit_deposits,
        refresh_windows.run_id as computed_by_run
    from converted
    inner join snapshots
        on
            converted.portfolio_id = snapshots.portfolio_id
            and converted.end_idx = snapshots.session_idx
    cross join refresh_windows
)

select * from final
