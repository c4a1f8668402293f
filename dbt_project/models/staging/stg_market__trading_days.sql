select
    calendar,
    session_date,
    session_idx,
    open_at,
    close_at
from {{ source('market', 'trading_days') }}
