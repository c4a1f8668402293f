-- the chart thinning macros on given chart periods (unit tests only, never built)
with chart_spans as (
    select * from {{ source('macro_checks', 'chart_spans') }}
),

recent as (
    select
        chart_spans.*,
        {{ chart_recent_idx('chart_spans.recent_start_idx', 'chart_spans.start_idx') }} as recent_idx
    from chart_spans
),

final as (
    select
        recent.case_id,
        recent.recent_idx,
        {{ chart_thinning_step('recent.start_idx', 'recent.end_idx', 'recent.recent_idx') }} as step
    from recent
)

select * from final
