select
    portfolio_id,
    from_idx,
    chunk_no
from {{ source('ops', 'refresh_scope') }}
