{{
    config(
        materialized='view',
        schema='app',
        grants={'select': ['folio_reader']},
        post_hook=["alter view {{ this }} set (security_invoker = true)"],
    )
}}
-- Read contract: a portfolio's ledger, one row per activity. Read it with
-- `where portfolio_id = $1 order by activity_date, activity_id`: one range of the
-- (portfolio_id, activity_date) index.
with activities as (
    select * from {{ ref('stg_core__activities') }}
)

select
    portfolio_id,
    activity_id,
    activity_date,
    activity_type,
    symbol,
    quantity,
    unit_price,
    amount,
    fee,
    currency,
    notes,
    source,
    external_id
from activities
