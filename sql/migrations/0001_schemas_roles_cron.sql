-- Schemas, roles and pg_cron.
--
-- Roles (cluster-wide, created once, never dropped here):
--   folio_owner    owns foliodb's objects
--   folio_ingest   loads market data (market.*) and writes ingest runs
--   folio_refresh  runs the refresh procedures
--   folio_reader   read-only: the read contract for apps (schema app) and nothing else
create schema if not exists core;
create schema if not exists market;
create schema if not exists ops;
create schema if not exists analytics;
create schema if not exists app;

do $$
declare
    role_name text;
begin
    foreach role_name in array array['folio_owner', 'folio_ingest', 'folio_refresh', 'folio_reader']
    loop
        if not exists (select from pg_roles where rolname = role_name) then
            execute format('create role %I nologin', role_name);
        end if;
    end loop;
end
$$;

-- pg_cron keeps its metadata in one database per cluster (cron.database_name). Other
-- databases on the same server (tests, a second deployment) are scheduled from there with
-- cron.schedule_in_database, so the extension is only created where it can live.
do $$
begin
    if current_database() = current_setting('cron.database_name', true) then
        create extension if not exists pg_cron;
    elsif current_setting('cron.database_name', true) is null then
        raise warning 'pg_cron is not loaded (shared_preload_libraries): scheduling is unavailable';
    end if;
end
$$;
