-- The refresh engine's state: the window of the run in progress, what it recomputes, and
-- the ordered list of model refresh functions generated from the dbt graph.

-- The one window of the refresh in progress (written and cleared inside the refresh's own
-- transaction, so no other session ever sees it half-made).
create table ops.refresh_window (
    singleton boolean primary key default true constraint one_row check (singleton),
    run_id bigint not null,
    mode text not null constraint mode_known check (mode in ('full', 'incremental', 'portfolio')),
    calendar text not null,
    as_of_date date not null,
    as_of_idx integer not null,
    previous_as_of_idx integer,
    opened_at timestamptz not null default clock_timestamp()
);

-- Portfolios to recompute, each from a session index on.
create table ops.refresh_scope (
    portfolio_id bigint primary key,
    from_idx integer not null
);

-- Symbols whose filled price series is recomputed, each from a session index on.
create table ops.refresh_symbol_scope (
    symbol text primary key,
    from_idx integer not null
);

-- What the last successful refresh covered.
create table ops.refresh_state (
    singleton boolean primary key default true constraint one_row check (singleton),
    as_of_date date,
    as_of_idx integer,
    last_run_id bigint,
    refreshed_at timestamptz
);
insert into ops.refresh_state (singleton) values (true);

-- The refresh functions of the dbt models, in dependency order (written by dbt's on-run-end).
create table ops.model_steps (
    step_no integer primary key,
    model text not null unique,
    refresh_function text not null
);
