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

-- The one writer of ops.dirty_symbols for prices (the loader writes no queue entry itself):
-- prices that change what a refresh computed queue their symbol from the earliest such date.
-- A close or adj_close corrected for a stored session ('price corrected'); history written
-- before a symbol's latest stored session, a gap or older history ('history backfilled'); any
-- other price written for a session an earlier refresh covered, a late quote ('prices written
-- for covered sessions'). A new latest session needs no entry: every refresh extends every
-- series to its as-of session. One row per symbol and statement.
create or replace function ops.queue_prices_changed() returns trigger
language plpgsql as $$
declare
    -- each written row: its symbol and session, and whether it changed history (a
    -- backfill on insert, a correction on update)
    v_symbols text[];
    v_dates date[];
    v_changes boolean[];
begin
    if tg_op = 'INSERT' then
        -- each written symbol's latest session stored before this statement (anti-join, hashed)
        with stored_before as (
            select prices.symbol, max(prices.price_date) as last_date
            from market.prices as prices
            left join new_rows as written
                on written.symbol = prices.symbol and written.price_date = prices.price_date
            where prices.symbol in (select distinct new_rows.symbol from new_rows)
                and written.symbol is null
            group by prices.symbol
        )

        select
            array_agg(new_rows.symbol),
            array_agg(new_rows.price_date),
            array_agg(coalesce(new_rows.price_date < stored_before.last_date, false))
        into v_symbols, v_dates, v_changes
        from new_rows
        left join stored_before on stored_before.symbol = new_rows.symbol;
    else
        select
            array_agg(new_rows.symbol),
            array_agg(new_rows.price_date),
            array_agg((old_rows.close, old_rows.adj_close) is distinct from (new_rows.close, new_rows.adj_close))
        into v_symbols, v_dates, v_changes
        from new_rows
        inner join old_rows
            on old_rows.symbol = new_rows.symbol and old_rows.price_date = new_rows.price_date;
    end if;

    insert into ops.dirty_symbols (symbol, from_date, reason)
    select
        written.symbol,
        min(written.price_date),
        case
            when not bool_or(written.is_change) then 'prices written for covered sessions'
            when tg_op = 'INSERT' then 'history backfilled'
            else 'price corrected'
        end
    from unnest(v_symbols, v_dates, v_changes) as written (symbol, price_date, is_change)
    where written.is_change
        or written.price_date <= (select refresh_state.as_of_date from ops.refresh_state)
    group by written.symbol;
    return null;
end
$$;

create or replace trigger prices_queue_insert after insert on market.prices
referencing new table as new_rows
for each statement execute function ops.queue_prices_changed();
create or replace trigger prices_queue_update after update on market.prices
referencing old table as old_rows new table as new_rows
for each statement execute function ops.queue_prices_changed();
