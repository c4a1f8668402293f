-- The settings of the factor and risk models (ops.settings rows, one per key).
select
    key as setting_key,
    value as setting_value
from {{ source('ops_factors', 'settings') }}
where key in ('factor_window_sessions', 'factor_min_observations', 'risk_free_symbol')
