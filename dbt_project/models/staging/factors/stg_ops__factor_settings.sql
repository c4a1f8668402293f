-- The settings of the factor, risk, ranking and staleness rules (ops.settings rows, one per key).
select
    key as setting_key,
    value as setting_value
from {{ source('ops_factors', 'settings') }}
where
    key in (
        'factor_window_sessions', 'factor_min_observations', 'risk_free_symbol', 'rank_tie_tolerance',
        'stale_price_sessions', 'sharpe_min_excess_volatility', 'risk_min_quoted_share'
    )
