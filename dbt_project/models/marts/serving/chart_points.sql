{{
    config(
        materialized='view',
        schema='app',
        grants={'select': ['folio_reader']},
        post_hook=["alter view {{ this }} set (security_invoker = true)"],
    )
}}
-- Read contract: the points of a portfolio's chart, one row per point, in order. Read it with
-- `where portfolio_id = $1 and period = $2 order by point_no`: one primary-key lookup of
-- the chart row, whose arrays are unnested here.
with chart_caches as (
    select * from {{ ref('fct_chart_caches') }}
),

final as (
    select
        chart_caches.portfolio_id,
        chart_caches.period,
        points.point_no::integer as point_no,
        points.point_date,
        points.point_value as value,
        points.cum_return,
        points.benchmark_cum_return
    from chart_caches
    cross join lateral unnest(
        chart_caches.point_dates,
        chart_caches.point_values,
        chart_caches.point_cum_returns,
        chart_caches.point_benchmark_cum_returns
    ) with ordinality as points (point_date, point_value, cum_return, benchmark_cum_return, point_no)
)

select * from final
