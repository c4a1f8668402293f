select
    symbol,
    price_date,
    close as close_price,
    adj_close as adj_close_price,
    volume,
    source as price_source,
    loaded_at
from {{ source('market', 'prices') }}
