select
    symbol,
    underlying as underlying_symbol,
    expiry_date,
    option_type,
    strike as strike_price,
    multiplier
from {{ source('market', 'option_contracts') }}
