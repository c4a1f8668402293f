select
    portfolio_id,
    activity_id,
    activity_date,
    activity_type::text as activity_type,
    symbol,
    quantity,
    unit_price,
    amount,
    fee,
    currency,
    notes,
    source,
    external_id,
    fx_rate
from {{ source('core', 'activities') }}
