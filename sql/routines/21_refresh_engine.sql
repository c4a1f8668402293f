-- The in-database refresh: window, scope, the ordered model steps, the ledger.
--
--   call ops.refresh();                     -- the queue + new sessions (pg_cron runs this)
--   call ops.refresh('full');               -- everything
--   call ops.refresh('portfolio', 42);      -- one portfolio, whole history
--
-- The model steps are the refresh functions dbt installs (one per model, holding that model's
-- SQL, see dbt_project/macros/foliodb_refresh.sql), listed in dependency order in
-- ops.model_steps by dbt's on-run-end hook.

create or replace function ops.setting(p_key text) returns text
language sql stable as $$
    select settings.value from ops.settings as settings where settings.key = p_key
$$;

create or replace function ops.window_calendar() returns text
language sql stable as $$
    select coalesce(
        (select refresh_window.calendar from ops.refresh_window),
        ops.setting('calendar')
    )
$$;

-- The first session of a calendar on or after a date (null past the calendar's end).
create or replace function ops.first_session_idx(p_calendar text, p_date date) returns integer
language sql stable as $$
    select days.session_idx
    from market.trading_days as days
    where days.calendar = p_calendar and days.session_date >= p_date
    order by days.session_date
    limit 1
$$;

-- The latest session on or before the last closed one that has any price.
create or replace function ops.as_of_session(p_calendar text)
returns table (as_of_date date, as_of_idx integer)
language sql stable as $$
    select days.session_date, days.session_idx
    from market.trading_days as days
    where days.calendar = p_calendar
        and days.session_idx <= (select closed.session_idx from market.last_closed_session(p_calendar) as closed)
        -- a price on the day: probed per symbol through the key (symbol, price_date); an
        -- exists on the date alone scanned the whole key for every session it tried (28 ms a
        -- session at 635k prices, and a refresh tries each session since the last price)
        and exists (
            select
            from market.symbols as symbols
            cross join lateral (
                select from market.prices as prices
                where prices.symbol = symbols.symbol and prices.price_date = days.session_date
                limit 1
            ) as priced
        )
    order by days.session_date desc
    limit 1
$$;

-- Whether a symbol's factor exposures are fitted at a session (analytics.fct_symbol_exposures,
-- which exists once dbt has installed the models).
create or replace function ops.has_symbol_fit(p_symbol text, p_as_of_idx integer) returns boolean
language plpgsql stable as $$
declare
    v_found boolean := false;
begin
    if to_regclass('analytics.fct_symbol_exposures') is not null then
        execute $q$
            select exists (
                select from analytics.fct_symbol_exposures as exposures
                where exposures.symbol = $1 and exposures.as_of_idx = $2
            )
        $q$ into v_found using p_symbol, p_as_of_idx;
    end if;
    return v_found;
end
$$;

-- Fix the window of a run once, up front, and consume the queue entries it covers: write
-- every scope the models read (docs/refresh.md): the window, the portfolios and the symbols
-- from a session, the exposure symbols, then (ops.derive_portfolio_scopes) the exposure
-- subjects, the re-rank decision and the chunks. Returns the number of portfolios in scope.
create or replace function ops.open_window(
    p_run_id bigint, p_mode text, p_portfolio_id bigint default null
) returns bigint
language plpgsql as $$
declare
    v_calendar text := ops.setting('calendar');
    v_as_of_date date;
    v_as_of_idx integer;
    v_previous integer;
    v_queued_until timestamptz := clock_timestamp();
    v_count bigint;
begin
    select as_of.as_of_date, as_of.as_of_idx into v_as_of_date, v_as_of_idx
    from ops.as_of_session(v_calendar) as as_of;
    if v_as_of_idx is null then
        raise exception 'no prices on any closed % session yet: ingest prices first', v_calendar
            using errcode = 'no_data_found';
    end if;
    select refresh_state.as_of_idx into v_previous from ops.refresh_state;

    delete from ops.refresh_window;
    delete from ops.refresh_scope;
    delete from ops.refresh_symbol_scope;
    delete from ops.refresh_exposure_symbols;
    delete from ops.refresh_exposure_subjects;
    insert into ops.refresh_window (run_id, mode, calendar, as_of_date, as_of_idx, previous_as_of_idx)
    values (p_run_id, p_mode, v_calendar, v_as_of_date, v_as_of_idx, v_previous);

    if p_mode = 'full' or v_previous is null then
        insert into ops.refresh_scope (portfolio_id, from_idx)
        select portfolios.portfolio_id, 0 from core.portfolios as portfolios
        union
        -- portfolios deleted since: their rows go too
        select dirty.portfolio_id, 0 from ops.dirty_portfolios as dirty;
        insert into ops.refresh_symbol_scope (symbol, from_idx)
        select distinct prices.symbol, 0 from market.prices as prices;
        delete from ops.dirty_portfolios where queued_at <= v_queued_until;
        delete from ops.dirty_symbols where queued_at <= v_queued_until;
    elsif p_mode = 'portfolio' then
        insert into ops.refresh_scope (portfolio_id, from_idx) values (p_portfolio_id, 0);
        delete from ops.dirty_portfolios
        where portfolio_id = p_portfolio_id and queued_at <= v_queued_until;
        -- The series this portfolio reads (ops.symbols_needed: its symbols, option underlyings,
        -- its benchmark, the factor proxies, the risk-free proxy) must be complete: from a
        -- queued correction or a new symbol's first price, and up to the as-of session if it
        -- moved on. Queued symbol entries stay queued: the next incremental refresh still
        -- recomputes every other holder; they are marked series_current, so that a later
        -- portfolio refresh does not recompute the same series again (a price written since
        -- queues a new entry).
        with needed as (
            select distinct symbols_needed.symbol from ops.symbols_needed(p_portfolio_id) as symbols_needed
        ),

        starts as (
            select dirty_symbols.symbol, ops.first_session_idx(v_calendar, dirty_symbols.from_date) as from_idx
            from ops.dirty_symbols
            inner join needed on needed.symbol = dirty_symbols.symbol
            where not dirty_symbols.series_current
            union all
            select needed.symbol, v_previous + 1 as from_idx
            from needed
            where v_as_of_idx > v_previous
        )

        insert into ops.refresh_symbol_scope (symbol, from_idx)
        select starts.symbol, min(starts.from_idx)
        from starts
        where
            starts.from_idx is not null
            and exists (select from market.prices as prices where prices.symbol = starts.symbol)
        group by starts.symbol;
        -- (the run's transaction: a failed run leaves the entries as they were)
        update ops.dirty_symbols
        set series_current = true
        from ops.refresh_symbol_scope as scope
        where
            dirty_symbols.symbol = scope.symbol
            and not dirty_symbols.series_current
            and dirty_symbols.queued_at <= v_queued_until;
    else
        -- Symbols: corrected ones from the corrected session, all from the first new session.
        with dirty as (
            select starts.symbol, min(starts.from_idx) as from_idx
            from (
                select
                    dirty_symbols.symbol,
                    ops.first_session_idx(v_calendar, dirty_symbols.from_date) as from_idx
                from ops.dirty_symbols
                where dirty_symbols.queued_at <= v_queued_until
            ) as starts
            where starts.from_idx is not null
            group by starts.symbol
        ),

        -- every priced symbol (market.prices_symbols_exist: each price's symbol is one of
        -- market.symbols), found by one probe of the prices key per symbol, not by a
        -- distinct over every price (125 ms at 635k prices)
        extended as (
            select symbols.symbol, v_previous + 1 as from_idx
            from market.symbols as symbols
            cross join lateral (
                select from market.prices as prices
                where prices.symbol = symbols.symbol
                limit 1
            ) as priced
            where v_as_of_idx > v_previous
        )

        insert into ops.refresh_symbol_scope (symbol, from_idx)
        select unioned.symbol, min(unioned.from_idx)
        from (select * from dirty union all select * from extended) as unioned
        group by unioned.symbol;

        -- Portfolios: queued ones, holders of corrected symbols, and every portfolio still
        -- holding something from the first new session.
        with queued as (
            select dirty_portfolios.portfolio_id, min(dirty_portfolios.from_date) as from_date
            from ops.dirty_portfolios
            where dirty_portfolios.queued_at <= v_queued_until
            group by dirty_portfolios.portfolio_id
        ),

        queued_idx as (
            select
                queued.portfolio_id,
                coalesce(ops.first_session_idx(v_calendar, queued.from_date), v_as_of_idx + 1)
                    as from_idx
            from queued
        ),

        by_symbol as (
            select positions.portfolio_id, min(greatest(scope.from_idx, 0)) as from_idx
            from ops.refresh_symbol_scope as scope
            inner join core.positions as positions
                on positions.symbol = scope.symbol
                and positions.deleted_at is null
            where scope.from_idx <= coalesce(v_previous, 0)
            group by positions.portfolio_id
            union all
            select activities.portfolio_id, min(greatest(scope.from_idx, 0))
            from ops.refresh_symbol_scope as scope
            inner join core.activities as activities on activities.symbol = scope.symbol
            where scope.from_idx <= coalesce(v_previous, 0)
            group by activities.portfolio_id
            union all
            select portfolios.portfolio_id, min(scope.from_idx)
            from ops.refresh_symbol_scope as scope
            inner join core.portfolios as portfolios on portfolios.benchmark_symbol = scope.symbol
            where scope.from_idx <= coalesce(v_previous, 0)
            group by portfolios.portfolio_id
            union all
            -- the risk-free proxy enters every portfolio's risk figures (excess returns)
            select portfolios.portfolio_id, scope.from_idx
            from ops.refresh_symbol_scope as scope
            cross join core.portfolios as portfolios
            where
                scope.symbol = ops.setting('risk_free_symbol')
                and scope.from_idx <= coalesce(v_previous, 0)
        ),

        new_sessions as (
            select distinct positions.portfolio_id, v_previous + 1 as from_idx
            from core.positions as positions
            where v_as_of_idx > v_previous
                and positions.deleted_at is null
            union
            -- a ledger runs to the as-of session (its cash stays)
            select distinct activities.portfolio_id, v_previous + 1
            from core.activities as activities
            where v_as_of_idx > v_previous
        )

        insert into ops.refresh_scope (portfolio_id, from_idx)
        select unioned.portfolio_id, min(unioned.from_idx)
        from (
            select * from queued_idx
            union all select * from by_symbol
            union all select * from new_sessions
        ) as unioned
        group by unioned.portfolio_id;

        delete from ops.dirty_portfolios where queued_at <= v_queued_until;
        delete from ops.dirty_symbols where queued_at <= v_queued_until;
    end if;

    if p_mode = 'portfolio' then
        -- Onboarding uses the published exposures: it fits only the portfolio's own securities
        -- that have no fit at the as-of session yet (new to foliodb, or priced after the last
        -- nightly), which its exposures need. Re-fits after a correction wait for the next
        -- incremental refresh, where the corrected symbols are still queued.
        insert into ops.refresh_exposure_symbols (symbol)
        select distinct needed.symbol
        from ops.symbols_needed(p_portfolio_id) as needed
        where
            needed.reason = 'held'
            and exists (
                select from market.prices as prices
                where prices.symbol = needed.symbol and prices.price_date <= v_as_of_date
            )
            and not ops.has_symbol_fit(needed.symbol, v_as_of_idx);
    else
        -- Exposures are fitted at the as-of session for the symbols of the symbol scope, and
        -- for every symbol priced by then when an active factor's proxy is in it (every fit
        -- regresses on the proxies' returns).
        insert into ops.refresh_exposure_symbols (symbol)
        select scope.symbol from ops.refresh_symbol_scope as scope
        union
        select symbols.symbol
        from market.symbols as symbols
        -- priced by the as-of session: one probe of the prices key per symbol (as a semi
        -- join, every price was scanned and hashed: 190 ms at 635k prices)
        cross join lateral (
            select from market.prices as prices
            where prices.symbol = symbols.symbol and prices.price_date <= v_as_of_date
            limit 1
        ) as priced
        where
            exists (
                select from ops.refresh_symbol_scope as scope
                inner join market.factors as factors on scope.symbol = factors.proxy_symbol
                where factors.is_active
            );
    end if;
    -- Fresh statistics: the models' plans depend on how big the scopes are (the portfolio
    -- scopes are analyzed as they are derived).
    analyze ops.refresh_window;
    analyze ops.refresh_symbol_scope;
    analyze ops.refresh_exposure_symbols;
    perform ops.derive_portfolio_scopes();
    select count(*) into v_count from ops.refresh_scope;
    return v_count;
end
$$;

-- The scopes that follow from the portfolio scope (ops.refresh_scope, less
-- ops.refresh_excluded), written by ops.open_window and again whenever the isolation of
-- failing portfolios (22_refresh_isolation.sql) narrows that scope:
--   ops.refresh_scope.chunk_no: chunks of ops.settings refresh_chunk_portfolios portfolios,
--     in portfolio order; a chunked model computes one per statement (foliodb_refresh.sql);
--   ops.refresh_exposure_subjects: the portfolios in scope and every other holder of a
--     symbol whose exposures are re-fitted (a one-portfolio refresh, onboarding, recomputes
--     that portfolio only: the next incremental refresh brings the other holders up to date);
--   ops.refresh_window.is_reranking: the leaderboards are re-ranked whole when a public
--     portfolio is in scope or one listed before (since made private, renamed or deleted).
create or replace function ops.derive_portfolio_scopes() returns void
language plpgsql as $$
declare
    v_is_listed boolean := false;
    v_chunk_size integer := coalesce(ops.setting('refresh_chunk_portfolios')::integer, 2000);
begin
    update ops.refresh_scope
    set chunk_no = numbered.chunk_no
    from (
        select
            scope.portfolio_id,
            ((row_number() over (order by scope.portfolio_id)) - 1) / v_chunk_size as chunk_no
        from ops.refresh_scope as scope
    ) as numbered
    where refresh_scope.portfolio_id = numbered.portfolio_id
        and refresh_scope.chunk_no is distinct from numbered.chunk_no;
    -- fresh statistics: the models' plans depend on how big the scope and its chunks are
    analyze ops.refresh_scope;

    delete from ops.refresh_exposure_subjects;
    insert into ops.refresh_exposure_subjects (portfolio_id)
    select scope.portfolio_id from ops.refresh_scope as scope
    union
    select positions.portfolio_id
    from core.positions as positions
    inner join ops.refresh_exposure_symbols as refitted on positions.symbol = refitted.symbol
    where
        (select refresh_window.mode from ops.refresh_window) <> 'portfolio'
        and positions.deleted_at is null
        and not exists (
            select from ops.refresh_excluded as excluded
            where excluded.portfolio_id = positions.portfolio_id
        );
    analyze ops.refresh_exposure_subjects;

    -- the leaderboard table exists once dbt has installed the models
    if to_regclass('analytics.fct_leaderboards') is not null then
        execute $q$
            select exists (
                select from ops.refresh_scope as scope
                inner join analytics.fct_leaderboards as listed on scope.portfolio_id = listed.portfolio_id
            )
        $q$ into v_is_listed;
    end if;
    update ops.refresh_window
    set is_reranking = v_is_listed or exists (
        select from ops.refresh_scope as scope
        inner join core.portfolios as portfolios on scope.portfolio_id = portfolios.portfolio_id
        where portfolios.is_public
    );
end
$$;

-- Close the window: remember what was covered (on success) or put the scope back on the
-- queue (on failure: a caller whose failed work was committed; ops.refresh rolls its work back).
create or replace function ops.close_window(p_succeeded boolean) returns void
language plpgsql as $$
begin
    if p_succeeded then
        update ops.refresh_state
        set as_of_date = refresh_window.as_of_date,
            as_of_idx = refresh_window.as_of_idx,
            last_run_id = refresh_window.run_id,
            refreshed_at = clock_timestamp()
        from ops.refresh_window
        where refresh_window.mode <> 'portfolio';
    else
        insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
        select scope.portfolio_id, coalesce(days.session_date, date '1900-01-01'), 'refresh failed'
        from ops.refresh_scope as scope
        left join market.trading_days as days
            on days.calendar = ops.window_calendar() and days.session_idx = scope.from_idx;
    end if;
    delete from ops.refresh_scope;
    delete from ops.refresh_symbol_scope;
    delete from ops.refresh_exposure_symbols;
    delete from ops.refresh_exposure_subjects;
    delete from ops.refresh_window;
end
$$;

-- Run every model step of the open window in order, recording each in ops.run_steps. A data
-- error caused by some portfolios isolates them (22_refresh_isolation.sql): the others are
-- computed, the failing ones stay queued and ops.mark_partial ends the run `partial`.
create or replace function ops.run_model_steps(p_run_id bigint) returns bigint
language plpgsql as $$
declare
    v_error text;
    v_total bigint;
begin
    if not exists (select from ops.model_steps) then
        raise exception 'no models installed: run `folio refresh --via dbt` once'
            using errcode = 'undefined_function';
    end if;
    begin
        return ops.run_model_steps_once(p_run_id);
    exception when data_exception or integrity_constraint_violation then
        get stacked diagnostics v_error = message_text;
        if ops.isolate_failing_portfolios(p_run_id, v_error) = 0 then
            raise;  -- not any portfolio's doing: the run fails with the original error
        end if;
    end;
    -- everyone but the isolated portfolios (the market-only steps already ran, once)
    perform ops.run_model_steps_once(p_run_id, ops.first_portfolio_step());
    delete from ops.refresh_excluded;
    select coalesce(sum(run_steps.rows), 0) into v_total from ops.run_steps where run_steps.run_id = p_run_id;
    return v_total;
end
$$;

-- The one refresh lock: a session advisory lock, taken by ops.refresh and, for a whole dbt
-- run, by `folio refresh --via dbt` (whose ops.refresh, on the same session, takes it again).
create or replace function ops.refresh_lock_key() returns bigint
language sql immutable as $$
    select 7261002::bigint
$$;

-- Take the refresh lock for this session (null), or, when another session holds it, record a
-- `skipped` run naming the run that holds it and return that run's id.
create or replace function ops.refresh_lock(p_target text) returns bigint
language plpgsql as $$
declare
    v_holder bigint;
    v_run_id bigint;
begin
    if pg_try_advisory_lock(ops.refresh_lock_key()) then
        return null;
    end if;
    select max(runs.run_id) into v_holder from ops.runs
    where runs.kind = 'refresh' and runs.status = 'running';
    v_run_id := ops.record_run(
        'refresh', p_target, 'skipped',
        'another refresh is running' || coalesce(' (run ' || v_holder || ')', '')
    );
    return v_run_id;
end
$$;

-- dbt's on-run-start: dbt installs definitions (tables, refresh functions, views) and must not
-- do so under a running refresh (its DDL would wait on the refresh's locks, and a refresh
-- started meanwhile would wait on dbt's and fail on lock_timeout). `folio refresh --via dbt`
-- holds the lock itself and passes its backend pid; a bare `dbt run` takes it here (for its
-- hook session) or stops with the running refresh named.
create or replace function ops.dbt_open(p_holder_pid integer default null) returns void
language plpgsql as $$
declare
    v_running bigint;
begin
    if p_holder_pid is not null and exists (
        select from pg_locks as locks
        where locks.locktype = 'advisory' and locks.granted and locks.pid = p_holder_pid
            and locks.objid = ops.refresh_lock_key()::oid and locks.classid = 0
    ) then
        return;
    end if;
    if pg_try_advisory_lock(ops.refresh_lock_key()) then
        return;
    end if;
    select max(runs.run_id) into v_running from ops.runs
    where runs.kind = 'refresh' and runs.status = 'running';
    raise exception 'a refresh is running%: dbt installs the models when none is (try again, or use `folio refresh --via dbt`)',
        coalesce(' (run ' || v_running || ')', '')
        using errcode = 'lock_not_available';
end
$$;

-- Models the dbt project no longer has: dbt does not drop a removed model's relation, so a
-- database built before keeps it. dbt's on-run-end (refresh_close) drops each one that is
-- no longer read: by no installed function (a refresh function a partial dbt run did not
-- re-install may still name it; the next full run drops it) and by no view (no cascade).
-- Returns the relations dropped.
--   analytics.int_lots_in_scope, analytics.int_cash_in_scope: views until the lots and the
--   cash became the tables int_lots_matched and int_cash_daily.
create or replace function ops.drop_retired_models() returns text[]
language plpgsql as $$
declare
    v_view text;
    v_dropped text[] := '{}';
    v_lock_timeout text := current_setting('lock_timeout');
begin
    foreach v_view in array array['analytics.int_lots_in_scope', 'analytics.int_cash_in_scope'] loop
        continue when to_regclass(v_view) is null;
        continue when exists (
            select from pg_proc as procs
            where
                procs.oid <> 'ops.drop_retired_models'::regproc
                and procs.prosrc like '%' || split_part(v_view, '.', 2) || '%'
        );
        begin
            -- never wait on a reader of the old view: dbt's hook would hang behind it
            perform set_config('lock_timeout', '1s', true);
            execute format('drop view %s', v_view);
            v_dropped := v_dropped || v_view;
        exception when dependent_objects_still_exist or insufficient_privilege or lock_not_available then
            null;  -- still read by a view, not this role's to drop, or in use: left for later
        end;
    end loop;
    perform set_config('lock_timeout', v_lock_timeout, true);
    return v_dropped;
end
$$;

-- dbt's on-run-end: let go of the lock ops.dbt_open took (if this session holds it).
create or replace function ops.dbt_close() returns void
language plpgsql as $$
begin
    if exists (
        select from pg_locks as locks
        where locks.locktype = 'advisory' and locks.granted and locks.pid = pg_backend_pid()
            and locks.objid = ops.refresh_lock_key()::oid and locks.classid = 0
    ) then
        perform pg_advisory_unlock(ops.refresh_lock_key());
    end if;
end
$$;

-- The refresh. Must be called as `call ops.refresh(...)` outside a transaction block (it
-- commits the ledger row first, so a crash leaves a row the reaper can close). The INOUT
-- parameter hands back the run's id (`call ops.refresh('full')` returns one row, p_run_id),
-- so a caller reports its own run, not the newest row of the ledger; `CALL ops.refresh()`,
-- what pg_cron runs, works unchanged.
--
-- Timeouts: lock_timeout is set here (it is read whenever a lock is waited for).
-- statement_timeout cannot be: its timer is armed when a top-level statement starts, so the
-- value must be in force before the CALL. The CLI sets it on its session first
-- (foliodb/refresh.py); pg_cron's background worker arms it from the job role's settings
-- (ops.apply_refresh_timeout). A timeout (or a cancel) raises query_canceled, which
-- `when others` does not catch: it is caught by name and ends the run failed; the work rolls
-- back, so the previous results stay.
create or replace procedure ops.refresh(
    p_mode text default 'incremental',
    p_portfolio_id bigint default null,
    inout p_run_id bigint default null
)
language plpgsql as $$
declare
    v_lock_key constant bigint := ops.refresh_lock_key();
    v_target text := p_mode || coalesce(':' || p_portfolio_id, '');
    v_rows bigint;
    v_scope bigint;
    v_symbols bigint;
    v_error text;
    v_detail text;
begin
    p_run_id := null;
    if p_mode not in ('full', 'incremental', 'portfolio') then
        raise exception 'unknown refresh mode %: use full, incremental or portfolio', p_mode;
    end if;
    if p_mode = 'portfolio' and p_portfolio_id is null then
        raise exception 'refresh mode portfolio needs a portfolio id';
    end if;
    p_run_id := ops.refresh_lock(v_target);
    if p_run_id is not null then
        commit;  -- skipped: another refresh holds the lock
        return;
    end if;

    p_run_id := ops.open_run(
        'refresh', v_target, jsonb_build_object('statement_timeout', current_setting('statement_timeout'))
    );
    commit;

    begin
        perform set_config('lock_timeout', ops.setting('refresh_lock_timeout'), true);
        v_scope := ops.open_window(p_run_id, p_mode, p_portfolio_id);
        select count(*) into v_symbols from ops.refresh_symbol_scope;
        v_rows := ops.run_model_steps(p_run_id);
        perform ops.close_window(true);
        perform ops.end_run(
            p_run_id, 'succeeded', p_rows => v_rows,
            p_details => jsonb_build_object('portfolios_in_scope', v_scope, 'symbols_in_scope', v_symbols)
        );
        perform ops.mark_partial(p_run_id);  -- portfolios isolated by run_model_steps
    exception
        when query_canceled then
            -- statement_timeout, or a cancel request (pg_cancel_backend, Ctrl-C of the client)
            get stacked diagnostics v_error = message_text, v_detail = pg_exception_context;
            v_error := format(
                '%s (statement_timeout %s; ops.settings refresh_statement_timeout %s)',
                v_error, current_setting('statement_timeout'), ops.setting('refresh_statement_timeout')
            );
        when others then
            get stacked diagnostics v_error = message_text, v_detail = pg_exception_context;
    end;
    if v_error is not null then
        perform ops.end_run(
            p_run_id, 'failed', p_error => v_error, p_details => jsonb_build_object('context', v_detail)
        );
    end if;
    perform pg_advisory_unlock(v_lock_key);
    commit;
end
$$;

-- pg_cron's background worker arms statement_timeout once, for its whole `CALL`, from the
-- settings of the role the job runs as. So the refresh job's timeout is that role's setting
-- in this database: this copies ops.settings refresh_statement_timeout onto it. `folio
-- schedule install` calls it for the refresh job's role; call it again after changing the
-- setting. A superuser is refused: its setting would bind every superuser session of the
-- database (migrations, dbt, the CLI).
create or replace function ops.apply_refresh_timeout(p_role name) returns text
language plpgsql as $$
declare
    v_timeout text := ops.setting('refresh_statement_timeout');
begin
    if not exists (select from pg_roles as roles where roles.rolname = p_role) then
        raise exception 'no role %', p_role;
    end if;
    if (select roles.rolsuper from pg_roles as roles where roles.rolname = p_role) then
        raise exception 'role % is a superuser: run the refresh job as a non-superuser role', p_role
            using hint = 'a superuser''s statement_timeout would bind every superuser session of this database';
    end if;
    execute format(
        'alter role %I in database %I set statement_timeout = %L',
        p_role, current_database(), v_timeout
    );
    return v_timeout;
end
$$;

-- The reaper: a run whose backend is gone (or, for runs without a backend, whose heartbeat
-- stopped) is closed. pg_cron calls it every few minutes. Runs end failed, except an import
-- whose portfolio was written (details.portfolio_id): it ends partial, and its record says
-- the portfolio is there and whether a refresh has covered it since (refresh done / pending).
create or replace function ops.reap() returns integer
language plpgsql as $$
declare
    v_count integer;
begin
    with dead as (
        select
            runs.run_id,
            (runs.details ->> 'portfolio_id')::bigint as written_portfolio_id,
            case when runs.kind = 'import' and runs.details ->> 'portfolio_id' is not null then (
                select max(refreshes.run_id) from ops.runs as refreshes
                where refreshes.kind = 'refresh' and refreshes.status = 'succeeded'
                    and refreshes.started_at >= runs.started_at
                    and refreshes.target in (
                        'full', 'incremental', 'portfolio:' || (runs.details ->> 'portfolio_id')
                    )
            ) end as refreshed_by
        from ops.runs as runs
        where runs.status = 'running'
            and case
                when runs.backend_pid is not null then not exists (
                    select from pg_stat_activity as activity
                    where activity.pid = runs.backend_pid and activity.backend_start <= runs.started_at
                )
                else runs.heartbeat_at < clock_timestamp() - ops.setting('reap_after')::interval
            end
    ),

    written as (
        select
            dead.run_id,
            dead.written_portfolio_id is not null and runs.kind = 'import' as is_written,
            dead.written_portfolio_id,
            dead.refreshed_by
        from dead
        inner join ops.runs as runs on runs.run_id = dead.run_id
    )

    update ops.runs
    set status = case when written.is_written then 'partial' else 'failed' end::ops.run_status,
        finished_at = clock_timestamp(),
        error = case
            when runs.backend_pid is not null
                then format('reaped: backend %s ended without finishing the run', runs.backend_pid)
            else format('reaped: no heartbeat since %s', runs.heartbeat_at)
        end,
        message = case when written.is_written then format(
            'portfolio %s written; refresh %s', written.written_portfolio_id,
            case
                when written.refreshed_by is not null then format('done (run %s)', written.refreshed_by)
                else 'pending (queued: the next refresh values it)'
            end
        ) end,
        details = runs.details || case
            when written.is_written then jsonb_build_object(
                'refresh', case when written.refreshed_by is not null then 'done' else 'pending' end
            )
            else '{}'::jsonb
        end
    from written
    where runs.run_id = written.run_id;
    get diagnostics v_count = row_count;
    -- (cli) each pass is a run in the ledger, so app.run_status shows the reaper's last one;
    -- passes that failed nothing replace each other (one row), reapings stay.
    delete from ops.runs where runs.kind = 'reap' and runs.rows = 0;
    perform ops.record_run(
        'reap', null, 'succeeded',
        case when v_count = 0 then 'no run to reap' else format('failed %s run(s) left running', v_count) end,
        v_count
    );
    return v_count;
end
$$;

-- Housekeeping: keep the ledgers from growing without bound.
create or replace function ops.housekeeping() returns bigint
language plpgsql as $$
declare
    v_keep interval := ops.setting('run_details_keep')::interval;
    v_count bigint := 0;
    v_more bigint;
begin
    delete from ops.run_steps
    where run_id in (select runs.run_id from ops.runs where runs.finished_at < clock_timestamp() - v_keep);
    get diagnostics v_count = row_count;
    if to_regclass('cron.job_run_details') is not null then
        execute 'delete from cron.job_run_details where end_time < clock_timestamp() - $1' using v_keep;
        get diagnostics v_more = row_count;
        v_count := v_count + v_more;
    end if;
    -- (cli) recorded like every other kind of run, for app.run_status
    perform ops.record_run('housekeeping', null, 'succeeded', format('purged %s rows', v_count), v_count);
    return v_count;
end
$$;

-- Is the calendar map (analytics.int_calendar_dates_mapped) in step with market.trading_days?
-- Same number of sessions, the same last session, and dates from market.calendar_start() on
-- (a map built before it started there is rebuilt): then a refresh need not rebuild it.
-- Every refresh asks, so it is answered from the ends of the two indexes: session_idx is the
-- ordinal of a session (0, 1, ...: ingest/calendar.py), so the calendar has its last
-- session_idx + 1 sessions, and the map, which maps every session's date to itself and
-- every other date to the next session, holds as many as its last date's session_idx + 1
-- (counting the map's distinct sessions read its ~10,000 rows on every refresh: 1.5-3 ms of
-- an edit's refresh).
create or replace function ops.calendar_map_is_current(p_map text) returns boolean
language plpgsql stable as $$
declare
    v_calendar text := ops.window_calendar();
    v_current boolean;
begin
    if to_regclass(p_map) is null then
        return false;
    end if;
    execute format(
        $q$
        with map_last as (
            select map.calendar_date, map.session_idx
            from %1$s as map
            order by map.calendar_date desc
            limit 1
        ),

        calendar_last as (
            select days.session_date, days.session_idx
            from market.trading_days as days
            where days.calendar = $1
            order by days.session_date desc
            limit 1
        )

        select
            (select map_last.session_idx from map_last)
                = (select calendar_last.session_idx from calendar_last)
            and (select map_last.calendar_date from map_last)
                = (select calendar_last.session_date from calendar_last)
            and (select min(map.calendar_date) from %1$s as map) <= market.calendar_start()
        $q$,
        p_map
    ) into v_current using v_calendar;
    return coalesce(v_current, false);
end
$$;
