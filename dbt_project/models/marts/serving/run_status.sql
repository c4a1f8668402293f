{{
    config(
        materialized='view',
        schema='app',
        grants={'select': ['folio_reader']},
        post_hook=["alter view {{ this }} set (security_invoker = true)"],
    )
}}
-- Read contract: one row per kind of run (refresh, ingest_prices, …) with the last run and the
-- last successful one, next to the data's freshness against the last closed session and the
-- size of the refresh queue. A handful of index lookups; read it whole or by kind.
-- not materialized: each lateral lookup below reads the (kind, started_at) index
with runs as not materialized (
    select * from {{ source('ops_ledger', 'runs') }}
),

refresh_states as (
    select * from {{ source('ops_ledger', 'refresh_state') }}
),

dirty_portfolios as (
    select * from {{ source('ops_ledger', 'dirty_portfolios') }}
),

dirty_symbols as (
    select * from {{ source('ops_ledger', 'dirty_symbols') }}
),

settings as (
    select * from {{ source('ops_ledger', 'settings') }}
),

kinds as (
    select *
    from (
        values
        ('refresh'),
        ('ingest_prices'),
        ('ingest_fx'),
        ('ingest_calendar'),
        ('import'),
        ('reap'),
        ('housekeeping')
    ) as kind_list (kind)
),

last_closed as (
    select
        max(closed.session_date) as session_date,
        max(closed.session_idx) as session_idx
    from settings
    cross join lateral market.last_closed_session(settings.value) as closed
    where settings.key = 'calendar'
),

-- how far the analytics are behind the last closed session, in sessions
freshness as (
    select
        last_closed.session_date as last_closed_session,
        refresh_states.as_of_date as refreshed_through,
        refresh_states.refreshed_at,
        last_closed.session_idx - refresh_states.as_of_idx as sessions_behind,
        coalesce(refresh_states.as_of_date >= last_closed.session_date, false) as is_fresh
    from last_closed
    cross join refresh_states
),

queue as (
    select
        (select count(distinct dirty_portfolios.portfolio_id) from dirty_portfolios) as queued_portfolios,
        (select count(distinct dirty_symbols.symbol) from dirty_symbols) as queued_symbols
),

final as (
    select
        kinds.kind,
        last_run.run_id as last_run_id,
        last_run.status::text as last_status,
        last_run.target as last_target,
        last_run.started_at as last_started_at,
        last_run.finished_at as last_finished_at,
        round(extract(epoch from coalesce(last_run.finished_at, now()) - last_run.started_at)::numeric, 3)
            as last_seconds,
        last_run.rows as last_rows,
        coalesce(last_run.error, last_run.message) as last_note,
        last_success.run_id as last_succeeded_run_id,
        last_success.finished_at as last_succeeded_at,
        coalesce(last_run.status = 'running', false) as is_running,
        freshness.last_closed_session,
        freshness.refreshed_through,
        freshness.refreshed_at,
        freshness.sessions_behind,
        freshness.is_fresh,
        queue.queued_portfolios,
        queue.queued_symbols
    from kinds
    left join lateral (
        select runs.*
        from runs
        where runs.kind = kinds.kind
        order by runs.started_at desc
        limit 1
    ) as last_run on true
    left join lateral (
        select runs.*
        from runs
        where runs.kind = kinds.kind and runs.status = 'succeeded'
        order by runs.started_at desc
        limit 1
    ) as last_success on true
    cross join freshness
    cross join queue
)

select * from final
