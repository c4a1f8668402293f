{#-
  Materialization `foliodb_refresh`: a table plus an in-database refresh function holding the
  model's SQL, so dbt and pg_cron execute the same SQL.

  For a model configured with
      materialized='foliodb_refresh',
      unique_key=['portfolio_id', 'session_idx'],
      refresh_scope='portfolios_from_session'
  it
    1. creates the table from the columns (and data types) documented in the model's YAML,
       with the unique key as primary key (recreated, with its dependents, only when the columns
       change: --full-refresh keeps the table, its rows and the views built on it, and
       re-installs the definitions; `folio refresh --full` recomputes the rows);
    2. installs `<schema>.refresh__<model>() returns bigint`: delete the rows of the run's
       scope (refresh_scope, one of the names of foliodb_refresh_delete below, docs/refresh.md),
       insert the model's rows for that scope, return the row count;
  and computes nothing: dbt only installs definitions. The publish is always one
  `call ops.refresh(...)` (pg_cron's, `folio refresh`, `folio refresh --via dbt` after dbt has
  installed the models): it calls these functions in dependency order (ops.model_steps) in one
  transaction under one advisory lock, so readers never see the marts of two runs, and a dbt
  run killed at any moment leaves the previous results and working functions behind.
  A table rebuilt here (columns changed) or created in a database refreshed before is empty:
  the next refresh is full.
-#}

{#-
  The delete of a refresh: which of the table's rows the run recomputes, by the name of a scope
  ops.open_window wrote (sql/routines/21_refresh_engine.sql; the vocabulary: docs/refresh.md).
  session_column: the column compared with a portfolio's first recomputed session
  (portfolios_from_session). keep: the name of a macro giving a condition on `target` that a row
  of a portfolio in scope must meet to be kept, besides being older than the first recomputed
  session (portfolios_from_session; chart heads: their chart must still be able to continue
  them), or at all (portfolios; the lots: their inputs did not change). A model with a keep
  must not compute again the rows it keeps. chunked: the
  portfolios are those of the chunk being computed (chunk_by_portfolio). unless: a condition on
  `target` under which a row of the scope stays (refresh_write='changed', below; so far
  symbols_from_session only).
-#}
{% macro foliodb_refresh_delete(relation, refresh_scope, session_column='session_idx', keep=none, chunked=false, unless=none) %}
    {#- a chunked model deletes, as it computes, one chunk of the portfolio scope at a time -#}
    {%- set portfolio_scope = 'stg_ops__refresh_scope_chunks' if chunked else 'stg_ops__refresh_scopes' -%}
    {%- if refresh_scope == 'all' -%}
        delete from {{ relation }};
    {%- elif refresh_scope == 'portfolios' -%}
        delete from {{ relation }} as target
        using {{ ref(portfolio_scope) }} as scope
        where
            target.portfolio_id = scope.portfolio_id
            {%- if keep %}
            and not ({{ context[keep]('target') }});
            {%- else %};
            {%- endif %}
    {%- elif refresh_scope == 'portfolios_from_session' -%}
        delete from {{ relation }} as target
        using {{ ref(portfolio_scope) }} as scope
        where
            target.portfolio_id = scope.portfolio_id
            {%- if keep %}
            and (target.{{ session_column }} >= scope.from_idx or not ({{ context[keep]('target') }}));
            {%- else %}
            and target.{{ session_column }} >= scope.from_idx;
            {%- endif %}
    {%- elif refresh_scope == 'portfolio_blocks_from_block' -%}
        delete from {{ relation }} as target
        using {{ ref('int_risk_block_scopes') }} as scope
        where target.portfolio_id = scope.portfolio_id and target.block_no >= scope.from_block;
    {%- elif refresh_scope == 'symbols_from_session' -%}
        delete from {{ relation }} as target
        using {{ ref('stg_ops__refresh_symbol_scopes') }} as scope
        where target.symbol = scope.symbol and target.session_idx >= scope.from_idx
        {%- if unless %} and not ({{ unless }}){% endif %};
    {%- elif refresh_scope == 'exposure_symbols' -%}
        delete from {{ relation }} as target
        using {{ ref('stg_ops__refresh_exposure_symbols') }} as scope
        where
            target.symbol = scope.symbol
            and target.as_of_idx = (select windows.as_of_idx from {{ ref('stg_ops__refresh_windows') }} as windows);
    {%- elif refresh_scope == 'exposure_subjects' -%}
        delete from {{ relation }} as target
        using {{ ref('stg_ops__refresh_exposure_subjects') }} as scope
        where target.portfolio_id = scope.portfolio_id;
    {%- elif refresh_scope == 'reranking' -%}
        delete from {{ relation }}
        where (select windows.is_reranking from {{ ref('stg_ops__refresh_windows') }} as windows);
    {%- elif refresh_scope == 'calendar_changed' -%}
        delete from {{ relation }}
        where not ops.calendar_map_is_current('{{ relation }}');
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "foliodb_refresh: unknown refresh_scope " ~ refresh_scope ~ " of " ~ this
            ~ " (all, portfolios, portfolios_from_session, portfolio_blocks_from_block,"
            ~ " symbols_from_session, exposure_symbols, exposure_subjects, reranking, calendar_changed)"
        ) }}
    {%- endif -%}
{% endmacro %}

{#-
  When a scope is empty the step has nothing to delete or compute: a condition, true then, or
  none. The scopes of symbols (symbols_from_session, exposure_symbols): an edit's refresh has no
  new session and no corrected price, and its filled closes would otherwise set up a temporary
  table, analyze and drop it (~5 ms) to write nothing; reranking: the run does not re-rank;
  calendar_changed: the calendar map is current. A step skipped is not planned again either
  (after autovacuum changes its tables' statistics, a big statement's planning costs tens of
  ms). The portfolio scopes (portfolios, portfolios_from_session, portfolio_blocks_from_block:
  ops.refresh_scope, through the relation the delete reads; exposure_subjects: its own
  table): a refresh with no portfolio in scope (a tick of the schedule with nothing queued)
  computed nothing, but planned every step's statements to find that out (in a new session:
  207 -> 88 ms). A chunked model needs no test: with no chunk its loop runs no statement.
  empty_without (refresh_empty_without, scope `all`): the models every row of this one comes
  from; when none has a row and the table holds none, there is nothing to delete or compute
  (the filled FX rates of a database without FX rates: an edit's refresh in a new session
  planned and ran their statements for no row, 2-5 ms of it). Not for the FX conversions:
  their input, ops.currencies_needed, reads every activity, and testing it costs what the
  model does (measured: the same 4 ms).
  With the portfolio scopes (portfolios, portfolios_from_session, chunked or not): the models,
  keyed by portfolio_id, every row of this one comes from; when no portfolio of the whole
  scope (ops.refresh_scope, every chunk) has a row in any of them and the table holds none
  of theirs, the step returns at once. An entry [model, symbols] counts only the rows of model
  whose symbol has a row in symbols (the positions holding a symbol with a market dividend,
  for the cash). Every input must be a ref() of the model (dbt orders the steps by them).
  Onboarding a positions file (no activity): the lots, the cash and the cash per currency
  planned their statements, in a new session, to compute no row.
-#}
{% macro foliodb_refresh_scope_is_empty(refresh_scope, relation, empty_without=none, chunked=false) -%}
    {%- if refresh_scope in ('portfolios', 'portfolios_from_session') and empty_without -%}
        {#- the whole scope, whatever the chunk: the table ops.open_window wrote -#}
        {%- set in_scope = 'portfolio_id in (select scope.portfolio_id from ops.refresh_scope as scope)' -%}
        {%- for input in empty_without -%}
        {%- if input is string %}
        not exists (select from {{ ref(input) }} as input_rows where input_rows.{{ in_scope }}) and
        {%- else %}
        not exists (
            select from {{ ref(input[0]) }} as input_rows
            where
                input_rows.{{ in_scope }}
                and input_rows.symbol in (select symbols.symbol from {{ ref(input[1]) }} as symbols)
        ) and
        {%- endif %}
        {%- endfor %}
        not exists (select from {{ relation }} as stored where stored.{{ in_scope }})
    {%- elif refresh_scope in ('portfolios', 'portfolios_from_session') and not chunked -%}
        not exists (select from {{ ref('stg_ops__refresh_scopes') }})
    {%- elif refresh_scope == 'portfolio_blocks_from_block' -%}
        not exists (select from {{ ref('int_risk_block_scopes') }})
    {%- elif refresh_scope == 'exposure_subjects' -%}
        not exists (select from {{ ref('stg_ops__refresh_exposure_subjects') }})
    {%- elif refresh_scope == 'all' and empty_without -%}
        {%- for input in empty_without -%}
        not exists (select from {{ ref(input) }}) and
        {% endfor -%}
        not exists (select from {{ relation }})
    {%- elif refresh_scope == 'symbols_from_session' -%}
        not exists (select from {{ ref('stg_ops__refresh_symbol_scopes') }})
    {%- elif refresh_scope == 'exposure_symbols' -%}
        not exists (select from {{ ref('stg_ops__refresh_exposure_symbols') }})
    {%- elif refresh_scope == 'reranking' -%}
        not (select windows.is_reranking from {{ ref('stg_ops__refresh_windows') }} as windows)
    {%- elif refresh_scope == 'calendar_changed' -%}
        ops.calendar_map_is_current('{{ relation }}')
    {%- endif -%}
{%- endmacro %}

{% materialization foliodb_refresh, adapter='postgres' %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {#- The function body is stored as text: name relations without the database, so a
        database cloned from this one (tests) or renamed keeps working. -#}
    {%- set local_relation = target_relation.include(database=false) -%}
    {%- set local_sql = sql | replace('"' ~ this.database ~ '".', '') -%}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- set refresh_scope = config.get('refresh_scope') -%}
    {%- if not refresh_scope -%}
        {{ exceptions.raise_compiler_error("foliodb_refresh: " ~ this ~ " names no refresh_scope") }}
    {%- endif -%}
    {%- if config.get('refresh_empty_without') and refresh_scope not in ('all', 'portfolios', 'portfolios_from_session') -%}
        {{ exceptions.raise_compiler_error("foliodb_refresh: refresh_empty_without of " ~ this ~ " needs refresh_scope 'all', 'portfolios' or 'portfolios_from_session'") }}
    {%- endif -%}
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

    {#- refresh_write: 'all' (the default) deletes the scope's rows, then inserts the model's;
        'changed' writes only what differs: the model's rows once, into a temporary table that
        is analyzed (as a CTE they carried the model's estimate: for the filled closes of a
        full rebuild 2.8 billion rows against 635k, and the delete's anti-join, hashed for
        that size, took 23 s of a 28 s step), the scope's rows without a counterpart among
        them deleted, the others inserted, or updated where a value differs; a row stored as
        computed is not touched (not even locked). A full rebuild of unchanged history then
        writes nothing. Needs a unique_key; the step counts the rows
        inserted or updated. -#}
    {%- set refresh_write = config.get('refresh_write', 'all') -%}
    {%- set key_columns = ([unique_key] if unique_key is string else unique_key) if unique_key else [] -%}
    {%- set value_columns = columns | map(attribute='name') | reject('in', key_columns) | list -%}
    {%- if refresh_write not in ('all', 'changed') or (refresh_write == 'changed' and (
            not key_columns or refresh_scope != 'symbols_from_session' or config.get('chunk_by_portfolio', false))) -%}
        {{ exceptions.raise_compiler_error(
            "foliodb_refresh: refresh_write of " ~ this ~ " is 'all', or 'changed' with a unique_key"
            ~ " and refresh_scope='symbols_from_session', unchunked") }}
    {%- endif -%}
    {%- set rows_table = this.identifier ~ '__rows' -%}
    {%- set key_matches = [] -%}
    {%- for name in key_columns -%}
        {%- do key_matches.append('model_rows.' ~ name ~ ' = target.' ~ name) -%}
    {%- endfor -%}
    {%- set delete_statement = foliodb_refresh_delete(
        local_relation, refresh_scope,
        session_column=config.get('refresh_session_column', 'session_idx'),
        keep=config.get('refresh_keep'),
        chunked=config.get('chunk_by_portfolio', false),
        unless=(
            'exists (select from pg_temp.' ~ rows_table ~ ' as model_rows where '
            ~ (key_matches | join(' and ')) ~ ')'
        ) if refresh_write == 'changed' else none,
    ) | replace('"' ~ this.database ~ '".', '') -%}
    {%- if refresh_write == 'changed' -%}
    {%- set insert_statement -%}
            create temporary table {{ rows_table }} on commit drop as
            select {{ column_names }}
            from (
                {{ local_sql | indent(16) }}
            ) as computed;
            analyze pg_temp.{{ rows_table }};

            {{ delete_statement | trim }}

            -- a row stored as computed is left alone: ON CONFLICT would lock it (a lock is a
            -- write of its page, and WAL) even where its WHERE then updates nothing
            insert into {{ local_relation }} as target ({{ column_names }})
            select {{ column_names }}
            from pg_temp.{{ rows_table }} as model_rows
            where not exists (
                select from {{ local_relation }} as stored
                where
                    {%- for name in key_columns %}
                    stored.{{ name }} = model_rows.{{ name }} and
                    {%- endfor %}
                    ({% for name in value_columns %}stored.{{ name }}{{ ', ' if not loop.last }}{% endfor %})
                    is not distinct from
                    ({% for name in value_columns %}model_rows.{{ name }}{{ ', ' if not loop.last }}{% endfor %})
            )
            on conflict ({{ key_columns | join(', ') }}) do update set
                {%- for name in value_columns %}
                {{ name }} = excluded.{{ name }}{{ ',' if not loop.last }}
                {%- endfor %}
            where
                ({% for name in value_columns %}target.{{ name }}{{ ', ' if not loop.last }}{% endfor %})
                is distinct from
                ({% for name in value_columns %}excluded.{{ name }}{{ ', ' if not loop.last }}{% endfor %});
    {%- endset -%}
    {%- else -%}
    {%- set insert_statement -%}
            insert into {{ local_relation }} ({{ column_names }})
            select {{ column_names }}
            from (
                {{ local_sql | indent(16) }}
            ) as model_rows;
    {%- endset -%}
    {%- endif -%}

    {%- set scope_is_empty = foliodb_refresh_scope_is_empty(refresh_scope, local_relation, config.get('refresh_empty_without'), config.get('chunk_by_portfolio', false)) | trim | replace('"' ~ this.database ~ '".', '') -%}
    {#- refresh_keep with `portfolios`: the model computes only the portfolios in scope whose rows
        the delete did not keep; when it kept every one's (a fee or a deposit for the lots),
        the insert is not run (nor planned again after its tables' statistics change). -#}
    {%- set all_kept = none -%}
    {%- if refresh_scope == 'portfolios' and config.get('refresh_keep') -%}
        {%- set all_kept -%}
            not exists (
                select from {{ ref('stg_ops__refresh_scope_chunks' if config.get('chunk_by_portfolio', false) else 'stg_ops__refresh_scopes') }} as scope
                where not exists (select from {{ local_relation }} as kept where kept.portfolio_id = scope.portfolio_id)
            )
        {%- endset -%}
        {%- set all_kept = all_kept | trim | replace('"' ~ this.database ~ '".', '') -%}
    {%- endif -%}
    {% call statement('create_function') -%}
        create or replace function {{ refresh_function }}() returns bigint
        language plpgsql as $refresh$
        declare
            v_rows bigint := 0;
            v_chunk_rows bigint;
        begin
            {%- if scope_is_empty %}
            if {{ scope_is_empty }} then
                return 0;  -- nothing in scope, or no input row of its portfolios: nothing to delete or compute
            end if;
            {%- endif %}
            -- big scopes (a full rebuild) aggregate millions of rows: keep them in memory
            perform set_config('work_mem', coalesce(ops.setting('refresh_work_mem'), '256MB'), true);
            {%- if config.get('chunk_by_portfolio', false) %}
            -- A big scope is done in chunks of portfolios (numbered by ops.open_window), each a
            -- set-based statement reading its chunk (stg_ops__refresh_scope_chunks), so every
            -- chunk's aggregates fit in memory (the whole scope at 10k+ portfolios spills to disk).
            for v_chunk in 0 .. coalesce((select max(scope.chunk_no) from ops.refresh_scope as scope), -1) loop
                perform set_config('foliodb.refresh_chunk', v_chunk::text, true);
                {{ delete_statement | indent(8) }}
                {%- if all_kept %}
                -- every portfolio of the chunk kept its rows: the model would compute none
                continue when {{ all_kept }};
                {%- endif %}
                {{ insert_statement | indent(8) }}
                get diagnostics v_chunk_rows = row_count;
                v_rows := v_rows + v_chunk_rows;
            end loop;
            perform set_config('foliodb.refresh_chunk', '', true);
            return v_rows;
            {%- elif refresh_write == 'changed' %}
            {{ insert_statement }}
            get diagnostics v_rows = row_count;
            drop table pg_temp.{{ rows_table }};
            return v_rows;
            {%- else %}
            {{ delete_statement }}
            {%- if all_kept %}
            if {{ all_kept }} then
                return 0;  -- every portfolio in scope kept its rows: the model would compute none
            end if;
            {%- endif %}
            {{ insert_statement }}
            get diagnostics v_rows = row_count;
            return v_rows;
            {%- endif %}
        end
        $refresh$;
        comment on function {{ refresh_function }}() is
            'Refresh of {{ this }} generated by dbt from {{ model.original_file_path }}';
    {%- endcall %}

    {#- No computation here (see the top): a rebuilt table, or a new one (a model added to a
        database refreshed before), makes the next refresh a full one: an incremental one would
        compute only the new sessions' rows of an empty table. -#}
    {% call statement('main') -%}
        {%- if existing is none or rebuild %}
        update ops.refresh_state set as_of_date = null, as_of_idx = null;
        {%- endif %}
        select 0 as rows_written
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
