-- The runs ledger (ops.runs) is written through these functions: a run is opened (running),
-- beats while it works, and is ended once (succeeded, partial, failed or skipped). The
-- Python writers (the import, the price and calendar ingesters) call them instead of writing
-- the rows themselves; the table's checks (a failed run has an error, a skipped one a reason)
-- still refuse a bad end.
--
--   select ops.open_run('import', 'ann@example.com/Retirement', '{"file": "a.csv"}');
--   select ops.run_heartbeat(42, p_details => '{"refresh": "pending"}');
--   select ops.end_run(42, 'succeeded', p_message => 'portfolio 7: 13 positions imported');

-- Open a run (status running, this backend's pid for the reaper); returns its run_id.
create or replace function ops.open_run(
    p_kind text, p_target text default null, p_details jsonb default '{}'
) returns bigint
language sql
as $$
    insert into ops.runs (kind, target, details)
    values (p_kind, p_target, coalesce(p_details, '{}'))
    returning run_id
$$;

-- A running run is alive: its heartbeat, rows so far and details merged in.
create or replace function ops.run_heartbeat(
    p_run_id bigint, p_rows bigint default null, p_details jsonb default '{}'
) returns void
language sql
as $$
    update ops.runs
    set heartbeat_at = clock_timestamp(),
        rows = coalesce(p_rows, runs.rows),
        details = runs.details || coalesce(p_details, '{}')
    where runs.run_id = p_run_id
$$;

-- End a run: its status, message or error, rows and details merged in.
create or replace function ops.end_run(
    p_run_id bigint,
    p_status ops.run_status,
    p_message text default null,
    p_error text default null,
    p_rows bigint default null,
    p_details jsonb default '{}'
) returns void
language sql
as $$
    select ops.run_heartbeat(p_run_id, p_rows, p_details);
    update ops.runs
    set status = p_status, finished_at = runs.heartbeat_at, message = p_message, error = p_error
    where runs.run_id = p_run_id;
$$;

-- A run that ends as it starts (skipped, or a one-statement fill): opened and ended at once.
create or replace function ops.record_run(
    p_kind text,
    p_target text,
    p_status ops.run_status,
    p_message text,
    p_rows bigint default null
) returns bigint
language plpgsql
as $$
declare
    v_run_id bigint := ops.open_run(p_kind, p_target);
begin
    perform ops.end_run(v_run_id, p_status, p_message, p_rows => p_rows);
    return v_run_id;
end
$$;
