{#-
  The thinning rule of the chart caches (docs/semantics.md, "Chart caches"), shared by
  int_chart_heads and fct_chart_caches so both number the kept sessions the same way.
-#}

{#- The first "recent" session: the first session after END's date minus one month, after START. -#}
{% macro chart_recent_idx(recent_start_idx, start_idx) -%}
    greatest(coalesce({{ recent_start_idx }}, {{ start_idx }} + 1), {{ start_idx }} + 1)
{%- endmacro %}

{#- More than 260 sessions: number the sessions before the recent ones 0, 1, … from START + 1 and
    keep every step-th, step = ceil(others / (258 - recent)). -#}
{% macro chart_thinning_step(start_idx, end_idx, recent_idx) -%}
    greatest(
        ceil(
            greatest(least({{ recent_idx }}, {{ end_idx }}) - ({{ start_idx }} + 1), 0)::numeric
            / greatest(258 - ({{ end_idx }} - {{ recent_idx }}), 1)
        )::integer,
        1
    )
{%- endmacro %}

{#- A stored chart head (int_chart_heads, the row `head`) can still be continued: a 5Y or MAX
    chart of its portfolio starts at its START and ends at most 240 sessions after its until_idx
    (further on, its continuation would need more than the last 260 sessions). The refresh keeps
    such a row (foliodb_refresh's refresh_keep) unless a snapshot it was computed from changed. -#}
{% macro chart_head_is_current(head) -%}
    exists (
        select from {{ ref('int_portfolio_periods') }} as periods
        where
            periods.portfolio_id = {{ head }}.portfolio_id
            and periods.start_idx = {{ head }}.start_idx
            and periods.period in ('5Y', 'MAX')
            and periods.end_idx - {{ head }}.until_idx <= 240
    )
{%- endmacro %}
