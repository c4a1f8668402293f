-- Change capture: writes to positions, valuations, portfolios and prices queue what they
-- affect, from which date. Statement-level triggers with transition tables: a bulk import
-- of 10k positions queues one row per portfolio, not one per position.

create or replace function ops.queue_positions_inserted() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select new_rows.portfolio_id, min(new_rows.entry_date), 'positions added'
    from new_rows
    group by new_rows.portfolio_id;
    return null;
end
$$;

create or replace function ops.queue_positions_updated() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select new_rows.portfolio_id, min(least(old_rows.entry_date, new_rows.entry_date)), 'positions changed'
    from new_rows
    inner join old_rows on old_rows.position_id = new_rows.position_id
    where (old_rows.*) is distinct from (new_rows.*)
    group by new_rows.portfolio_id;
    -- A position moved to another portfolio changes the old one too.
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select old_rows.portfolio_id, min(old_rows.entry_date), 'positions moved out'
    from old_rows
    inner join new_rows on new_rows.position_id = old_rows.position_id
    where old_rows.portfolio_id <> new_rows.portfolio_id
    group by old_rows.portfolio_id;
    return null;
end
$$;

create or replace function ops.queue_positions_deleted() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select old_rows.portfolio_id, min(old_rows.entry_date), 'positions deleted'
    from old_rows
    group by old_rows.portfolio_id;
    return null;
end
$$;

create or replace trigger positions_queue_insert after insert on core.positions
referencing new table as new_rows
for each statement execute function ops.queue_positions_inserted();
create or replace trigger positions_queue_update after update on core.positions
referencing old table as old_rows new table as new_rows
for each statement execute function ops.queue_positions_updated();
create or replace trigger positions_queue_delete after delete on core.positions
referencing old table as old_rows
for each statement execute function ops.queue_positions_deleted();

create or replace function ops.queue_valuations_changed() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select changed.portfolio_id, min(changed.valuation_date), 'valuations changed'
    from (
        select portfolio_id, valuation_date from new_rows
        union all
        select portfolio_id, valuation_date from old_rows
    ) as changed
    group by changed.portfolio_id;
    return null;
end
$$;

create or replace function ops.queue_valuations_inserted() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select new_rows.portfolio_id, min(new_rows.valuation_date), 'valuations added'
    from new_rows
    group by new_rows.portfolio_id;
    return null;
end
$$;

create or replace function ops.queue_valuations_deleted() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select old_rows.portfolio_id, min(old_rows.valuation_date), 'valuations deleted'
    from old_rows
    group by old_rows.portfolio_id;
    return null;
end
$$;

create or replace trigger valuations_queue_insert after insert on core.valuations
referencing new table as new_rows
for each statement execute function ops.queue_valuations_inserted();
create or replace trigger valuations_queue_update after update on core.valuations
referencing old table as old_rows new table as new_rows
for each statement execute function ops.queue_valuations_changed();
create or replace trigger valuations_queue_delete after delete on core.valuations
referencing old table as old_rows
for each statement execute function ops.queue_valuations_deleted();

-- A portfolio's benchmark, visibility or cost method changed: recompute it whole (cheap, and rare).
create or replace function ops.queue_portfolios_changed() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select new_rows.portfolio_id, date '1900-01-01', 'portfolio settings changed'
    from new_rows
    inner join old_rows on old_rows.portfolio_id = new_rows.portfolio_id
    where (old_rows.benchmark_symbol, old_rows.is_public, old_rows.cost_method)
        is distinct from (new_rows.benchmark_symbol, new_rows.is_public, new_rows.cost_method);
    return null;
end
$$;

create or replace function ops.queue_portfolios_deleted() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select old_rows.portfolio_id, date '1900-01-01', 'portfolio deleted'
    from old_rows;
    return null;
end
$$;

create or replace trigger portfolios_queue_update after update on core.portfolios
referencing old table as old_rows new table as new_rows
for each statement execute function ops.queue_portfolios_changed();
create or replace trigger portfolios_queue_delete after delete on core.portfolios
referencing old table as old_rows
for each statement execute function ops.queue_portfolios_deleted();

-- Prices written for a session that an earlier refresh already covered (a correction, or a
-- late quote) queue the symbol from that date. New sessions need no queue entry: a refresh
-- always extends every series to the new as-of session.
create or replace function ops.queue_prices_changed() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_symbols (symbol, from_date, reason)
    select new_rows.symbol, min(new_rows.price_date), 'prices written for covered sessions'
    from new_rows
    where new_rows.price_date <= (select refresh_state.as_of_date from ops.refresh_state)
    group by new_rows.symbol;
    return null;
end
$$;

create or replace trigger prices_queue_insert after insert on market.prices
referencing new table as new_rows
for each statement execute function ops.queue_prices_changed();
create or replace trigger prices_queue_update after update on market.prices
referencing new table as new_rows
for each statement execute function ops.queue_prices_changed();
