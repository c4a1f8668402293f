-- The Citus layout rule (docs/scaling.md): every unique key of a portfolio table leads with
-- portfolio_id, so it can be checked on one shard. core.positions' second unique key on
-- position_id alone did not (the identity column already hands out each value once); a plain
-- index keeps lookups by position id as fast.
alter table core.positions drop constraint positions_position_id_key;
create index positions_position_id on core.positions (position_id);
