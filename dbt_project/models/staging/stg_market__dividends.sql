select
    symbol,
    ex_date,
    amount_per_share
from {{ source('market', 'dividends') }}
