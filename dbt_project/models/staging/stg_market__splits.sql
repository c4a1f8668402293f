select
    symbol,
    ex_date,
    ratio
from {{ source('market', 'splits') }}
