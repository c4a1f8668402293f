select
    symbol,
    kind as symbol_kind,
    currency as trading_currency
from {{ source('market', 'symbols') }}
