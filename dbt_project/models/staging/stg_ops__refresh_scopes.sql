select
    portfolio_id,
    from_idx
from {{ source('ops', 'refresh_scope') }}
