{#-
  Materialization `foliodb_refresh`: a table plus an in-database refresh function holding the
  model's SQL, so dbt and pg_cron execute the same SQL.

  For a model configured with
      materialized='foliodb_refresh',
      unique_key=['portfolio_id', 'session_idx'],
      delete_where="target.portfolio_id = scope.portfolio_id and target.session_idx >= scope.from_idx",
      delete_using='ops.refresh_scope as scope'
  it
    1. creates the table from the columns (and data types) documented in the model's YAML,
       with the unique key as primary key (recreated, with its dependents, only when the columns
       change: --full-refresh keeps the table, its rows and the views built on it, and
       re-installs the definitions; `folio refresh --full` recomputes the rows);
    2. installs `<schema>.refresh__<model>() returns bigint`: delete the rows of the window's
       scope, insert the model's rows for that scope, return the row count;
  and computes nothing: dbt only installs definitions. The publish is always one
  `call ops.refresh(...)` (pg_cron's, `folio refresh`, `folio refresh --via dbt` after dbt has
  installed the models): it calls these functions in dependency order (ops.model_steps) in one
  transaction under one advisory lock, so readers never see the marts of two runs, and a dbt
  run killed at any moment leaves the previous results and working functions behind.
  A table rebuilt here (columns changed) is empty: the next refresh is full.
-#}
{% materialization foliodb_refresh, adapter='postgres' %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {#- The function body is stored as text: name relations without the database, so a
        database cloned from this one (tests) or renamed keeps working. -#}
    {%- set local_relation = target_relation.include(database=false) -%}
    {%- set local_sql = sql | replace('"' ~ this.database ~ '".', '') -%}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- set delete_where = config.get('delete_where') -%}
    {%- set delete_using = config.get('delete_using') -%}
    {%- set indexes = config.get('indexes', []) -%}
    {%- set refresh_function = this.schema ~ '.refresh__' ~ this.identifier -%}

    {%- set columns = [] -%}
    {%- for name, column in model.columns.items() -%}
        {%- if not column.data_type -%}
            {{ exceptions.raise_compiler_error("foliodb_refresh: column " ~ name ~ " of " ~ this ~ " has no data_type in its YAML") }}
        {%- endif -%}
        {%- do columns.append({'name': name, 'type': column.data_type}) -%}
    {%- endfor -%}
    {%- if columns | length == 0 -%}
        {{ exceptions.raise_compiler_error("foliodb_refresh: " ~ this ~ " documents no columns in its YAML") }}
    {%- endif -%}
    {%- set column_names = columns | map(attribute='name') | join(', ') -%}

    {#- A table whose columns differ from the YAML is rebuilt. Not on --full-refresh alone:
        dropping the table would drop every view built on it (the app views) with it, also
        those the run does not select; its rows are recomputed by the publish. -#}
    {%- set rebuild = false -%}
    {%- if existing is not none -%}
        {%- set current = adapter.get_columns_in_relation(existing) | map(attribute='name') | list -%}
        {%- if current != (columns | map(attribute='name') | list) -%}
            {%- set rebuild = true -%}
        {%- endif -%}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% call statement('create_table') -%}
        {% if existing is not none and rebuild %}
        drop table {{ target_relation }} cascade;
        {% endif %}
        create table if not exists {{ target_relation }} (
            {%- for column in columns %}
            {{ column.name }} {{ column.type }}{{ ',' if not loop.last or unique_key }}
            {%- endfor %}
            {%- if unique_key %}
            primary key ({{ unique_key | join(', ') if unique_key is not string else unique_key }})
            {%- endif %}
        );
        {%- for index in indexes %}
        create {{ 'unique' if index.get('unique') }} index if not exists
            {{ this.identifier }}__{{ index.columns | join('_') }}{{ '__' ~ index.name if index.get('name') }}
            on {{ target_relation }} ({{ index.columns | join(', ') }})
            {%- if index.get('where') %} where {{ index.where }}{% endif %};
        {%- endfor %}
        {%- if existing is not none and rebuild %}
        -- rebuilt: every portfolio and symbol must be recomputed
        {%- endif %}
    {%- endcall %}

    {%- set delete_statement -%}
            {%- if delete_where == 'all' %}
            delete from {{ local_relation }};
            {%- else %}
            delete from {{ local_relation }} as target
            {%- if delete_using %}
            using {{ delete_using }}
            {%- endif %}
            where {{ delete_where }};
            {%- endif %}
    {%- endset -%}
    {%- set insert_statement -%}
            insert into {{ local_relation }} ({{ column_names }})
            select {{ column_names }}
            from (
                {{ local_sql | indent(16) }}
            ) as model_rows;
    {%- endset -%}

    {% call statement('create_function') -%}
        create or replace function {{ refresh_function }}() returns bigint
        language plpgsql as $refresh$
        declare
            v_rows bigint := 0;
            v_chunk_rows bigint;
            v_chunk_size integer;
            v_chunks integer;
        begin
            -- big scopes (a full rebuild) aggregate millions of rows: keep them in memory
            perform set_config('work_mem', coalesce(ops.setting('refresh_work_mem'), '256MB'), true);
            {%- if config.get('chunk_by_portfolio', false) %}
            -- A big scope is done in chunks of portfolios, each a set-based statement, so every
            -- chunk's aggregates fit in memory (the whole scope at 10k+ portfolios spills to disk).
            v_chunk_size := coalesce(ops.setting('refresh_chunk_portfolios')::integer, 2000);
            if (select count(*) from ops.refresh_scope) > v_chunk_size then
                create temp table if not exists refresh_scope_chunks (
                    portfolio_id bigint, from_idx integer, chunk integer
                ) on commit drop;
                truncate refresh_scope_chunks;
                insert into refresh_scope_chunks (portfolio_id, from_idx, chunk)
                select scope.portfolio_id, scope.from_idx,
                    ((row_number() over (order by scope.portfolio_id)) - 1) / v_chunk_size
                from ops.refresh_scope as scope;
                select max(chunk) + 1 into v_chunks from refresh_scope_chunks;
                for v_chunk in 0 .. v_chunks - 1 loop
                    delete from ops.refresh_scope;
                    insert into ops.refresh_scope (portfolio_id, from_idx)
                    select portfolio_id, from_idx from refresh_scope_chunks where chunk = v_chunk;
                    analyze ops.refresh_scope;
                    {{ delete_statement | indent(8) }}
                    {{ insert_statement | indent(8) }}
                    get diagnostics v_chunk_rows = row_count;
                    v_rows := v_rows + v_chunk_rows;
                end loop;
                delete from ops.refresh_scope;
                insert into ops.refresh_scope (portfolio_id, from_idx)
                select portfolio_id, from_idx from refresh_scope_chunks;
                analyze ops.refresh_scope;
                return v_rows;
            end if;
            {%- endif %}
            {{ delete_statement }}
            {{ insert_statement }}
            get diagnostics v_rows = row_count;
            return v_rows;
        end
        $refresh$;
        comment on function {{ refresh_function }}() is
            'Refresh of {{ this }} generated by dbt from {{ model.original_file_path }}';
    {%- endcall %}

    {#- No computation here (see the top): a rebuilt table makes the next refresh a full one. -#}
    {% call statement('main') -%}
        {%- if existing is not none and rebuild %}
        update ops.refresh_state set as_of_date = null, as_of_idx = null;
        {%- endif %}
        select 0 as rows_written
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
