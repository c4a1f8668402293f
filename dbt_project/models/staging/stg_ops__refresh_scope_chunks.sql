-- The chunk of the portfolio scope being computed: a chunked model's refresh function names it
-- in the setting foliodb.refresh_chunk (empty outside it; dbt_project/macros/foliodb_refresh.sql).
select
    portfolio_id,
    from_idx,
    chunk_no
from {{ source('ops', 'refresh_scope') }}
where chunk_no = (select nullif(current_setting('foliodb.refresh_chunk', true), '')::integer)
