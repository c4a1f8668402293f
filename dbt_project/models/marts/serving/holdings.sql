{{
    config(
        materialized='view',
        schema='app',
        grants={'select': ['folio_reader']},
        post_hook=["alter view {{ this }} set (security_invoker = true)"],
    )
}}
-- Read contract: a portfolio's holdings at its latest snapshot, one row per symbol. Read it
-- with `where portfolio_id = $1`: one primary-key range of fct_portfolio_holdings.
with holdings as (
    select * from {{ ref('fct_portfolio_holdings') }}
)

select
    portfolio_id,
    symbol,
    investment_class,
    as_of,
    quantity,
    cost_basis,
    market_value,
    unrealized_pnl,
    weight,
    day_change,
    trading_currency,
    local_market_value,
    fx_rate,
    fx_rule
from holdings
