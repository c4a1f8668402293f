select
    currency,
    name as currency_name,
    minor_units,
    coalesce(unit_of, currency) as whole_currency,
    coalesce(units_per, 1) as units_per_whole,
    is_subunit
from {{ source('market', 'currencies') }}
