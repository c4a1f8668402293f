{#-
  Risk pieces (docs/factors.md, "How risk stays incremental"): a piece summarizes a run of
  consecutive sessions of one portfolio so that a period's risk figures are its pieces combined
  in order, without reading the period's sessions again.

  `risk_piece_aggregates(path)` is the select list that summarizes the rows of `path`, which has
  the columns
      session_idx, daily_return, growth (1 + cum_twr), benchmark_return, risk_free_return,
      is_quoted     -- the portfolio's return has a real quote on both days (risk_path)
      is_counted    -- the session's return belongs to the period (false for a period's START)
      running_high  -- the highest [growth, session_idx] of the piece up to this session
  and yields, per piece:
      first_idx, last_idx
      n_returns, mean_return, m2_return          -- count, mean, sum of squared deviations
      n_quoted                                   -- returns with a real quote on both days
      mean_excess, m2_excess, mean_risk_free     -- of r − rf, and of rf
      n_pairs, mean_pair_return, mean_benchmark, -- sessions where the portfolio and the
                                                 -- benchmark both have a real quote on both days:
      m2_pair_return, m2_benchmark, co_moment    -- means, squared and cross deviations
      best_day [r, −idx], worst_day [r, idx]     -- the earliest on ties
      high_point [growth, idx]                   -- the highest, its last session
      low_point [growth, idx]                    -- the lowest, its first session
      deepest [drawdown, trough idx, −peak idx]  -- the piece's own deepest drawdown
  Means and squared deviations (not plain sums of squares) combine without cancellation, and a
  constant series keeps a spread of exactly 0.
-#}
{% macro risk_piece_aggregates(path) -%}
    min({{ path }}.session_idx) as first_idx,
    max({{ path }}.session_idx) as last_idx,
    count(*) filter (where {{ path }}.is_counted)::integer as n_returns,
    avg({{ path }}.daily_return) filter (where {{ path }}.is_counted) as mean_return,
    var_pop({{ path }}.daily_return) filter (where {{ path }}.is_counted)
    * count(*) filter (where {{ path }}.is_counted) as m2_return,
    count(*) filter (where {{ path }}.is_counted and {{ path }}.is_quoted)::integer as n_quoted,
    avg({{ path }}.daily_return - {{ path }}.risk_free_return) filter (where {{ path }}.is_counted)
        as mean_excess,
    var_pop({{ path }}.daily_return - {{ path }}.risk_free_return) filter (where {{ path }}.is_counted)
    * count(*) filter (where {{ path }}.is_counted) as m2_excess,
    avg({{ path }}.risk_free_return) filter (where {{ path }}.is_counted) as mean_risk_free,
    regr_count({{ path }}.daily_return, {{ path }}.benchmark_return)
        filter (where {{ path }}.is_counted)::integer as n_pairs,
    regr_avgy({{ path }}.daily_return, {{ path }}.benchmark_return)
        filter (where {{ path }}.is_counted) as mean_pair_return,
    regr_avgx({{ path }}.daily_return, {{ path }}.benchmark_return)
        filter (where {{ path }}.is_counted) as mean_benchmark,
    regr_syy({{ path }}.daily_return, {{ path }}.benchmark_return)
        filter (where {{ path }}.is_counted) as m2_pair_return,
    regr_sxx({{ path }}.daily_return, {{ path }}.benchmark_return)
        filter (where {{ path }}.is_counted) as m2_benchmark,
    regr_sxy({{ path }}.daily_return, {{ path }}.benchmark_return)
        filter (where {{ path }}.is_counted) as co_moment,
    max(array[{{ path }}.daily_return, -{{ path }}.session_idx]) filter (where {{ path }}.is_counted)
        as best_day,
    min(array[{{ path }}.daily_return, {{ path }}.session_idx]) filter (where {{ path }}.is_counted)
        as worst_day,
    max(array[{{ path }}.growth, {{ path }}.session_idx]) as high_point,
    min(array[{{ path }}.growth, {{ path }}.session_idx]) as low_point,
    min(
        array[
            {{ path }}.growth / nullif({{ path }}.running_high[1], 0) - 1,
            {{ path }}.session_idx,
            -{{ path }}.running_high[2]
        ]
    ) as deepest
{%- endmacro %}


{#- The rows a piece summarizes, `path` above: one portfolio's snapshots from_idx .. through_idx
    with its benchmark's and the risk-free proxy's return on each session, looked up by
    position in the arrays of the relations `benchmark` and `risk_free` (first_idx, returns,
    quoted_returns), which the caller joins; counted from counted_from on; running highs
    restart at each `piece` (an expression of session_idx: all one piece, or fixed blocks).

    One rule for what is a real return (docs/factors.md): a return has a real quote when it is
    a close-to-close move between two sessions that both have a real quote, not a carried-forward
    close. The portfolio's side is the snapshot's is_quoted_return (a position valued at its own
    close on the session and the one before); the benchmark's is its quoted_returns. The
    benchmark's return of a pair is null unless both sides are real. -#}
{% macro risk_path(portfolio, from_idx, through_idx, counted_from, piece) -%}
    select
        series.*,
        series.session_idx >= {{ counted_from }} as is_counted,
        max(array[series.growth, series.session_idx]) over (
            partition by series.piece
            order by series.session_idx
            rows between unbounded preceding and current row
        ) as running_high
    -- noqa: ST05
    from (
        select
            snapshots.session_idx,
            {{ piece }} as piece,
            snapshots.daily_return,
            1 + snapshots.cum_twr as growth,
            snapshots.is_quoted_return as is_quoted,
            case
                when snapshots.is_quoted_return
                    then nullif(benchmark.quoted_returns[snapshots.session_idx - benchmark.first_idx + 1], 'NaN')
            end as benchmark_return,
            coalesce(nullif(risk_free.returns[snapshots.session_idx - risk_free.first_idx + 1], 'NaN'), 0)
                as risk_free_return
        from snapshots
        where
            snapshots.portfolio_id = {{ portfolio }}
            and snapshots.session_idx between {{ from_idx }} and {{ through_idx }}
    ) as series
{%- endmacro %}


{#- The columns of a piece, in the order risk_piece_aggregates yields them (a stored block read
    back as a piece). -#}
{% macro risk_piece_columns(relation) -%}
    {%- set names = [
        'first_idx', 'last_idx', 'n_returns', 'mean_return', 'm2_return', 'n_quoted', 'mean_excess', 'm2_excess',
        'mean_risk_free', 'n_pairs', 'mean_pair_return', 'mean_benchmark', 'm2_pair_return',
        'm2_benchmark', 'co_moment', 'best_day', 'worst_day', 'high_point', 'low_point', 'deepest',
    ] -%}
    {%- for name in names %}
    {{ relation }}.{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{#- Two consecutive pieces `a` then `b` combined into one (the columns of risk_piece_columns,
    in order): counts add, means weight by their counts, squared and cross deviations add
    with the spread between the two means (Chan et al.), extremes keep their sessions, and the
    deepest drawdown is a's, b's, or one from a's high to b's low. -#}
{% macro risk_piece_combine(a, b) -%}
    {{ a }}.first_idx,
    {{ b }}.last_idx,
    {{ a }}.n_returns + {{ b }}.n_returns,
    {{ _combine_mean(a, b, 'n_returns', 'mean_return') }},
    {{ _combine_m2(a, b, 'n_returns', 'mean_return', 'mean_return', 'm2_return') }},
    {{ a }}.n_quoted + {{ b }}.n_quoted,
    {{ _combine_mean(a, b, 'n_returns', 'mean_excess') }},
    {{ _combine_m2(a, b, 'n_returns', 'mean_excess', 'mean_excess', 'm2_excess') }},
    {{ _combine_mean(a, b, 'n_returns', 'mean_risk_free') }},
    {{ a }}.n_pairs + {{ b }}.n_pairs,
    {{ _combine_mean(a, b, 'n_pairs', 'mean_pair_return') }},
    {{ _combine_mean(a, b, 'n_pairs', 'mean_benchmark') }},
    {{ _combine_m2(a, b, 'n_pairs', 'mean_pair_return', 'mean_pair_return', 'm2_pair_return') }},
    {{ _combine_m2(a, b, 'n_pairs', 'mean_benchmark', 'mean_benchmark', 'm2_benchmark') }},
    {{ _combine_m2(a, b, 'n_pairs', 'mean_pair_return', 'mean_benchmark', 'co_moment') }},
    greatest({{ a }}.best_day, {{ b }}.best_day),
    least({{ a }}.worst_day, {{ b }}.worst_day),
    greatest({{ a }}.high_point, {{ b }}.high_point),
    least({{ a }}.low_point, {{ b }}.low_point),
    least(
        {{ a }}.deepest,
        {{ b }}.deepest,
        array[
            {{ b }}.low_point[1] / nullif({{ a }}.high_point[1], 0) - 1,
            {{ b }}.low_point[2],
            -{{ a }}.high_point[2]
        ]
    )
{%- endmacro %}

{% macro _combine_mean(a, b, n, mean) -%}
    case
        when {{ a }}.{{ n }} = 0 then {{ b }}.{{ mean }}
        when {{ b }}.{{ n }} = 0 then {{ a }}.{{ mean }}
        else
            ({{ a }}.{{ n }} * {{ a }}.{{ mean }} + {{ b }}.{{ n }} * {{ b }}.{{ mean }})
            / ({{ a }}.{{ n }} + {{ b }}.{{ n }})
    end
{%- endmacro %}

{#- m2 of x (mean_x) and y (mean_y): a cross moment when they differ, squares when the same -#}
{% macro _combine_m2(a, b, n, mean_x, mean_y, m2) -%}
    case
        when {{ a }}.{{ n }} = 0 then {{ b }}.{{ m2 }}
        when {{ b }}.{{ n }} = 0 then {{ a }}.{{ m2 }}
        else
            {{ a }}.{{ m2 }} + {{ b }}.{{ m2 }}
            + ({{ b }}.{{ mean_x }} - {{ a }}.{{ mean_x }}) * ({{ b }}.{{ mean_y }} - {{ a }}.{{ mean_y }})
            * {{ a }}.{{ n }} * {{ b }}.{{ n }} / ({{ a }}.{{ n }} + {{ b }}.{{ n }})
    end
{%- endmacro %}


{#- The joins risk_path reads through: the portfolio's benchmark and the risk-free proxy as
    `benchmark` and `risk_free` (first_idx, returns). Needs, in scope, the CTEs `portfolios`,
    `factor_settings` and `symbol_returns` (int_risk_symbol_returns). -#}
{% macro join_risk_series(portfolio_id) -%}
    inner join portfolios on {{ portfolio_id }} = portfolios.portfolio_id
    cross join factor_settings
    left join symbol_returns as benchmark on portfolios.benchmark_symbol = benchmark.symbol
    left join symbol_returns as risk_free on factor_settings.risk_free_symbol = risk_free.symbol
{%- endmacro %}


{#- A lateral subquery: the piece of one portfolio's sessions from start_idx (on the wealth
    path only, its return not counted) through the end of start_idx's block, or end_idx when
    that comes first. Joined after join_risk_series. -#}
{% macro risk_head_piece(portfolio, start_idx, end_idx=none) -%}
    {%- set block_end = '(%s / %s + 1) * %s - 1' | format(start_idx, var('risk_block_sessions'), var('risk_block_sessions')) -%}
    lateral ( -- noqa: ST05
        select {{ risk_piece_aggregates('path') }}
        from (
            {{ risk_path(
                portfolio=portfolio,
                from_idx=start_idx,
                through_idx=block_end if end_idx is none else 'least(%s, %s)' | format(end_idx, block_end),
                counted_from=start_idx ~ ' + 1',
                piece='0',
            ) | indent(8) }}
        ) as path
    )
{%- endmacro %}
