select
    portfolio_id,
    user_id,
    name as portfolio_name,
    benchmark_symbol,
    is_public,
    created_at,
    cost_method::text as cost_method,
    base_currency
from {{ source('core', 'portfolios') }}
