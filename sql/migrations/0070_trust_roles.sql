-- The trust boundary (issue 13): least-privilege roles and the map from login roles to users.
--
-- Roles are cluster-wide: created here when missing; their attributes, memberships, comments
-- and grants are (re)applied by sql/routines/90_grants.sql on every migrate.
--   folio_owner    owns every foliodb object; never logs in (migrations and dbt `set role` it)
--   folio_refresh  runs ops.refresh and the pg_cron jobs (login only for pg_cron's workers)
--   folio_ingest   writes market data
--   folio_writer   app writer: may only call the import and edit functions, for its user
--   folio_reader   reads the `app` views only; with no user it sees public portfolios only
--   folio_app      a trusted app backend: reads as folio_reader for the user it sets per
--                  transaction (`set local foliodb.user_id = …`)
--   folio_trusted  group of the roles whose `foliodb.user_id` is believed
do $$
declare
    role_name text;
begin
    foreach role_name in array array[
        'folio_owner', 'folio_refresh', 'folio_ingest', 'folio_writer', 'folio_reader',
        'folio_app', 'folio_trusted'
    ]
    loop
        if not exists (select from pg_roles where rolname = role_name) then
            execute format('create role %I nologin', role_name);
        end if;
    end loop;
end
$$;

-- (b) of the read contract: a per-user login role acts for exactly one foliodb user,
-- whatever it sets. In schema app so that app.acting_user_id() can read it as the caller;
-- row-level security shows a login only its own row.
create table app.user_logins (
    login_role name primary key,
    user_id bigint not null references core.users (user_id) on delete cascade,
    created_at timestamptz not null default now()
);
create index user_logins_user on app.user_logins (user_id);
revoke all on app.user_logins from public;
comment on table app.user_logins is
    'Per-user login roles: a session logged in as login_role acts for user_id and no one else.';
