-- Operations: the runs ledger, per-step timings, the dirty queue, settings.
create type ops.run_status as enum ('running', 'succeeded', 'partial', 'failed', 'skipped');

create table ops.runs (
    run_id bigint generated always as identity primary key,
    kind text not null constraint kind_known check (
        kind in ('refresh', 'ingest_prices', 'ingest_calendar', 'import', 'reap', 'housekeeping')
    ),
    target text,
    status ops.run_status not null default 'running',
    started_at timestamptz not null default clock_timestamp(),
    heartbeat_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    backend_pid integer default pg_backend_pid(),
    rows bigint,
    error text,
    message text,
    details jsonb not null default '{}',
    constraint finished_unless_running check ((status = 'running') = (finished_at is null)),
    constraint failed_has_error check (status <> 'failed' or error is not null),
    constraint skipped_has_reason check (status <> 'skipped' or message is not null)
);
create index runs_kind_started on ops.runs (kind, started_at desc);
create index runs_running on ops.runs (run_id) where status = 'running';

create table ops.run_steps (
    run_id bigint not null references ops.runs (run_id) on delete cascade,
    step_no integer not null,
    step text not null,
    rows bigint,
    started_at timestamptz not null,
    duration_ms numeric not null,
    primary key (run_id, step_no)
);

-- Dirty queue: what changed since the last refresh, and from which date.
create table ops.dirty_portfolios (
    portfolio_id bigint not null,
    from_date date not null,
    reason text not null,
    queued_at timestamptz not null default clock_timestamp()
);
create index dirty_portfolios_portfolio on ops.dirty_portfolios (portfolio_id);

create table ops.dirty_symbols (
    symbol text not null,
    from_date date not null,
    reason text not null,
    queued_at timestamptz not null default clock_timestamp()
);
create index dirty_symbols_symbol on ops.dirty_symbols (symbol);

create table ops.settings (
    key text primary key,
    value text not null,
    description text not null
);
insert into ops.settings (key, value, description) values
    ('calendar', 'XNYS', 'Exchange calendar whose sessions are the days of every series.'),
    ('default_benchmark', '^GSPC', 'Benchmark of a portfolio that names none.'),
    ('refresh_statement_timeout', '10min', 'statement_timeout inside a refresh.'),
    ('refresh_lock_timeout', '30s', 'lock_timeout inside a refresh.'),
    ('reap_after', '15 minutes', 'A running run whose backend is gone, or whose heartbeat is older, is reaped.'),
    ('run_details_keep', '14 days', 'How long cron.job_run_details and finished run steps are kept.'),
    ('max_daily_move', '0.5', 'Day-over-day close move (fraction) flagged in quarantine by ingest.');
