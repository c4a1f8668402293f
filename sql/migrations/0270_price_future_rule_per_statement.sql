-- The "not in the future" rule on prices is checked once per statement, not per row: the check
-- constraint called ops.today() (the setting foliodb.now read and cast) for every row written,
-- about a tenth of a million-row load, and a check constraint is meant to be immutable while
-- "today" moves. The statement triggers that already read the written rows
-- (market.prices_symbols_exist, sql/routines/40_price_load.sql) compare their latest date with
-- ops.today() once and raise the same check_violation, naming price_not_in_future.
alter table market.prices drop constraint price_not_in_future;
