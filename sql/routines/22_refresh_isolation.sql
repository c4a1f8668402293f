-- Isolating a failing portfolio inside a refresh (defence in depth).
--
-- ops.run_model_steps (21_refresh_engine.sql) runs every model step for the whole scope inside
-- one savepoint: in the normal case that is all it costs. When a step fails on a data error
-- (SQLSTATE class 22, e.g. "value out of range for type double precision", or class 23), the
-- savepoint is rolled back and ops.isolate_failing_portfolios looks for the portfolios that
-- cause it:
--
--   1. the steps are tried once with no portfolio in scope: if that fails too, the failure is
--      market-wide (prices, calendar) and the run fails as before;
--   2. else the scope is bisected: each half is tried in a savepoint that is always rolled
--      back, the failing halves are split again, down to single portfolios;
--   3. the failing portfolios are taken out of ops.refresh_scope and listed in
--      ops.refresh_excluded (so no model computes them, not even fct_portfolio_exposures,
--      which also recomputes holders of re-fitted symbols outside the scope: the scopes that
--      follow from the portfolio scope are derived again, ops.derive_portfolio_scopes), recorded in
--      ops.refresh_isolated and put back on ops.dirty_portfolios from where their scope
--      started.
--
-- A trial of a set of portfolios restricts the scope to them and excludes every other
-- portfolio.
--
-- Then run_model_steps runs the steps once more for everyone else, for real, in the run's one
-- transaction: readers see the old results or the new ones, and the failing portfolios keep
-- their previous results. ops.mark_partial (called by ops.refresh) ends the run `partial`,
-- naming each isolated portfolio and its error. With k failing portfolios among n, the search
-- costs about 2·k·log2(n) trial runs, bounded by ops.settings refresh_isolation_attempts.
-- Statement and lock timeouts (class 57, 55) are never retried: they end the run failed.

-- The model steps of the open window numbered from p_from_step up to (not including)
-- p_until_step, null meaning no bound, once, in order, recording each in ops.run_steps.
drop function if exists ops.run_model_steps_once(bigint);  -- earlier signatures
drop function if exists ops.run_model_steps_once(bigint, integer);
drop function if exists ops.run_model_steps_once_until(bigint, integer);
create or replace function ops.run_model_steps_once(
    p_run_id bigint, p_from_step integer default null, p_until_step integer default null
)
returns bigint
language plpgsql as $$
declare
    v_step record;
    v_started timestamptz;
    v_rows bigint;
    v_total bigint := 0;
begin
    for v_step in
        select * from ops.model_steps
        where (p_from_step is null or step_no >= p_from_step)
            and (p_until_step is null or step_no < p_until_step)
        order by step_no
    loop
        v_started := clock_timestamp();
        execute format('select %s()', v_step.refresh_function) into v_rows;
        insert into ops.run_steps (run_id, step_no, step, rows, started_at, duration_ms)
        values (
            p_run_id, v_step.step_no, v_step.model, v_rows, v_started,
            round(extract(epoch from clock_timestamp() - v_started)::numeric * 1000, 3)
        );
        v_total := v_total + coalesce(v_rows, 0);
    end loop;
    return v_total;
end
$$;

-- An error message as the ledger keeps it: runs of more than 40 digits (PostgreSQL echoes a
-- 401-digit number whole in "... is out of range for type double precision") shortened.
create or replace function ops.shortened_error(p_error text) returns text
language sql immutable as $$
    select regexp_replace(p_error, '([0-9]{20})[0-9]{21,}', '\1…', 'g')
$$;

-- The first model step that may read a portfolio: the steps before it are the leading
-- market-only models (ops.settings refresh_market_models), computed once while isolating.
create or replace function ops.first_portfolio_step() returns integer
language sql stable as $$
    select coalesce(min(steps.step_no), 2147483647)
    from ops.model_steps as steps
    where steps.model <> all(string_to_array(coalesce(ops.setting('refresh_market_models'), ''), ','))
$$;

-- One trial: the portfolio steps for p_members alone (the scope restricted to them, every
-- other candidate excluded), always rolled back. Returns the data error it raised, or nulls when it went through.
create or replace function ops.try_model_steps(
    p_run_id bigint,
    p_members bigint[],
    out trial_error text,
    out trial_sqlstate text
)
language plpgsql as $$
declare
    v_attempts integer :=
        coalesce(nullif(current_setting('foliodb.isolation_attempts', true), '')::integer, 0) + 1;
    v_limit integer := coalesce(ops.setting('refresh_isolation_attempts')::integer, 200);
begin
    if v_attempts > v_limit then
        raise exception 'refresh isolation gave up after % trial runs (ops.settings refresh_isolation_attempts); first error: %',
            v_limit, current_setting('foliodb.isolation_error', true)
            using errcode = 'program_limit_exceeded';
    end if;
    perform set_config('foliodb.isolation_attempts', v_attempts::text, true);
    begin
        -- only the members are computed: in scope if they were, and every other candidate
        -- excluded (fct_portfolio_exposures also recomputes holders outside the scope)
        delete from ops.refresh_scope;
        insert into ops.refresh_scope (portfolio_id, from_idx)
        select saved.portfolio_id, saved.from_idx
        from refresh_scope_saved as saved
        where saved.portfolio_id in (select members.portfolio_id from unnest(p_members) as members (portfolio_id));
        delete from ops.refresh_excluded;
        insert into ops.refresh_excluded (portfolio_id)
        select candidates.portfolio_id
        from refresh_candidates as candidates
        where not exists (
            select from unnest(p_members) as members (portfolio_id)
            where members.portfolio_id = candidates.portfolio_id
        );
        analyze ops.refresh_scope;
        analyze ops.refresh_excluded;
        perform ops.derive_portfolio_scopes();
        perform ops.run_model_steps_once(p_run_id, ops.first_portfolio_step());
        -- it went through: roll it back anyway (only the final run publishes)
        raise exception using errcode = 'FB001', message = 'trial run succeeded';
    exception
        when sqlstate 'FB001' then
            null;
        when data_exception or integrity_constraint_violation then
            get stacked diagnostics trial_error = message_text, trial_sqlstate = returned_sqlstate;
            trial_error := ops.shortened_error(trial_error);
    end;
end
$$;

-- Find the failing portfolios among p_members (candidate portfolio ids). p_is_failing: the
-- group is known to fail (with p_error, or with an error not yet seen when p_error is null).
create or replace function ops.bisect_failing_portfolios(
    p_run_id bigint,
    p_members bigint[],
    p_is_failing boolean,
    p_error text default null,
    p_error_sqlstate text default null
) returns void
language plpgsql as $$
declare
    v_trial record;
    v_error text := p_error;
    v_sqlstate text := p_error_sqlstate;
    v_half integer;
    v_left bigint[];
    v_right bigint[];
begin
    if cardinality(p_members) = 0 then
        return;
    end if;
    if not p_is_failing or (v_error is null and cardinality(p_members) = 1) then
        select * into v_trial from ops.try_model_steps(p_run_id, p_members);
        if v_trial.trial_error is null then
            return;
        end if;
        v_error := v_trial.trial_error;
        v_sqlstate := v_trial.trial_sqlstate;
    end if;
    if cardinality(p_members) = 1 then
        insert into refresh_isolated_now (portfolio_id, error, error_sqlstate)
        values (p_members[1], v_error, v_sqlstate);
        return;
    end if;
    v_half := cardinality(p_members) / 2;
    v_left := p_members[1:v_half];
    v_right := p_members[v_half + 1:];
    select * into v_trial from ops.try_model_steps(p_run_id, v_left);
    if v_trial.trial_error is null then
        -- the left half goes through, so the failure is on the right
        perform ops.bisect_failing_portfolios(p_run_id, v_right, true);
    else
        perform ops.bisect_failing_portfolios(p_run_id, v_left, true, v_trial.trial_error, v_trial.trial_sqlstate);
        perform ops.bisect_failing_portfolios(p_run_id, v_right, false);
    end if;
end
$$;

-- After the model steps failed for the whole scope with p_error: find the portfolios that
-- make them fail, take them out of the scope, record them and queue them again. Returns how
-- many were isolated; 0 when the failure is not any portfolio's (the caller then fails the run).
-- ops.refresh_scope is left holding the portfolios still to compute.
create or replace function ops.isolate_failing_portfolios(p_run_id bigint, p_error text)
returns integer
language plpgsql as $$
declare
    v_members bigint[];
    v_trial record;
    v_count integer;
begin
    perform set_config('foliodb.isolation_attempts', '0', true);
    perform set_config('foliodb.isolation_error', left(ops.shortened_error(p_error), 1000), true);
    create temp table if not exists refresh_scope_saved (
        portfolio_id bigint primary key,
        from_idx integer not null
    ) on commit drop;
    truncate refresh_scope_saved;
    insert into refresh_scope_saved (portfolio_id, from_idx)
    select scope.portfolio_id, scope.from_idx from ops.refresh_scope as scope;
    -- every portfolio a model could compute: the scope, and (for fct_portfolio_exposures)
    -- any holder of a symbol
    create temp table if not exists refresh_candidates (
        portfolio_id bigint primary key
    ) on commit drop;
    truncate refresh_candidates;
    insert into refresh_candidates (portfolio_id)
    select saved.portfolio_id from refresh_scope_saved as saved
    union
    select portfolios.portfolio_id from core.portfolios as portfolios;
    analyze refresh_candidates;
    create temp table if not exists refresh_isolated_now (
        portfolio_id bigint primary key,
        error text not null,
        error_sqlstate text not null
    ) on commit drop;
    truncate refresh_isolated_now;

    select coalesce(array_agg(candidates.portfolio_id order by candidates.portfolio_id), '{}')
    into v_members
    from refresh_candidates as candidates;

    -- The leading market-only steps read no portfolio: computed once, for real (a failure
    -- there is market-wide and fails the run), not again in every trial.
    perform ops.run_model_steps_once(p_run_id, null, ops.first_portfolio_step());

    -- Market-wide? Then no portfolio is to blame.
    select * into v_trial from ops.try_model_steps(p_run_id, '{}');
    if v_trial.trial_error is null and cardinality(v_members) > 0 then
        perform ops.bisect_failing_portfolios(p_run_id, v_members, true);
    end if;

    -- What the final run computes: everyone but the isolated portfolios.
    delete from ops.refresh_scope;
    insert into ops.refresh_scope (portfolio_id, from_idx)
    select saved.portfolio_id, saved.from_idx
    from refresh_scope_saved as saved
    where not exists (select from refresh_isolated_now as isolated where isolated.portfolio_id = saved.portfolio_id);
    delete from ops.refresh_excluded;
    insert into ops.refresh_excluded (portfolio_id)
    select isolated.portfolio_id from refresh_isolated_now as isolated;
    analyze ops.refresh_scope;
    analyze ops.refresh_excluded;
    perform ops.derive_portfolio_scopes();

    -- a holder outside the scope (its exposures failed) is queued from the as-of session
    insert into ops.refresh_isolated (run_id, portfolio_id, from_idx, error, error_sqlstate)
    select
        p_run_id, isolated.portfolio_id,
        coalesce(saved.from_idx, (select refresh_window.as_of_idx from ops.refresh_window)),
        isolated.error, isolated.error_sqlstate
    from refresh_isolated_now as isolated
    left join refresh_scope_saved as saved on isolated.portfolio_id = saved.portfolio_id;
    get diagnostics v_count = row_count;

    -- Still to do: back on the queue from where the scope started.
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select
        isolated.portfolio_id,
        coalesce(days.session_date, date '1900-01-01'),
        format('refresh failed (isolated by run %s): %s', p_run_id, left(isolated.error, 200))
    from ops.refresh_isolated as isolated
    left join market.trading_days as days
        on days.calendar = ops.window_calendar() and isolated.from_idx = days.session_idx
    where isolated.run_id = p_run_id;
    return v_count;
end
$$;

-- End a refresh run `partial` when it isolated portfolios: message, error and details name
-- each one. Called by ops.refresh after its run's success update (same transaction).
create or replace function ops.mark_partial(p_run_id bigint) returns boolean
language plpgsql as $$
declare
    v_isolated jsonb;
    v_errors text;
    v_count integer;
begin
    select
        jsonb_agg(
            jsonb_build_object('portfolio_id', isolated.portfolio_id, 'error', isolated.error,
                'sqlstate', isolated.error_sqlstate)
            order by isolated.portfolio_id
        ),
        string_agg(format('portfolio %s: %s', isolated.portfolio_id, isolated.error), E'\n'
            order by isolated.portfolio_id),
        count(*)
    into v_isolated, v_errors, v_count
    from ops.refresh_isolated as isolated
    where isolated.run_id = p_run_id;
    if v_count = 0 then
        return false;
    end if;
    update ops.runs
    set status = 'partial',
        error = v_errors,
        message = format(
            '%s portfolio%s left out, kept queued with %s previous results: %s',
            v_count,
            case when v_count > 1 then 's' else '' end,
            case when v_count > 1 then 'their' else 'its' end,
            (select string_agg(isolated.portfolio_id::text, ', ' order by isolated.portfolio_id)
             from ops.refresh_isolated as isolated where isolated.run_id = p_run_id)
        ),
        details = runs.details || jsonb_build_object(
            'isolated_portfolios', v_isolated,
            'isolation_trials', nullif(current_setting('foliodb.isolation_attempts', true), '')::integer
        )
    where runs.run_id = p_run_id;
    return true;
end
$$;
