{{
    config(
        materialized='view',
        schema='app',
        grants={'select': ['folio_reader']},
        post_hook=["alter view {{ this }} set (security_invoker = true)"],
    )
}}
{#- the chart's tail in its portfolio's series: the sessions tail_idx … END -#}
{%- set tail = '[chart_caches.tail_idx - chart_series.series_idx + 1:chart_caches.end_idx - chart_series.series_idx + 1]' %}
-- Read contract: the points of a portfolio's chart, one row per point, in order. Read it with
-- `where portfolio_id = $1 and period = $2 order by point_no`: one primary-key lookup of the
-- chart row and one of its portfolio's series (the row of the chart's END). A chart's points are its head (the chart row's
-- arrays: empty unless thinned), then its tail, the sessions tail_idx … END sliced from the
-- series (position p is session series_idx + p - 1) with the returns rebased on START here
-- (docs/semantics.md, "Chart caches"): the same expressions as the stored head's, so a point
-- reads the same whichever part holds it.
with chart_caches as (
    select * from {{ ref('fct_chart_caches') }}
),

chart_series as (
    select * from {{ ref('fct_chart_series') }}
),

final as (
    select
        chart_caches.portfolio_id,
        chart_caches.period,
        points.point_no::integer as point_no,
        points.point_date,
        points.point_value as value,
        -- the head's returns are stored rebased; the tail's are rebased here
        case
            when points.point_no <= cardinality(chart_caches.head_dates) then points.cum_twr
            else (1 + points.cum_twr) / nullif(1 + chart_caches.start_cum_twr, 0) - 1
        end as cum_return,
        case
            when points.point_no <= cardinality(chart_caches.head_dates) then points.benchmark_close
            else (points.benchmark_close / nullif(chart_caches.start_benchmark_close, 0))::float8 - 1
        end as benchmark_cum_return
    from chart_caches
    inner join chart_series
        on
            chart_caches.portfolio_id = chart_series.portfolio_id
            and chart_caches.end_idx = chart_series.end_idx
    -- one pass over the head followed by the tail (one function scan: a union of the two
    -- planned in twice the time)
    cross join lateral unnest(
        chart_caches.head_dates
        || chart_series.series_dates{{ tail }},
        chart_caches.head_values
        || chart_series.series_values{{ tail }},
        chart_caches.head_cum_returns
        || chart_series.series_cum_twrs{{ tail }},
        chart_caches.head_benchmark_cum_returns
        || chart_series.series_benchmark_closes{{ tail }}
    ) with ordinality as points (point_date, point_value, cum_twr, benchmark_close, point_no)
)

select * from final
