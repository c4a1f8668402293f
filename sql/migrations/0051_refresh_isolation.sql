-- Defence in depth (issue 12): when one portfolio's computation fails inside a refresh, the
-- refresh finds it (ops.isolate_failing_portfolios), publishes every other portfolio and ends
-- `partial`. This table records which portfolios a run left out and why; each also stays
-- queued in ops.dirty_portfolios, so the next refresh tries it again.
create table ops.refresh_isolated (
    run_id bigint not null references ops.runs (run_id) on delete cascade,
    portfolio_id bigint not null,
    from_idx integer not null,
    error text not null,
    error_sqlstate text not null,
    isolated_at timestamptz not null default clock_timestamp(),
    primary key (run_id, portfolio_id)
);
comment on table ops.refresh_isolated is
    'Portfolios a refresh left out because their computation failed (the run ended partial); they stay queued.';
create index refresh_isolated_portfolio on ops.refresh_isolated (portfolio_id, run_id desc);

insert into ops.settings (key, value, description) values
    ('refresh_isolation_attempts', '200',
        'Most trial runs of the model steps a refresh spends finding the portfolios that make it fail; '
        'past it the run fails.');
