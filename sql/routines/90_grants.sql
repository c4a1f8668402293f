-- Who may do what (README, "Who can do what"; `folio db roles` prints it from the catalog).
-- Re-runnable: applied after every other routine by every `folio db migrate`, so objects a
-- later migration adds are re-owned and granted the same way. dbt's on-run-end calls
-- ops.apply_security() for the objects dbt (re)creates.

-- 1. Role attributes, memberships and purposes (roles come from migrations 0001 and 0070).
--    Roles are cluster-wide: change them only when they differ, so migrations of several
--    databases at once do not update the same catalog rows.
do $$
declare
    spec record;
begin
    for spec in
        select *
        from (
            values
            ('folio_owner', false, false, -1, null::text, null::text,
                'owns every foliodb object; never logs in: migrations and dbt run as it (set role)'),
            ('folio_refresh', true, true, 8, '0', null,
                'runs ops.refresh and the pg_cron jobs; reads everything, writes analytics and ops; '
                'logs in only as pg_cron''s background worker (no password, no peer map)'),
            ('folio_ingest', false, true, -1, null, null,
                'writes market data (prices, symbols, calendar, quarantine) and its ingest runs'),
            ('folio_writer', true, false, 10, '30s', null,
                'app writer: may only call the import and edit functions, for the user it acts for'),
            ('folio_reader', true, false, 20, '5s', '5s',
                'reads the app views only; acting for no user it sees public portfolios only'),
            ('folio_app', true, false, 40, '5s', '5s',
                'trusted app backend: reads the app views for the user it sets per transaction '
                '(set local foliodb.user_id)'),
            ('folio_trusted', false, false, -1, null, null,
                'group: roles whose foliodb.user_id setting is believed (folio_app, folio_writer)')
        ) as specs (role_name, can_login, bypass_rls, conn_limit, stmt_timeout, idle_timeout, purpose)
    loop
        if exists (
            select from pg_roles
            where rolname = spec.role_name
                and (rolcanlogin, rolbypassrls, rolconnlimit, rolsuper, rolcreaterole, rolcreatedb)
                is distinct from (spec.can_login, spec.bypass_rls, spec.conn_limit, false, false, false)
        ) then
            execute format(
                'alter role %I %s %s nosuperuser nocreaterole nocreatedb noreplication connection limit %s',
                spec.role_name,
                case when spec.can_login then 'login' else 'nologin' end,
                case when spec.bypass_rls then 'bypassrls' else 'nobypassrls' end,
                spec.conn_limit
            );
        end if;
        if spec.stmt_timeout is not null and not exists (
            select from pg_db_role_setting as settings
            where settings.setrole = spec.role_name::regrole and settings.setdatabase = 0
                and format('statement_timeout=%s', spec.stmt_timeout) = any(settings.setconfig)
        ) then
            execute format('alter role %I set statement_timeout = %L', spec.role_name, spec.stmt_timeout);
        end if;
        if spec.idle_timeout is not null and not exists (
            select from pg_db_role_setting as settings
            where settings.setrole = spec.role_name::regrole and settings.setdatabase = 0
                and format('idle_in_transaction_session_timeout=%s', spec.idle_timeout) = any(settings.setconfig)
        ) then
            execute format(
                'alter role %I set idle_in_transaction_session_timeout = %L', spec.role_name, spec.idle_timeout
            );
        end if;
        if shobj_description(spec.role_name::regrole, 'pg_authid') is distinct from spec.purpose then
            execute format('comment on role %I is %L', spec.role_name, spec.purpose);
        end if;
    end loop;
end
$$;

do $$
declare
    membership record;
begin
    for membership in
        select *
        from (
            values
            ('folio_reader', 'folio_app'),
            ('folio_trusted', 'folio_app'),
            ('folio_trusted', 'folio_writer'),
            -- the owner acts on the refresh role's work tables (analyze ops.refresh_scope)
            ('folio_refresh', 'folio_owner')
        ) as memberships (group_name, member_name)
        where not pg_has_role(memberships.member_name, memberships.group_name, 'member')
    loop
        execute format('grant %I to %I', membership.group_name, membership.member_name);
    end loop;
end
$$;

-- 2. Owner: every object of foliodb's schemas that the bootstrap superuser created (the
--    migrations run as it) belongs to folio_owner. REASSIGN OWNED cannot move a superuser's
--    objects, so each object is altered, from the catalog.
do $$
declare
    obj record;
begin
    for obj in
        select format('alter schema %I owner to folio_owner', namespaces.nspname) as ddl
        from pg_namespace as namespaces
        where namespaces.nspname in ('core', 'market', 'ops', 'analytics', 'app')
            and namespaces.nspowner <> 'folio_owner'::regrole
        union all
        select format(
            'alter %s %s owner to folio_owner',
            case classes.relkind
                when 'v' then 'view' when 'm' then 'materialized view' when 'S' then 'sequence'
                when 'c' then 'type' else 'table'
            end,
            case when classes.relkind = 'c' then classes.reltype::regtype::text else classes.oid::regclass::text end
        )
        from pg_class as classes
        inner join pg_namespace as namespaces on classes.relnamespace = namespaces.oid
        where namespaces.nspname in ('core', 'market', 'ops', 'analytics', 'app')
            and classes.relkind in ('r', 'p', 'v', 'm', 'S', 'c')
            and classes.relowner <> 'folio_owner'::regrole
            and classes.relowner = (select roles.oid from pg_roles as roles where roles.rolname = session_user)
            -- sequences of identity and serial columns follow their table
            and not exists (
                select from pg_depend as depends
                where depends.classid = 'pg_class'::regclass and depends.objid = classes.oid
                    and depends.deptype in ('a', 'i')
            )
        union all
        select format(
            'alter %s %s owner to folio_owner',
            case when procs.prokind = 'p' then 'procedure' else 'function' end,
            procs.oid::regprocedure
        )
        from pg_proc as procs
        inner join pg_namespace as namespaces on procs.pronamespace = namespaces.oid
        where namespaces.nspname in ('core', 'market', 'ops', 'analytics', 'app')
            and procs.proowner <> 'folio_owner'::regrole
            and procs.proowner = (select roles.oid from pg_roles as roles where roles.rolname = session_user)
        union all
        select format('alter type %s owner to folio_owner', types.oid::regtype)
        from pg_type as types
        inner join pg_namespace as namespaces on types.typnamespace = namespaces.oid
        where namespaces.nspname in ('core', 'market', 'ops', 'analytics', 'app')
            and types.typtype in ('e', 'd')
            and types.typowner <> 'folio_owner'::regrole
            and types.typowner = (select roles.oid from pg_roles as roles where roles.rolname = session_user)
    loop
        execute obj.ddl;
    end loop;
end
$$;

-- The refresh's work tables belong to the refresh role (it runs `analyze` on them).
alter table ops.refresh_window owner to folio_refresh;
alter table ops.refresh_scope owner to folio_refresh;
alter table ops.refresh_symbol_scope owner to folio_refresh;
alter table ops.refresh_exposure_symbols owner to folio_refresh;
alter table ops.refresh_exposure_subjects owner to folio_refresh;
grant all on
    ops.refresh_window, ops.refresh_scope, ops.refresh_symbol_scope,
    ops.refresh_exposure_symbols, ops.refresh_exposure_subjects
to folio_owner;

-- 3. No function is executable by PUBLIC, now or later; each role gets what it needs.
revoke execute on all routines in schema core, market, ops, analytics, app from public;
alter default privileges for role folio_owner revoke execute on routines from public;
alter default privileges revoke execute on routines from public;  -- the migrator's own
-- large objects: nobody in foliodb needs them; refuse creating them in this database
revoke execute on function
    pg_catalog.lo_creat(integer), pg_catalog.lo_create(oid), pg_catalog.lo_from_bytea(oid, bytea),
    pg_catalog.lo_import(text), pg_catalog.lo_import(text, oid), pg_catalog.lo_put(oid, bigint, bytea)
from public;
revoke create on schema public from public;

-- 4. core's functions, one by one:
--    - SECURITY DEFINER: the app writer's import and edit functions, run as the owner with a
--      pinned search_path; the triggers of sql/routines/85_trust.sql refuse rows of users the
--      session does not act for;
--    - the others to folio_refresh: the CLI checks a positions file on its refresh-role
--      connection before it writes as the writer (foliodb/portfolio_io.py database_issues):
--      core's parsers and position rules (its invoker functions, which read as the caller and
--      write nothing), not its triggers nor the imports' own lookup-or-create of the portfolio
--      they write into (core.owner_portfolio).
do $$
declare
    fn record;
begin
    for fn in
        select
            procs.oid::regprocedure as signature,
            procs.proname in (
                'import_portfolio', 'add_positions', 'close_position', 'delete_position',
                'set_valuation', 'delete_portfolio', 'import_activities', 'set_portfolio'
            ) as is_writer_entry,
            procs.prosecdef or procs.prorettype = 'trigger'::regtype
                or procs.proname = 'owner_portfolio' as is_internal
        from pg_proc as procs
        inner join pg_namespace as namespaces on procs.pronamespace = namespaces.oid
        where namespaces.nspname = 'core'
    loop
        if fn.is_writer_entry then
            execute format(
                'alter function %s security definer set search_path = pg_catalog, core, market, ops, pg_temp',
                fn.signature
            );
            execute format('grant execute on function %s to folio_writer', fn.signature);
        elsif not fn.is_internal then
            execute format('grant execute on function %s to folio_refresh', fn.signature);
        end if;
    end loop;
    -- every SECURITY DEFINER function of foliodb pins its search_path
    perform 1 from pg_proc as procs
    inner join pg_namespace as namespaces on procs.pronamespace = namespaces.oid
    where namespaces.nspname in ('core', 'market', 'ops', 'analytics', 'app')
        and procs.prosecdef
        and not exists (select from unnest(procs.proconfig) as config (item) where config.item like 'search\_path=%');
    if found then
        raise exception 'a SECURITY DEFINER function of foliodb does not pin its search_path';
    end if;
end
$$;

-- 5. Grants by purpose.
-- folio_refresh: reads everything, writes analytics and ops, runs every non-definer routine.
grant usage on schema core, market, ops, analytics, app to folio_refresh;
grant select on all tables in schema core, market, ops, analytics, app to folio_refresh;
grant insert, update, delete, truncate on all tables in schema analytics, ops to folio_refresh;
grant usage, select, update on all sequences in schema ops, analytics to folio_refresh;
alter default privileges for role folio_owner in schema analytics
    grant select, insert, update, delete, truncate on tables to folio_refresh;
alter default privileges for role folio_owner in schema core, market, ops, app
    grant select on tables to folio_refresh;
alter default privileges for role folio_owner in schema analytics, ops
    grant execute on routines to folio_refresh;
alter default privileges for role folio_owner in schema ops, analytics
    grant usage, select, update on sequences to folio_refresh;

-- folio_ingest: market data and its runs.
grant usage on schema market, ops, core to folio_ingest;
grant select on all tables in schema market to folio_ingest;
grant insert, update, delete on all tables in schema market to folio_ingest;
grant usage, select on all sequences in schema market, ops to folio_ingest;
grant select on ops.settings, ops.runs, ops.refresh_state, core.positions, core.portfolios, core.activities
    to folio_ingest;
grant insert, update on ops.runs to folio_ingest;
grant insert on ops.dirty_symbols to folio_ingest;
-- the bounds every price is checked against (migration 0050) and how a refused number is shown
grant select on ops.input_bounds to folio_ingest;
grant execute on function core.number_shown(numeric) to folio_ingest;

-- folio_writer: the import and edit functions (granted above) and nothing else.
grant usage on schema core to folio_writer;

-- folio_reader: schema app; the tables behind the app views are read through the
-- security_invoker views (so the policies apply), never named: no USAGE on their schemas.
grant usage on schema app to folio_reader;
grant select on all tables in schema app to folio_reader;
alter default privileges for role folio_owner in schema app grant select on tables to folio_reader;
grant execute on function app.acting_user_id(), app.acts_for_everyone() to folio_reader;
-- the project's clock (migration 0045): the app views read it for freshness
grant execute on function ops.now(), ops.today() to folio_reader, folio_writer, folio_ingest;
grant select on core.portfolios to folio_reader;
-- the app views' freshness: the last closed session of the exchange calendar (a SECURITY
-- DEFINER function reading only market.trading_days, sql/routines/10_clock.sql)
grant execute on function market.last_closed_session(text, timestamptz) to folio_reader, folio_ingest;
revoke all on schema core, market, ops, analytics from folio_reader;
revoke insert, update, delete, truncate, references, trigger on all tables in schema app from folio_reader;
revoke create on schema app from folio_reader;

-- the functions the triggers and policies need when run by the refresh and ingest roles
grant execute on all routines in schema ops, analytics, market to folio_refresh;
-- but not the migrations' DDL helper (it alters the tables' bound checks: migration 0220)
revoke execute on function ops.apply_input_bounds() from folio_refresh;
grant execute on function app.acting_user_id(), app.acts_for_everyone() to folio_refresh;
do $$
declare
    fn record;
begin
    -- non-definer routines of market and ops for the ingester (setting lookups, OCC parsing)
    for fn in
        select procs.oid::regprocedure as signature
        from pg_proc as procs
        inner join pg_namespace as namespaces on procs.pronamespace = namespaces.oid
        where namespaces.nspname in ('market', 'ops') and not procs.prosecdef and procs.prokind = 'f'
    loop
        execute format('grant execute on function %s to folio_ingest', fn.signature);
    end loop;
end
$$;

-- 6. Row-level security and the reader's grants on what the app views read.
-- A policy is made from its rule's text, kept as the policy's comment: when the rule changes
-- (here), the next migrate replaces the policy, in the migrate's transaction.
create or replace function ops.ensure_policy(p_table regclass, p_name text, p_using text) returns void
language plpgsql
as $$
begin
    if exists (
        select from pg_policy as policies
        where policies.polrelid = p_table and policies.polname = p_name
            and obj_description(policies.oid, 'pg_policy') is not distinct from p_using
    ) then
        return;
    end if;
    if exists (select from pg_policy as policies where policies.polrelid = p_table and policies.polname = p_name) then
        execute format('drop policy %I on %s', p_name, p_table);
    end if;
    execute format('create policy %I on %s for select using (%s)', p_name, p_table, p_using);
    execute format('comment on policy %I on %s is %L', p_name, p_table, p_using);
end
$$;
alter function ops.ensure_policy(regclass, text, text) owner to folio_owner;
revoke execute on function ops.ensure_policy(regclass, text, text) from public, folio_refresh;

create or replace function ops.apply_security() returns integer
language plpgsql
as $$
declare
    rel record;
    v_count integer := 0;
    -- a portfolio is visible when public, or to the operator, or its user's; the rule is
    -- written once, here: on core.portfolios and on the tables that carry a portfolio's
    -- user_id and is_public (kept current by core.carry_portfolio_visibility). Its two
    -- calls are InitPlans, evaluated at most once per query and only when a row read is not
    -- public; acts_for_everyone() comes first because it answers a request that sets a user
    -- with no lookup (the operator's sessions stop there), so a policy costs one lookup
    -- either way. The rest is a column test, so an index scan keeps its order (the
    -- leaderboard's top 20 need no sort).
    v_visible constant text :=
        'is_public or (select app.acts_for_everyone()) or user_id = (select app.acting_user_id())';
begin
    if not (select classes.relrowsecurity from pg_class as classes where classes.oid = 'core.portfolios'::regclass) then
        alter table core.portfolios enable row level security;
    end if;
    perform ops.ensure_policy('core.portfolios', 'portfolios_visible', v_visible);
    if not (select classes.relrowsecurity from pg_class as classes where classes.oid = 'app.user_logins'::regclass) then
        alter table app.user_logins enable row level security;
    end if;
    if not exists (
        select from pg_policy where polrelid = 'app.user_logins'::regclass and polname = 'user_logins_own'
    ) then
        create policy user_logins_own on app.user_logins for select
        using (login_role in (current_user, session_user));
    end if;
    for rel in
        select
            classes.oid::regclass as table_name,
            classes.relname,
            namespaces.nspname = 'analytics' and (
                select count(*) from pg_attribute as carried
                where carried.attrelid = classes.oid and not carried.attisdropped
                    and carried.attname in ('user_id', 'is_public')
            ) = 2 as carries_visibility
        from pg_class as classes
        inner join pg_namespace as namespaces on classes.relnamespace = namespaces.oid
        inner join pg_attribute as attributes
            on attributes.attrelid = classes.oid and attributes.attname = 'portfolio_id'
            and not attributes.attisdropped
        where namespaces.nspname in ('core', 'analytics')
            and classes.relkind in ('r', 'p')
            and classes.oid <> 'core.portfolios'::regclass
    loop
        if not (select classes.relrowsecurity from pg_class as classes where classes.oid = rel.table_name) then
            execute format('alter table %s enable row level security', rel.table_name);
        end if;
        if rel.carries_visibility then
            -- the visibility carried on the row (fct_chart_caches, fct_leaderboards)
            if exists (
                select from pg_policy where polrelid = rel.table_name and polname = 'portfolio_visible'
            ) then
                execute format('drop policy portfolio_visible on %s', rel.table_name);
            end if;
            perform ops.ensure_policy(rel.table_name, 'portfolio_visible_carried', v_visible);
        else
            -- a scalar subquery, not exists: one primary-key probe per row read (exists
            -- may become a hash of every visible portfolio)
            perform ops.ensure_policy(
                rel.table_name, 'portfolio_visible',
                format(
                    '(select true from core.portfolios as visible where visible.portfolio_id = %I.portfolio_id)',
                    rel.relname
                )
            );
        end if;
        v_count := v_count + 1;
    end loop;

    -- the reader reads, through the app views, every relation they depend on
    for rel in
        with recursive depends_on (relation_id) as (
            select classes.oid
            from pg_class as classes
            inner join pg_namespace as namespaces on classes.relnamespace = namespaces.oid
            where namespaces.nspname = 'app' and classes.relkind in ('v', 'm')
            union
            select depends.refobjid
            from depends_on
            inner join pg_rewrite as rewrites on rewrites.ev_class = depends_on.relation_id
            inner join pg_depend as depends
                on depends.classid = 'pg_rewrite'::regclass and depends.objid = rewrites.oid
                and depends.refclassid = 'pg_class'::regclass
            where depends.refobjid <> depends_on.relation_id
        )
        select depends_on.relation_id::regclass as table_name
        from depends_on
        inner join pg_class as classes on depends_on.relation_id = classes.oid
        inner join pg_namespace as namespaces on classes.relnamespace = namespaces.oid
        where namespaces.nspname in ('core', 'market', 'ops', 'analytics')
            and not has_table_privilege('folio_reader', depends_on.relation_id, 'select')
    loop
        execute format('grant select on %s to folio_reader', rel.table_name);
    end loop;
    return v_count;
end
$$;
alter function ops.apply_security() owner to folio_owner;
revoke execute on function ops.apply_security() from public, folio_refresh;

select ops.apply_security();

-- 7. pg_cron's metadata (only in the database named by cron.database_name): by default any
--    role may read its own jobs and schedule new ones as itself. Only the admin schedules
--    (as folio_refresh, foliodb/schedule.py); the refresh role may purge its run details.
do $$
begin
    if to_regnamespace('cron') is not null then
        revoke all on schema cron from public;
        revoke execute on all functions in schema cron from public;
        grant usage on schema cron to folio_refresh;
        grant select, delete on cron.job_run_details to folio_refresh;
        grant select on cron.job to folio_refresh;
        -- jobs an older foliodb scheduled as a superuser (names DATABASE:JOB) run as the
        -- refresh role from now on
        update cron.job
        set username = 'folio_refresh'
        where jobname like '%:%'
            and username in (select roles.rolname from pg_roles as roles where roles.rolsuper);
    end if;
end
$$;
