{#-
  on-run-start: dbt installs the models' tables, refresh functions and views, and computes
  nothing: the publish is one `call ops.refresh(...)` (see foliodb_refresh.sql). It does so
  only while no refresh runs: ops.dbt_open takes the refresh lock, or accepts the one held by
  `folio refresh --via dbt` (var refresh_lock_holder: that client's backend pid), or stops.
-#}
{% macro refresh_open() %}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        select ops.dbt_open({{ var('refresh_lock_holder', 'null') | int if var('refresh_lock_holder', none) is not none else 'null' }})
    {%- else -%}
        select 1
    {%- endif -%}
{% endmacro %}

{#-
  on-run-end: write ops.model_steps, the refresh functions in dependency order, from the dbt
  graph, and drop the relations of models the project no longer has (ops.drop_retired_models).
-#}
{% macro refresh_close(results) %}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        {%- set nodes = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.config.materialized == 'foliodb_refresh' -%}
                {%- do nodes.append(node) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set node_ids = nodes | map(attribute='unique_id') | list -%}
        {#- A model's refresh parents: the refresh models it reads, directly or through views
            (fct_symbol_exposures reads int_symbol_returns_daily through the view
            int_symbol_returns_windowed), found in passes until no model gains one. -#}
        {%- set models = [] -%}
        {%- set refresh_parents = {} -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' -%}
                {%- do models.append(node) -%}
                {%- do refresh_parents.update({node.unique_id: []}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set passes = namespace(changed=true) -%}
        {%- for _ in models -%}
            {%- if passes.changed -%}
                {%- set passes.changed = false -%}
                {%- for node in models -%}
                    {%- set found = refresh_parents[node.unique_id] -%}
                    {%- for parent in node.depends_on.nodes if parent in refresh_parents -%}
                        {%- for ancestor in ([parent] if parent in node_ids else refresh_parents[parent]) -%}
                            {%- if ancestor not in found -%}
                                {%- do found.append(ancestor) -%}
                                {%- set passes.changed = true -%}
                            {%- endif -%}
                        {%- endfor -%}
                    {%- endfor -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
        {#- Kahn's algorithm in passes: a node is placed once all its refresh parents are. -#}
        {%- set ordered = [] -%}
        {%- for _ in nodes -%}
            {%- for node in nodes -%}
                {%- if node.unique_id not in ordered -%}
                    {%- set ns = namespace(ready=true) -%}
                    {%- for parent in refresh_parents[node.unique_id] -%}
                        {%- if parent not in ordered -%}
                            {%- set ns.ready = false -%}
                        {%- endif -%}
                    {%- endfor -%}
                    {%- if ns.ready -%}{%- do ordered.append(node.unique_id) -%}{%- endif -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {#- One transaction (dbt commits the hook once): a refresh reads the old list or the new. -#}
        delete from ops.model_steps;
        {%- for unique_id in ordered %}
            {%- set node = graph.nodes[unique_id] %}
        insert into ops.model_steps (step_no, model, refresh_function)
        values ({{ loop.index }}, '{{ node.name }}', '{{ node.schema }}.refresh__{{ node.alias }}');
        {%- endfor %}
        select ops.drop_retired_models();
        select ops.dbt_close();
    {%- else -%}
        select 1
    {%- endif -%}
{% endmacro %}

{#- Models land in exactly the schema they name (analytics, app), not target_schema + name. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
