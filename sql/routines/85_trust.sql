-- Who a session acts for, and the rule that an app writes only its own user's portfolios.
-- Policies (sql/routines/90_grants.sql, ops.apply_security) and the write triggers below use
-- these two functions, so the rule is defined once.

-- The foliodb user this session acts for:
--   a per-user login role (app.user_logins, by current or session user) → its user, always;
--   else a member of folio_trusted (folio_app, folio_writer) → `foliodb.user_id` as set,
--   per transaction, by the app backend (`set local foliodb.user_id = 42`);
--   else nobody (null).
create or replace function app.acting_user_id() returns bigint
language plpgsql stable security invoker parallel safe
-- plpgsql, no SET clause, everything schema-qualified: its plans are cached per session, so
-- the policies' InitPlans cost a cached lookup per query (an SQL function with a subquery is
-- not inlined and would be planned again on every call)
as $$
declare
    v_user bigint;
begin
    select logins.user_id into v_user
    from app.user_logins as logins
    where logins.login_role operator(pg_catalog.=) any(array[current_user, session_user])
    order by logins.login_role operator(pg_catalog.=) current_user desc
    limit 1;
    if v_user is not null then
        return v_user;
    end if;
    if pg_catalog.pg_has_role(session_user, 'folio_trusted', 'member')
        or pg_catalog.pg_has_role(current_user, 'folio_trusted', 'member') then
        return nullif(pg_catalog.btrim(pg_catalog.current_setting('foliodb.user_id', true)), '')::pg_catalog.int8;
    end if;
    return null;
end
$$;
comment on function app.acting_user_id() is
    'The foliodb user this session acts for: a mapped login role''s user, else foliodb.user_id '
    'as set by a trusted backend (folio_trusted), else null (public rows only).';

-- The operator's own sessions (a superuser login, or a BYPASSRLS batch role: refresh,
-- ingest) that set no user act for everyone: the CLI shows any portfolio. Apps never log in
-- as such a role. A session that sets a user (a trusted backend's request) is answered from
-- the setting alone, with no catalog lookup: the policies test this function before
-- app.acting_user_id(), so a policy costs such a request one lookup, and the operator one.
create or replace function app.acts_for_everyone() returns boolean
language plpgsql stable security invoker parallel safe
as $$
begin
    if nullif(pg_catalog.btrim(pg_catalog.current_setting('foliodb.user_id', true)), '') is not null then
        return false;
    end if;
    return coalesce(
        (
            select roles.rolsuper or roles.rolbypassrls
            from pg_catalog.pg_roles as roles
            where roles.rolname operator(pg_catalog.=) session_user
        ),
        false
    );
end
$$;

-- The refusal of a write to a portfolio of another user than the session acts for: the write
-- triggers below and the imports' lookup of the portfolio they write into (core.owner_portfolio,
-- which refuses before anything of the portfolio is read).
create or replace function core.refuse_another_users_portfolio(p_portfolio_id bigint) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception using errcode = '42501',
        message = format(
            'permission denied: this session acts for user %s; portfolio %s belongs to another user, '
            'nothing written', coalesce(app.acting_user_id()::text, 'nobody'), p_portfolio_id
        );
end
$$;

-- Writes to a portfolio, its positions or valuations are allowed only for the user the
-- session acts for (or by the operator). Statement-level, on the transition tables: one check
-- per statement, inside the SECURITY DEFINER import and edit functions too.
create or replace function core.refuse_writes_for_others() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_acting bigint;
    v_foreign bigint;
begin
    if app.acts_for_everyone() then
        return null;
    end if;
    v_acting := app.acting_user_id();
    if v_acting is null then
        raise exception using errcode = '42501',
            message = format('permission denied: this session acts for no foliodb user, so it may not write %s',
                tg_table_name),
            hint = 'a trusted app backend sets the user per transaction: set local foliodb.user_id = <user_id>';
    end if;
    if tg_table_name = 'portfolios' then
        if tg_op in ('INSERT', 'UPDATE') then
            select min(new_rows.portfolio_id) into v_foreign from new_rows where new_rows.user_id <> v_acting;
        end if;
        if v_foreign is null and tg_op in ('UPDATE', 'DELETE') then
            select min(old_rows.portfolio_id) into v_foreign from old_rows where old_rows.user_id <> v_acting;
        end if;
    else
        if tg_op in ('INSERT', 'UPDATE') then
            select min(new_rows.portfolio_id) into v_foreign
            from new_rows
            inner join core.portfolios as portfolios on new_rows.portfolio_id = portfolios.portfolio_id
            where portfolios.user_id <> v_acting;
        end if;
        if v_foreign is null and tg_op in ('UPDATE', 'DELETE') then
            select min(old_rows.portfolio_id) into v_foreign
            from old_rows
            inner join core.portfolios as portfolios on old_rows.portfolio_id = portfolios.portfolio_id
            where portfolios.user_id <> v_acting;
        end if;
    end if;
    if v_foreign is not null then
        perform core.refuse_another_users_portfolio(v_foreign);
    end if;
    return null;
end
$$;

-- One statement-level trigger per table and write: portfolios, positions, valuations, activities.
select ops.create_write_triggers(
    'core', array['portfolios', 'positions', 'valuations', 'activities'], 'acting_user',
    'core.refuse_writes_for_others'
);

-- The edit functions an app writer may call (besides core.import_portfolio and
-- core.add_positions). SECURITY DEFINER (sql/routines/90_grants.sql pins their search_path):
-- the writer has no privilege on the tables; the triggers above refuse other users' rows.
-- The portfolio of the position an edit wrote, or the refusal when it wrote none (no such
-- position, or one already deleted).
create or replace function core.found_position(p_portfolio_id bigint, p_position_id bigint)
returns bigint
language plpgsql
as $$
begin
    if p_portfolio_id is null then
        raise exception using errcode = '22023',
            message = format('no position with position_id %s', p_position_id);
    end if;
    return p_portfolio_id;
end
$$;

create or replace function core.close_position(
    p_position_id bigint, p_exit_date date, p_exit_price numeric
) returns bigint
language plpgsql
as $$
declare
    v_portfolio_id bigint;
begin
    update core.positions
    set exit_date = p_exit_date, exit_price = p_exit_price, updated_at = now()
    where position_id = p_position_id and deleted_at is null
    returning portfolio_id into v_portfolio_id;
    return core.found_position(v_portfolio_id, p_position_id);
end
$$;

create or replace function core.delete_position(p_position_id bigint) returns bigint
language plpgsql
as $$
declare
    v_portfolio_id bigint;
begin
    update core.positions
    set deleted_at = now(), updated_at = now()
    where position_id = p_position_id and deleted_at is null
    returning portfolio_id into v_portfolio_id;
    return core.found_position(v_portfolio_id, p_position_id);
end
$$;

create or replace function core.set_valuation(
    p_position_id bigint, p_valuation_date date, p_value numeric
) returns bigint
language plpgsql
as $$
declare
    v_portfolio_id bigint;
begin
    insert into core.valuations (portfolio_id, position_id, valuation_date, value, source)
    select positions.portfolio_id, positions.position_id, p_valuation_date, p_value, 'manual'
    from core.positions as positions
    where positions.position_id = p_position_id and positions.deleted_at is null
    on conflict (portfolio_id, position_id, valuation_date)
        do update set value = excluded.value, source = excluded.source, created_at = now()
    returning portfolio_id into v_portfolio_id;
    return core.found_position(v_portfolio_id, p_position_id);
end
$$;

-- What is wrong with a portfolio's base currency (null: nothing, or no currency given): it
-- is a whole currency of market.currencies.
create or replace function core.base_currency_problem(p_currency text) returns text
language sql stable
as $$
    select format(
        'base currency %L is not a whole currency of market.currencies (an ISO 4217 code such '
        'as USD, EUR, GBP; not a subunit such as GBp)', core.shortened(p_currency)
    )
    where p_currency is not null and not exists (
        select from market.currencies as currencies
        where currencies.currency = btrim(p_currency) and not currencies.is_subunit
    )
$$;

-- A portfolio's settings, as an app writer or `folio portfolio set` changes them; a null
-- argument keeps its setting. The owner's check comes first (nothing of another user's
-- portfolio is read). The base currency is a whole currency of market.currencies, and it
-- changes only while every activity of the ledger is in the new one (an activity in another
-- currency states its rate into the base it was imported under, which a change would make
-- wrong). The benchmark is a
-- stored symbol with prices. A change queues the portfolio whole (ops.queue_portfolios_changed).
create or replace function core.set_portfolio(
    p_portfolio_id bigint,
    p_base_currency text default null,
    p_is_public boolean default null,
    p_benchmark_symbol text default null,
    p_cost_method text default null
) returns bigint
language plpgsql
as $$
declare
    v_refused constant text := 'portfolio settings refused';
    v_owner bigint;
    v_base text := btrim(p_base_currency);
    v_benchmark text := upper(btrim(p_benchmark_symbol));
    v_method text := lower(btrim(p_cost_method));
    v_others text;
begin
    select portfolios.user_id into v_owner from core.portfolios as portfolios
    where portfolios.portfolio_id = p_portfolio_id;
    if v_owner is null then
        raise exception using errcode = '22023',
            message = format('%s: no portfolio with portfolio_id %s', v_refused, p_portfolio_id);
    end if;
    if not app.acts_for_everyone() and v_owner is distinct from app.acting_user_id() then
        perform core.refuse_another_users_portfolio(p_portfolio_id);
    end if;

    if core.base_currency_problem(p_base_currency) is not null then
        raise exception using errcode = '22023',
            message = format('%s: %s', v_refused, core.base_currency_problem(p_base_currency));
    end if;
    select string_agg(distinct activities.currency, ', ' order by activities.currency) into v_others
    from core.activities as activities
    where activities.portfolio_id = p_portfolio_id and activities.currency <> v_base;
    if v_others is not null then
        raise exception using errcode = '22023',
            message = format(
                '%s: portfolio %s has activities in %s; its base currency stays as it is while '
                'they are (an activity in another currency states its rate into the current base)',
                v_refused, p_portfolio_id, v_others
            );
    end if;
    if v_benchmark is not null and not exists (
        select from market.prices as prices where prices.symbol = v_benchmark
    ) then
        raise exception using errcode = '22023',
            message = format(
                '%s: benchmark %L has no prices in market.prices; ingest them first '
                '(folio ingest prices --symbols %s)', v_refused, core.shortened(p_benchmark_symbol),
                core.shortened(v_benchmark)
            );
    end if;
    if v_method is not null and v_method not in ('fifo', 'average') then
        raise exception using errcode = '22023',
            message = format('%s: cost method %L: expected fifo or average', v_refused,
                core.shortened(p_cost_method));
    end if;

    update core.portfolios
    set
        base_currency = coalesce(v_base, base_currency),
        is_public = coalesce(p_is_public, is_public),
        benchmark_symbol = coalesce(v_benchmark, benchmark_symbol),
        cost_method = coalesce(v_method::core.cost_method, cost_method)
    where portfolio_id = p_portfolio_id;
    return p_portfolio_id;
end
$$;

create or replace function core.delete_portfolio(p_portfolio_id bigint) returns bigint
language plpgsql
as $$
begin
    delete from core.portfolios where portfolio_id = p_portfolio_id;
    if not found then
        raise exception using errcode = '22023',
            message = format('no portfolio with portfolio_id %s', p_portfolio_id);
    end if;
    return p_portfolio_id;
end
$$;

-- The visibility facts the analytics tables behind the app views carry (user_id, is_public:
-- the row-level security policy tests those columns, sql/routines/90_grants.sql) follow the
-- portfolio in the same transaction: made public or private, moved to another user (the new
-- user_id), deleted (no user, not public). The refresh writes them from core.portfolios in the
-- statement that inserts the rows. A refresh in progress may have read the old facts: the
-- SHARE ROW EXCLUSIVE lock waits for it to publish (then the update below sees its rows) and
-- keeps a later one from writing these tables until this transaction commits (then it reads
-- the new facts). Readers are never blocked. SECURITY DEFINER: the owner's update is not
-- filtered by the tables' policies, whoever changed the portfolio.
create or replace function core.carry_portfolio_visibility() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_table regclass;
begin
    -- a rename or a new benchmark changes no visibility: nothing to lock
    if tg_op = 'UPDATE' then
        if not exists (
            select from new_rows
            inner join old_rows on new_rows.portfolio_id = old_rows.portfolio_id
            where (new_rows.user_id, new_rows.is_public) is distinct from (old_rows.user_id, old_rows.is_public)
        ) then
            return null;
        end if;
    end if;
    -- in the order the refresh writes them (its steps, ops.model_steps: fct_chart_series,
    -- fct_chart_caches, fct_leaderboards), so both lock in the same order and neither waits
    -- for the other while holding what the other needs; then by name
    for v_table in
        select classes.oid::regclass
        from pg_class as classes
        inner join pg_namespace as namespaces on classes.relnamespace = namespaces.oid
        where namespaces.nspname = 'analytics'
            and classes.relkind in ('r', 'p')
            and (
                select count(*) from pg_attribute as attributes
                where attributes.attrelid = classes.oid and not attributes.attisdropped
                    and attributes.attname in ('portfolio_id', 'user_id', 'is_public')
            ) = 3
        order by
            (select steps.step_no from ops.model_steps as steps where steps.model = classes.relname),
            classes.relname
    loop
        execute format('lock table %s in share row exclusive mode', v_table);
        if tg_op = 'DELETE' then
            execute format(
                'update %s as carried set user_id = null, is_public = false'
                ' from old_rows where carried.portfolio_id = old_rows.portfolio_id'
                ' and (carried.user_id is not null or carried.is_public is distinct from false)',
                v_table
            );
        else
            execute format(
                'update %s as carried set user_id = new_rows.user_id, is_public = new_rows.is_public'
                ' from new_rows where carried.portfolio_id = new_rows.portfolio_id'
                ' and (carried.user_id, carried.is_public) is distinct from (new_rows.user_id, new_rows.is_public)',
                v_table
            );
        end if;
    end loop;
    return null;
end
$$;

create or replace trigger portfolios_visibility_carried_update after update on core.portfolios
referencing old table as old_rows new table as new_rows
for each statement execute function core.carry_portfolio_visibility();
create or replace trigger portfolios_visibility_carried_delete after delete on core.portfolios
referencing old table as old_rows
for each statement execute function core.carry_portfolio_visibility();
