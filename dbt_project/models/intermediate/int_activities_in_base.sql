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
--
-- One select, no WITH: the lots, the cash and the FX inputs read this view under the refresh
-- scope's semi join (`where portfolio_id in (select … from scopes)`), and PostgreSQL flattens a
-- view into its reader only when it has no WITH of its own. A WITH view was planned on its
-- own, before that join: every refresh joined every activity of every portfolio, 80 ms at
-- 10,000 portfolios in each of the lots and the cash steps with one portfolio in scope; flat,
-- the scope's activities are read by the portfolio key.
select
    factors.portfolio_id,
    factors.activity_id,
    factors.activity_date,
    factors.activity_type,
    factors.symbol,
    factors.quantity,
    case when factors.to_base is null then factors.unit_price else factors.unit_price * factors.to_base end
        as unit_price,
    case when factors.to_base is null then factors.amount else factors.amount * factors.to_base end as amount,
    case when factors.to_base is null then factors.fee else factors.fee * factors.to_base end as fee,
    factors.currency,
    factors.notes,
    factors.source,
    factors.external_id,
    factors.fx_rate,
    factors.cash_currency
from (  -- noqa: ST05
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
    from {{ ref('stg_core__activities') }} as activities
    inner join {{ ref('stg_core__portfolios') }} as portfolios on activities.portfolio_id = portfolios.portfolio_id
    -- inner: core.activities.currency is not null and a market.currencies key
    -- (activities_currency_known)
    inner join {{ ref('stg_market__currencies') }} as currencies on activities.currency = currencies.currency
) as factors
