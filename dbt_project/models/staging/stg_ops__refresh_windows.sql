select
    run_id,
    mode as refresh_mode,
    calendar,
    as_of_date,
    as_of_idx,
    previous_as_of_idx,
    is_reranking
from {{ source('ops', 'refresh_window') }}
