-- Database-level privileges of the foliodb database (README, "Who can do what").
-- Re-runnable, applied by every `folio db migrate` after the grants. A database's own ACL is
-- not copied by `create database … template …`: a clone gets the defaults (PUBLIC may connect
-- and create temporary tables) until it is migrated, or this file is applied to it.
--
-- TEMPORARY only for the roles whose work stages rows in temporary tables: the refresh
-- (sql/routines/22_refresh_isolation.sql, the chunked model steps of
-- dbt_project/macros/foliodb_refresh.sql), the ingester (COPY into ingest_stage and
-- calendar_stage, ingest/load.py and ingest/calendar.py) and the owner (dbt, migrations and
-- the SECURITY DEFINER import and edit functions run as it). Apps never need one: the reader,
-- the app backend and the app writer cannot create a temporary table (nor can any role made
-- later, unless granted).
do $$
begin
    execute format('revoke temporary on database %I from public', current_database());
    execute format(
        'grant temporary on database %I to folio_owner, folio_refresh, folio_ingest', current_database()
    );
end
$$;
