-- The third rule of a conversion (docs/semantics.md, "Currencies"): the rate an activity
-- implies, for the portfolios of the chunk of the refresh's scope being computed. One row per
-- portfolio, currency and base currency per session where an activity of the portfolio states
-- the rate it was settled at (core.activities.fx_rate, migration 0250) and the market has no
-- rate on or before the session (int_fx_conversions_daily's rule 'none'): only there does it
-- convert, so the order session -> last_rate -> activity is decided here, once.
--   An activity's base amount is quantity x unit_price (a trade, a transfer of securities) or
--   its amount (a dividend, fee or tax of the security); its local amount is that / fx_rate.
--   The implied rate of a session = sum of base amounts / sum of local amounts (one
--   activity: its fx_rate).
with scopes as (
    select * from {{ ref('stg_ops__refresh_scope_chunks') }}
),

activities as not materialized (
    select * from {{ ref('int_activities_in_base') }}
    where
        fx_rate is not null
        and portfolio_id in (select scopes.portfolio_id from scopes)
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

symbols as not materialized (
    select * from {{ ref('stg_market__symbols') }}
),

currencies as not materialized (
    select * from {{ ref('stg_market__currencies') }}
),

calendar_dates as not materialized (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

fx_conversions as not materialized (
    select * from {{ ref('int_fx_conversions_daily') }}
),

-- each stated rate with its amounts, in the symbol's whole currency (GBp: per GBP)
stated as (
    select
        activities.portfolio_id,
        calendar_dates.session_idx,
        currencies.whole_currency as currency,
        portfolios.base_currency,
        coalesce(activities.quantity * activities.unit_price, activities.amount) as base_amount,
        coalesce(activities.quantity * activities.unit_price, activities.amount) / activities.fx_rate
            as local_amount
    from activities
    inner join portfolios on activities.portfolio_id = portfolios.portfolio_id
    inner join symbols on activities.symbol = symbols.symbol
    inner join currencies on symbols.trading_currency = currencies.currency
    inner join calendar_dates on activities.activity_date = calendar_dates.calendar_date
    where currencies.whole_currency <> portfolios.base_currency
),

implied as (
    select
        portfolio_id,
        currency,
        base_currency,
        session_idx,
        sum(base_amount) / sum(local_amount) as fx_rate,
        count(*) as n_activities
    from stated
    group by portfolio_id, currency, base_currency, session_idx
)

select
    implied.portfolio_id,
    implied.currency,
    implied.base_currency,
    implied.session_idx,
    implied.fx_rate,
    'activity' as fx_rule,
    implied.n_activities
from implied
left join fx_conversions
    on
        implied.currency = fx_conversions.currency
        and implied.base_currency = fx_conversions.base_currency
        and implied.session_idx = fx_conversions.session_idx
-- a market rate, on the session or before it, comes first
where fx_conversions.fx_rate is null
