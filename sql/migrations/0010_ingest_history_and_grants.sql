-- Price ingestion (issue 3): what the ingester needs beyond the foundation's market schema.

-- The earliest date a provider was asked for. History before it was never requested, so a
-- position entered earlier triggers a backfill; a symbol whose quotes start later (a young
-- listing) is not asked again on every run.
alter table market.symbols add column history_from date;
comment on column market.symbols.history_from is
    'Earliest date a price provider was asked for; set by ingest, used to decide backfills.';

-- Quarantined rows are looked up by run (the run summary lists them).
create index quarantine_run on market.quarantine (run_id) where run_id is not null;

-- folio_ingest loads market data and writes its runs (roles come from 0001).
grant usage on schema market, ops to folio_ingest;
grant select, insert, update on market.symbols, market.prices, market.trading_days to folio_ingest;
grant delete on market.trading_days to folio_ingest;
grant select, insert on market.quarantine, ops.dirty_symbols to folio_ingest;
grant select, insert, update on ops.runs to folio_ingest;
grant select on ops.settings, core.positions, core.portfolios to folio_ingest;
