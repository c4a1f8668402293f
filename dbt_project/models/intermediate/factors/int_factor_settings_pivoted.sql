-- One row: the refresh window's as-of session with the factor, risk, ranking and staleness
-- settings (migrations 0040, 0090: each threshold defined once, in ops.settings). A
-- risk-free symbol of 0 (or empty, or none) means a zero risk-free rate.
with refresh_windows as (
    select * from {{ ref('stg_ops__refresh_windows') }}
),

factor_settings as (
    select * from {{ ref('stg_ops__factor_settings') }}
),

pivoted as (
    select
        max(setting_value) filter (where setting_key = 'factor_window_sessions') as window_sessions,
        max(setting_value) filter (where setting_key = 'factor_min_observations') as min_observations,
        max(setting_value) filter (where setting_key = 'risk_free_symbol') as risk_free_symbol,
        max(setting_value) filter (where setting_key = 'rank_tie_tolerance') as rank_tie_tolerance,
        max(setting_value) filter (where setting_key = 'stale_price_sessions') as stale_price_sessions,
        max(setting_value) filter (
            where setting_key = 'sharpe_min_excess_volatility'
        ) as sharpe_min_excess_volatility,
        max(setting_value) filter (where setting_key = 'risk_min_quoted_share') as risk_min_quoted_share
    from factor_settings
),

final as (
    select
        refresh_windows.run_id,
        refresh_windows.as_of_idx,
        refresh_windows.as_of_date,
        coalesce(pivoted.window_sessions::integer, 252) as window_sessions,
        coalesce(pivoted.min_observations::integer, 60) as min_observations,
        case
            when coalesce(trim(pivoted.risk_free_symbol), '') in ('', '0', 'none') then null
            else trim(pivoted.risk_free_symbol)
        end as risk_free_symbol,
        coalesce(pivoted.rank_tie_tolerance::float8, 1e-10) as rank_tie_tolerance,
        coalesce(pivoted.stale_price_sessions::integer, 5) as stale_price_sessions,
        coalesce(pivoted.sharpe_min_excess_volatility::float8, 0.0001) as sharpe_min_excess_volatility,
        coalesce(pivoted.risk_min_quoted_share::float8, 0.5) as risk_min_quoted_share
    from refresh_windows
    cross join pivoted
)

select * from final
