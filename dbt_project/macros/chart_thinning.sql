{#-
  The thinning rule of the chart caches (docs/semantics.md, "Chart caches"), shared by
  int_chart_heads and fct_chart_caches so both number the kept sessions the same way.
-#}

{#- The first "recent" session: the first session after END's date minus one month, after START. -#}
{% macro chart_recent_idx(recent_start_idx, start_idx) -%}
    greatest(coalesce({{ recent_start_idx }}, {{ start_idx }} + 1), {{ start_idx }} + 1)
{%- endmacro %}

{#- More than chart_max_points (260) sessions: number the sessions before the recent ones 0, 1, …
    from START + 1 and keep every step-th, step = ceil(others / (258 - recent)): START and END
    are the other two points. -#}
{% macro chart_thinning_step(start_idx, end_idx, recent_idx) -%}
    greatest(
        ceil(
            greatest(least({{ recent_idx }}, {{ end_idx }}) - ({{ start_idx }} + 1), 0)::numeric
            / greatest({{ var('chart_max_points') }} - 2 - ({{ end_idx }} - {{ recent_idx }}), 1)
        )::integer,
        1
    )
{%- endmacro %}

{#- A stored chart head (int_chart_heads, the row `head`) can still be continued: a 5Y or MAX
    chart of its portfolio starts at its START and its END is at most chart_max_points - 1 (259)
    sessions after the head's until_idx. The continuation's first session is at or after
    until_idx, and the series (fct_chart_series) holds END - 259 … END; further on, the
    continuation would need sessions before the series. The refresh keeps such a row
    (foliodb_refresh's refresh_keep) unless a snapshot it was computed from changed. -#}
{% macro chart_head_is_current(head) -%}
    exists (
        select from {{ ref('int_portfolio_periods') }} as periods
        where
            periods.portfolio_id = {{ head }}.portfolio_id
            and periods.start_idx = {{ head }}.start_idx
            and periods.period in ('5Y', 'MAX')
            and periods.end_idx - {{ head }}.until_idx <= {{ var('chart_max_points') }} - 1
    )
{%- endmacro %}

{#- A stored series row (fct_chart_series, the row `series`) is its portfolio's latest: no row
    of a later END. The refresh keeps it (foliodb_refresh's refresh_keep) when the scope starts
    after its END, and builds the portfolio's new row from it; an older row, replaced by the
    latest, is deleted with the next refresh of its portfolio. -#}
{% macro chart_series_is_latest(series) -%}
    not exists (
        select from {{ this }} as later
        where later.portfolio_id = {{ series }}.portfolio_id and later.end_idx > {{ series }}.end_idx
    )
{%- endmacro %}
