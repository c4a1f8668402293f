{#-
  What a portfolio's lots (int_lots_matched) are computed from, as one digest per portfolio:
  its activities that name a symbol (id, type, symbol, date and its session, quantity, unit
  price; for a trade paid from cash in another currency, its rate into the base and rule:
  foreign_cash_trades), its cost method, the market's splits of those symbols (ex-date and its session,
  ratio) and the lots model's own SQL. Equal digests mean equal lots, so a refresh keeps the
  stored pieces of a portfolio whose digest did not change (a fee, a deposit, a cash
  dividend, a new session: most edits and every nightly) instead of matching its whole
  history again.
  scope: the relation naming the portfolios (portfolio_id) to digest.
-#}
{% macro lot_inputs_digests(scope) -%}
    {#- (dbt always has the model; sqlfluff's templater does not) -#}
    {%- set sql_digest = local_md5(model.raw_code) if model is defined else 'no model' -%}
    (
        select
            digested.portfolio_id,
            md5(concat_ws(
                '#',
                (
                    select string_agg(
                        concat_ws(
                            '|', activities.activity_id, activities.activity_type, activities.symbol,
                            activities.activity_date, dates.session_idx, activities.quantity, activities.unit_price,
                            -- a trade paid from cash in another currency: its rate into the base
                            trades_fx.fx_rule, trades_fx.fx_rate
                        ),
                        ',' order by activities.activity_id
                    )
                    from {{ ref('int_activities_in_base') }} as activities
                    left join {{ ref('int_calendar_dates_mapped') }} as dates
                        on activities.activity_date = dates.calendar_date
                    -- (of this portfolio alone: over the whole scope, its hash was built again
                    -- for each portfolio digested, reading every activity of the scope each
                    -- time: 1.2 s of a 1k nightly's 1.3 s lots step, 200 ledgers x 3,110 trades)
                    left join {{ foreign_cash_trades('(select digested.portfolio_id)') }} as trades_fx
                        on activities.activity_id = trades_fx.activity_id
                    where activities.portfolio_id = digested.portfolio_id and activities.symbol is not null
                ),
                (
                    select portfolios.cost_method
                    from {{ ref('stg_core__portfolios') }} as portfolios
                    where portfolios.portfolio_id = digested.portfolio_id
                ),
                (
                    select string_agg(
                        concat_ws('|', splits.symbol, splits.ex_date, dates.session_idx, splits.ratio),
                        ',' order by splits.symbol, splits.ex_date
                    )
                    from {{ ref('stg_market__splits') }} as splits
                    left join {{ ref('int_calendar_dates_mapped') }} as dates
                        on splits.ex_date = dates.calendar_date
                    where splits.symbol in (
                        select activities.symbol
                        from {{ ref('int_activities_in_base') }} as activities
                        where activities.portfolio_id = digested.portfolio_id
                    )
                ),
                '{{ sql_digest }}'
            )) as inputs_digest
        from {{ scope }} as digested
    )
{%- endmacro %}

{#- foliodb_refresh's refresh_keep for int_lots_matched: the piece's portfolio's inputs are
    those it was computed from. -#}
{% macro lot_inputs_unchanged(piece) -%}
    ({{ piece }}.portfolio_id, {{ piece }}.inputs_digest) in (
        select digests.portfolio_id, digests.inputs_digest
        from {{ lot_inputs_digests(ref('stg_ops__refresh_scope_chunks')) }} as digests
    )
{%- endmacro %}

{#-
  The ledger's trades paid from cash in another currency (docs/semantics.md, "A trade paid
  from cash in another currency"): a BUY, SELL or transfer of securities in the security's
  own currency, other than the base, that states no fx_rate (int_activities_in_base's
  cash_currency is that whole currency). One row per such trade of the portfolios of `scope`:
  the factor converting its unit price (in its whole currency) into the base on its session,
  the one that converts a cash balance in that currency there (the market's rate of the
  session, else its last with its age, else the rate the portfolio's own activities of the
  session imply), and its rule; no rate at all: fx_rate null, rule none, never 1.0. Read by
  int_lots_matched (the lots' prices in the base) and by its inputs digest, so a correction
  of the rate recomputes the lots.
-#}
{% macro foreign_cash_trades(scope) -%}
    (
        select
            activities.portfolio_id,
            activities.activity_id,
            coalesce(conversions.fx_rate, activity_rates.fx_rate) as fx_rate,
            coalesce(
                case when conversions.fx_rate is not null then conversions.fx_rule end,
                activity_rates.fx_rule,
                'none'
            ) as fx_rule,
            conversions.stale_sessions
        from {{ ref('int_activities_in_base') }} as activities
        inner join {{ ref('stg_core__portfolios') }} as portfolios
            on activities.portfolio_id = portfolios.portfolio_id
        inner join {{ ref('int_calendar_dates_mapped') }} as dates
            on activities.activity_date = dates.calendar_date
        left join {{ ref('int_fx_conversions_daily') }} as conversions
            on
                activities.cash_currency = conversions.currency
                and portfolios.base_currency = conversions.base_currency
                and dates.session_idx = conversions.session_idx
        left join {{ ref('int_fx_activity_rates_in_scope') }} as activity_rates
            on
                activities.portfolio_id = activity_rates.portfolio_id
                and activities.cash_currency = activity_rates.currency
                and portfolios.base_currency = activity_rates.base_currency
                and dates.session_idx = activity_rates.session_idx
        where
            activities.portfolio_id in (select scoped.portfolio_id from {{ scope }} as scoped)
            and activities.cash_currency <> portfolios.base_currency
            and activities.activity_type in ('BUY', 'SELL', 'TRANSFER_IN', 'TRANSFER_OUT')
            and activities.symbol is not null
    )
{%- endmacro %}
