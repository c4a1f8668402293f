{#-
  What a portfolio's lots (int_lots_matched) are computed from, as one digest per portfolio:
  its activities that name a symbol (id, type, symbol, date and its session, quantity, unit
  price), its cost method, the market's splits of those symbols (ex-date and its session,
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
            scoped.portfolio_id,
            md5(concat_ws(
                '#',
                (
                    select string_agg(
                        concat_ws(
                            '|', activities.activity_id, activities.activity_type, activities.symbol,
                            activities.activity_date, dates.session_idx, activities.quantity, activities.unit_price
                        ),
                        ',' order by activities.activity_id
                    )
                    from {{ ref('int_activities_in_base') }} as activities
                    left join {{ ref('int_calendar_dates_mapped') }} as dates
                        on activities.activity_date = dates.calendar_date
                    where activities.portfolio_id = scoped.portfolio_id and activities.symbol is not null
                ),
                (
                    select portfolios.cost_method
                    from {{ ref('stg_core__portfolios') }} as portfolios
                    where portfolios.portfolio_id = scoped.portfolio_id
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
                        where activities.portfolio_id = scoped.portfolio_id
                    )
                ),
                '{{ sql_digest }}'
            )) as inputs_digest
        from {{ scope }} as scoped
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
