-- Soft-deleted positions do not exist for analytics.
select
    portfolio_id,
    position_id,
    symbol,
    investment_class::text as investment_class,
    quantity,
    entry_date,
    entry_price,
    exit_date,
    exit_price
from {{ source('core', 'positions') }}
where deleted_at is null
