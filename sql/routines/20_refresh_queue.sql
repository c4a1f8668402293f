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

-- A portfolio's benchmark, visibility, cost method or base currency changed: recompute it whole
-- (cheap, and rare).
create or replace function ops.queue_portfolios_changed() returns trigger
language plpgsql as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select new_rows.portfolio_id, date '1900-01-01', 'portfolio settings changed'
    from new_rows
    inner join old_rows on old_rows.portfolio_id = new_rows.portfolio_id
    where (old_rows.benchmark_symbol, old_rows.is_public, old_rows.cost_method, old_rows.base_currency)
        is distinct from
        (new_rows.benchmark_symbol, new_rows.is_public, new_rows.cost_method, new_rows.base_currency);
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
begin
    -- Set-based per symbol, never per row: a statement of a million rows costs one pass over
    -- the transition table, one group by symbol and, per symbol, one index range count.
    if tg_op = 'INSERT' then
        -- An inserted row is history (backfilled) when the symbol had a stored row after it
        -- before this statement; the earliest such row is then the symbol's first written one,
        -- so it is enough to know whether a row not written here lies after that first one:
        -- more stored rows after it than this statement wrote there (its keys are distinct).
        insert into ops.dirty_symbols (symbol, from_date, reason)
        with written as (
            select new_rows.symbol, min(new_rows.price_date) as first_date, count(*) as rows_written
            from new_rows
            group by new_rows.symbol
        ),

        judged as (
            select
                written.symbol,
                written.first_date,
                stored_after.row_count > written.rows_written - 1 as is_backfill
            from written
            cross join lateral (
                select count(*) as row_count
                from market.prices as prices
                where prices.symbol = written.symbol and prices.price_date > written.first_date
            ) as stored_after
        )

        select
            judged.symbol,
            judged.first_date,
            case when judged.is_backfill then 'history backfilled'
                else 'prices written for covered sessions' end
        from judged
        where judged.is_backfill
            or judged.first_date <= (select refresh_state.as_of_date from ops.refresh_state);
    else
        -- An updated row is a correction when its close or adj_close changed.
        insert into ops.dirty_symbols (symbol, from_date, reason)
        select
            changes.symbol,
            min(changes.price_date),
            case when bool_or(changes.is_change) then 'price corrected'
                else 'prices written for covered sessions' end
        from (
            select
                new_rows.symbol,
                new_rows.price_date,
                (old_rows.close, old_rows.adj_close)
                    is distinct from (new_rows.close, new_rows.adj_close) as is_change
            from new_rows
            inner join old_rows
                on old_rows.symbol = new_rows.symbol and old_rows.price_date = new_rows.price_date
        ) as changes
        where changes.is_change
            or changes.price_date <= (select refresh_state.as_of_date from ops.refresh_state)
        group by changes.symbol;
    end if;
    return null;
end
$$;

create or replace trigger prices_queue_insert after insert on market.prices
referencing new table as new_rows
for each statement execute function ops.queue_prices_changed();
create or replace trigger prices_queue_update after update on market.prices
referencing old table as old_rows new table as new_rows
for each statement execute function ops.queue_prices_changed();
