select
    base_currency,
    quote_currency,
    rate_date,
    rate as fx_rate,
    source as rate_source,
    loaded_at
from {{ source('market', 'fx_rates') }}
