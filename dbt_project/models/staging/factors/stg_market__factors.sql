select
    factor,
    proxy_symbol,
    description as factor_description,
    is_market,
    is_active
from {{ source('market_factors', 'factors') }}
