-- Named refresh scopes: besides the portfolios (ops.refresh_scope) and symbols
-- (ops.refresh_symbol_scope) a run recomputes, ops.open_window writes the scopes that follow
-- from them, so no model derives its own (docs/refresh.md):
--   ops.refresh_exposure_symbols   the symbols whose factor exposures the run re-fits;
--   ops.refresh_exposure_subjects  the portfolios whose exposures the run recomputes;
--   ops.refresh_window.is_reranking  whether the leaderboards are re-ranked.
-- Written and emptied inside the refresh's own transaction, like the other scope tables.
create table ops.refresh_exposure_symbols (
    symbol text primary key
);
comment on table ops.refresh_exposure_symbols is
    'Symbols whose factor exposures the refresh in progress re-fits at its as-of session; empty outside it.';

create table ops.refresh_exposure_subjects (
    portfolio_id bigint primary key
);
comment on table ops.refresh_exposure_subjects is
    'Portfolios whose factor exposures the refresh in progress recomputes; empty outside it.';

alter table ops.refresh_window add column is_reranking boolean not null default false;
comment on column ops.refresh_window.is_reranking is
    'The leaderboards are re-ranked whole in this run (a public or listed portfolio is in scope).';

-- The chunks a big scope is computed in (ops.settings refresh_chunk_portfolios portfolios
-- each, numbered by ops.derive_portfolio_scopes): a chunked model (the snapshots) computes one
-- chunk per statement, reading the chunk named by the setting foliodb.refresh_chunk, so each
-- statement's aggregates fit in memory; the scope itself is never rewritten for it.
alter table ops.refresh_scope add column chunk_no integer not null default 0;
comment on column ops.refresh_scope.chunk_no is
    'Chunk of the scope a chunked model computes this portfolio in (0, 1, ...).';
