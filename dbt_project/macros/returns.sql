{#-
  A day's time-weighted return (docs/semantics.md, "Returns"): inflows join at the start of the
  day at their entry price, outflows leave at its end at their exit price, so a flow is never a
  gain or a loss and a return is never below -100 %. Nothing held and nothing coming in: 0.
-#}
{% macro flow_adjusted_return(market_value, outflow, previous_value, inflow) -%}
    case
        when {{ previous_value }} + {{ inflow }} = 0 then 0
        else ({{ market_value }} + {{ outflow }}) / ({{ previous_value }} + {{ inflow }}) - 1
    end
{%- endmacro %}

{#-
  A part of a day's return (docs/semantics.md, "The parts of a day's return"): a part of the
  day's gain over the same denominator as flow_adjusted_return, 0 when that is 0.
-#}
{% macro return_part(gain, previous_value, inflow) -%}
    case
        when {{ previous_value }} + {{ inflow }} = 0 then 0
        else ({{ gain }}) / ({{ previous_value }} + {{ inflow }})
    end
{%- endmacro %}
