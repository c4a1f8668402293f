{{
    config(
        materialized='view',
        schema='app',
        grants={'select': ['folio_reader']},
        post_hook=["alter view {{ this }} set (security_invoker = true)"],
    )
}}
-- Read contract: a portfolio's cash per currency at its latest snapshot, one row per currency
-- its ledger keeps cash in. Read it with `where portfolio_id = $1`: one primary-key range of
-- fct_portfolio_cash.
with cash as (
    select * from {{ ref('fct_portfolio_cash') }}
)

select
    portfolio_id,
    currency,
    as_of,
    balance,
    base_currency,
    fx_rate,
    fx_rule,
    fx_stale_sessions,
    market_value,
    implicit_deposits
from cash
