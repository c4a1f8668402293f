-- The read contract's role: folio_reader may read the views of schema app and nothing else.
-- Re-runnable (applied by every `folio db migrate`). Views dbt creates later are covered by
-- the default privileges below (dbt runs as the same role as the migrator) and by the
-- `grants` config of the app models.
grant usage on schema app to folio_reader;
grant select on all tables in schema app to folio_reader;
alter default privileges in schema app grant select on tables to folio_reader;

-- Nothing else: no schema of raw or derived data, no write anywhere.
revoke all on schema core, market, ops, analytics from folio_reader;
revoke insert, update, delete, truncate, references, trigger on all tables in schema app from folio_reader;
revoke create on schema app from folio_reader;
revoke create on schema public from folio_reader;
