select
    portfolio_id,
    position_id,
    valuation_date,
    value as valuation_value
from {{ source('core', 'valuations') }}
