-- Change capture: writes to positions, valuations, portfolios and prices queue what they
-- affect, from which date. Statement-level triggers with transition tables: a bulk import
-- of 10k positions queues one row per portfolio, not one per position.

-- Rows written to a portfolio's positions, valuations or activities queue that portfolio from
-- the earliest date they touch (a position's entry_date, a valuation's or an activity's date):
-- added rows from theirs, deleted rows from theirs, an update from the old and the new dates of
-- the rows it really changed (an unchanged row queues nothing; a row moved to another portfolio
-- queues both). One definition for the three tables; ops.create_write_triggers
-- (05_triggers.sql) gives each table its three statement-level triggers.
create or replace function ops.queue_portfolio_rows_changed() returns trigger
language plpgsql as $$
declare
    v_date text := case tg_table_name
        when 'positions' then 'entry_date'
        when 'valuations' then 'valuation_date'
        when 'activities' then 'activity_date'
    end;
begin
    -- dynamic only in its column name: the statement is planned once per write statement
    execute format(
        'insert into ops.dirty_portfolios (portfolio_id, from_date, reason)'
        ' select changed.portfolio_id, min(changed.%I), %L from (%s) as changed'
        ' group by changed.portfolio_id',
        v_date,
        tg_table_name || case tg_op when 'INSERT' then ' added' when 'DELETE' then ' deleted' else ' changed' end,
        case tg_op
            when 'INSERT' then 'select * from new_rows'
            when 'DELETE' then 'select * from old_rows'
            else '(select * from new_rows except all select * from old_rows)'
                || ' union all (select * from old_rows except all select * from new_rows)'
        end
    );
    return null;
end
$$;

select ops.create_write_triggers(
    'core', array['positions', 'valuations'], 'queue', 'ops.queue_portfolio_rows_changed'
);

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
