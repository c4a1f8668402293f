{#-
  The `view` materialization, for Postgres: `create or replace view`, in place.

  dbt's own view materialization creates `<view>__dbt_tmp`, renames the old view away, commits,
  and then drops the old one with `cascade`: every view built on it (int_positions_in_scope on
  stg_core__positions, the app views on the marts) is dropped with it and only comes back when
  dbt reaches that model. Readers meanwhile find the app views missing, and a dbt run killed in
  between leaves them missing, so the in-database refresh (pg_cron's) fails until dbt runs again.

  Here a view is replaced in one statement: its dependents keep pointing at it and nothing is
  ever missing. Only when the new columns cannot replace the old ones (a column dropped,
  renamed or retyped: Postgres refuses `create or replace`) is the view dropped with its
  dependents and created again, in the same transaction; dbt re-creates the dependents when
  it reaches them (a schema change, not an ordinary run). --full-refresh replaces the view in
  place like any run: a view holds no rows to rebuild, and dropping it would take the views
  built on it along, also those the run does not select.
-#}
{% materialization view, adapter='postgres' %}
    {%- set existing = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set grant_config = config.get('grants') -%}
    {%- set recreate = existing is not none and existing.type != 'view' -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% call statement('main') -%}
        {%- if recreate %}
        drop {{ existing.type }} if exists {{ existing }} cascade;
        {%- endif %}
        do $foliodb_view$
        begin
            execute $foliodb_view_sql$
                create or replace view {{ target_relation }} as (
                    {{ sql | indent(20) }}
                )
            $foliodb_view_sql$;
        exception when invalid_table_definition or feature_not_supported then
            -- columns dropped, renamed or retyped: replace the view and its dependents
            execute 'drop view if exists {{ target_relation }} cascade';
            execute $foliodb_view_sql$
                create view {{ target_relation }} as (
                    {{ sql | indent(20) }}
                )
            $foliodb_view_sql$;
        end
        $foliodb_view$;
    {%- endcall %}

    {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke(existing, full_refresh_mode=recreate)) %}
    {% do persist_docs(target_relation, model) %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
