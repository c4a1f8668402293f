{#-
  The import CTEs of what values a position, for the models that value positions
  (fct_portfolio_snapshots, fct_portfolio_holdings): manual valuations, filled closes,
  symbols and their currencies, the FX conversions and the rates the scope's activities
  imply. Written once here; the CTEs they are read through are named as the models use them.
-#}
{% macro valuation_inputs() -%}
valuations as not materialized (
    select * from {{ ref('int_valuations_in_scope') }}
),

prices_filled as not materialized (
    select * from {{ ref('int_prices_filled_daily') }}
),

{{ fx_inputs() }}
{%- endmacro %}

{#-
  The import CTEs of converting a security's money into a portfolio's base currency: symbols
  and their currencies, the FX conversions and the rates the scope's activities imply (read
  by valuation_inputs, and by int_cash_daily for the market's dividends).
-#}
{% macro fx_inputs() -%}
symbols as not materialized (
    select * from {{ ref('stg_market__symbols') }}
),

currencies as not materialized (
    select * from {{ ref('stg_market__currencies') }}
),

fx_conversions as not materialized (
    select * from {{ ref('int_fx_conversions_daily') }}
),

-- the rates the scope's activities imply, only where the market has none (the third rule):
-- a handful of rows, computed once per statement and hashed (materialized), not re-planned
-- into each join
fx_activity_rates as materialized (
    select * from {{ ref('int_fx_activity_rates_in_scope') }}
)
{%- endmacro %}

{#-
  A quoted position's value on a session, in the base currency (fct_portfolio_snapshots: the
  positions held in the base currency and the others, each path with its own close and
  factor): an option on its expiry session is worth its intrinsic value; a ledger's lot with
  no close yet is valued at its cost (per unit in the base currency already); otherwise the
  session's close (filled: the last one before it) or, with none, the entry price; times the
  factor into the base currency.
-#}
{% macro quoted_value(position, session_idx, close, factor) -%}
    {{ position }}.units * case
        when {{ session_idx }} = {{ position }}.expiry_idx and {{ position }}.expiry_value is not null
            then {{ position }}.expiry_value * {{ factor }}
        when {{ position }}.is_ledger and {{ close }} is null
            then {{ position }}.entry_price
        else coalesce({{ close }}, {{ position }}.entry_price) * {{ factor }}
    end
{%- endmacro %}
