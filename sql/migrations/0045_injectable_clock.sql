-- "Today" is an input. ops.now() is the clock every rule reads: the setting foliodb.now when it
-- is set (the CLI passes FOLIO_TODAY through it; a database or role may pin it with
-- `alter database … set foliodb.now = '…'`, which pg_cron's jobs honour too), else the
-- transaction's now(). ops.today() is its date in UTC (the server's time zone).
create or replace function ops.now() returns timestamptz
language sql stable parallel safe as $$
    select coalesce(nullif(current_setting('foliodb.now', true), '')::timestamptz, now())
$$;

create or replace function ops.today() returns date
language sql stable parallel safe as $$
    select (ops.now() at time zone 'UTC')::date
$$;

-- The "not in the future" rules read the same clock as everything else.
alter table market.prices drop constraint price_not_in_future;
alter table market.prices
    add constraint price_not_in_future check (price_date <= ops.today());

alter table core.positions drop constraint entry_not_in_future;
alter table core.positions
    add constraint entry_not_in_future check (entry_date <= ops.today());

alter table core.valuations drop constraint valuation_not_in_future;
alter table core.valuations
    add constraint valuation_not_in_future check (valuation_date <= ops.today());
