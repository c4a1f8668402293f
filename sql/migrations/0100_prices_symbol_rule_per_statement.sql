-- Every price's symbol must be a known symbol. The foreign key did that with one lookup (and
-- one row lock) per price row: about 10 µs a row, the largest cost of a 1,000,000-row price
-- file. The rule stays enforced by the database for every writer, set-based: statement-level
-- triggers on market.prices (one anti-join per statement, the symbols locked for key share as
-- the foreign key locked them) and on market.symbols (a delete of a symbol with prices is
-- refused; a rename cascades to its prices), in sql/routines/40_price_load.sql, which every
-- migrate re-applies right after this (same `folio db migrate`).
alter table market.prices drop constraint prices_symbol_fkey;
