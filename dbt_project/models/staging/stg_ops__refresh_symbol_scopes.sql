select
    symbol,
    from_idx
from {{ source('ops', 'refresh_symbol_scope') }}
