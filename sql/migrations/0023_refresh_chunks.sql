-- Portfolios per chunk when a model refreshes a big scope (a full rebuild) chunk by chunk.
insert into ops.settings (key, value, description) values
    ('refresh_chunk_portfolios', '2000', 'Portfolios per chunk when a big refresh scope is computed in chunks.');
