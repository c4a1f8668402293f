-- The ledger's activities with their money in the portfolio's base currency (docs/semantics.md,
-- "Currencies"): an activity in another currency (a EUR deposit into a USD ledger, a buy of a
-- USD share paid in USD by a EUR ledger) has its unit price, amount and fee times its fx_rate,
-- the base currency per unit of its whole currency, which the import requires for it; pence
-- (GBp) are a pound / 100 first. An activity in the base currency is as stored. Every model
-- that reads activities' money reads it here, so the conversion is defined once.
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
            else activities.fx_rate / currencies.units_per_whole
        end as to_base
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
    fx_rate
from factors
