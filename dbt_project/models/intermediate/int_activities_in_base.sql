-- The ledger's activities with their money in the currency of the cash they move
-- (docs/semantics.md, "Currencies"), cash_currency: the portfolio's base currency, or for a
-- cash activity or a security's dividend, fee or tax in another currency that states no
-- fx_rate, its own whole currency (a EUR deposit without a rate into a USD ledger: 1,000 EUR
-- of EUR cash). An activity in another currency with fx_rate (a EUR deposit into a USD ledger
-- converted by the broker, a buy of a USD share paid in USD by a EUR ledger) has its unit
-- price, amount and fee times its fx_rate, the base currency per unit of its whole currency;
-- one without, in its own whole currency. Pence (GBp) are a pound / 100 first. An activity in
-- the base currency is as stored. Every model that reads activities' money reads it here, so
-- the conversion is defined once. A trade in another currency without fx_rate is paid from
-- cash in that currency (its money here in that currency; its lot is priced in the base at
-- the market's rate of its session by int_lots_matched: foreign_cash_trades).
with activities as (
    select * from {{ ref('stg_core__activities') }}
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

currencies as (
    select * from {{ ref('stg_market__currencies') }}
),

factors as (
    select
        activities.*,
        -- null: in the base currency, as stored
        case
            when activities.currency = portfolios.base_currency then null
            when currencies.whole_currency = portfolios.base_currency then 1 / currencies.units_per_whole
            when activities.fx_rate is null then 1 / currencies.units_per_whole
            else activities.fx_rate / currencies.units_per_whole
        end as to_base,
        case
            when activities.fx_rate is null and currencies.whole_currency <> portfolios.base_currency
                then currencies.whole_currency
            else portfolios.base_currency
        end as cash_currency
    from activities
    inner join portfolios on activities.portfolio_id = portfolios.portfolio_id
    left join currencies on activities.currency = currencies.currency
)

select
    portfolio_id,
    activity_id,
    activity_date,
    activity_type,
    symbol,
    quantity,
    case when to_base is null then unit_price else unit_price * to_base end as unit_price,
    case when to_base is null then amount else amount * to_base end as amount,
    case when to_base is null then fee else fee * to_base end as fee,
    currency,
    notes,
    source,
    external_id,
    fx_rate,
    cash_currency
from factors
