-- the flow_adjusted_return and return_part macros on given rows (unit tests only, never built); computed in
-- the given types (numeric: exact), shown as float8 so that 0.1 and 0.10000 compare equal
with daily_values as (
    select * from {{ source('macro_checks', 'daily_values') }}
),

final as (
    select
        daily_values.case_id,
        (
            {{ flow_adjusted_return(
                'daily_values.market_value', 'daily_values.outflow',
                'daily_values.previous_value', 'daily_values.inflow'
            ) }}
        )::float8 as daily_return,
        (
            {{ return_part('daily_values.gain', 'daily_values.previous_value', 'daily_values.inflow') }}
        )::float8 as part
    from daily_values
)

select * from final
