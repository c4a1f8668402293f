-- ops.refresh hands back its run id (an INOUT parameter, so `CALL ops.refresh()` - what
-- pg_cron runs - still works unchanged): its signature changes, and a procedure's parameter
-- list cannot be changed by `create or replace`. sql/routines/21_refresh_engine.sql creates
-- the new one.
drop procedure if exists ops.refresh(text, bigint);

-- dbt no longer computes or publishes (it installs the models' tables and refresh functions;
-- the publish is one `call ops.refresh`), so it opens and closes no window of its own.
drop function if exists ops.dbt_open(text);
drop function if exists ops.dbt_close(boolean, text);
