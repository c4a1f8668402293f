-- The price loader (ingest/load.py streams rows into the session's staging table; everything
-- after that is here, set-based). Re-runnable: applied by every `folio db migrate`.
--
--   market.stage_prices()                  a fresh pg_temp.ingest_stage for this load
--   market.check_staged_prices(last_closed) problems in the staged rows (pg_temp.ingest_problems),
--                                          and the stage's unique index on (symbol, price_date)
--   market.staged_price_problems(limit)    the first problems, for the strict loader's message
--   market.quarantine_staged_prices(...)   refused rows to market.quarantine, out of the stage
--   market.publish_staged_prices(...)      new symbols, one write, move warnings, what it queued
--
-- and the prices → symbols rule (migration 0100), enforced per statement.

-- ---------------------------------------------------------------- prices → symbols

-- Every price's symbol is in market.symbols. The symbols are locked for key share (what the
-- foreign key did per row), so a concurrent delete or rename waits for this transaction.
create or replace function market.prices_symbols_exist() returns trigger
language plpgsql security definer set search_path = pg_catalog, market, pg_temp as $$
declare
    v_symbols text[];
    v_missing text;
begin
    select array_agg(written.symbol) into v_symbols
    from (select distinct new_rows.symbol from new_rows) as written;
    if v_symbols is null then
        return null;
    end if;
    perform from market.symbols as symbols where symbols.symbol = any(v_symbols)
    for key share;
    select wanted.symbol into v_missing
    from unnest(v_symbols) as wanted (symbol)
    where not exists (select from market.symbols as symbols where symbols.symbol = wanted.symbol)
    limit 1;
    if found then
        raise foreign_key_violation using
            message = format(
                'insert or update on table "prices" violates the rule prices.symbol → symbols: '
                'symbol %L is not in market.symbols', v_missing
            ),
            table = 'prices', schema = 'market', column = 'symbol';
    end if;
    return null;
end
$$;

create or replace trigger prices_symbols_exist_insert after insert on market.prices
referencing new table as new_rows
for each statement execute function market.prices_symbols_exist();
create or replace trigger prices_symbols_exist_update after update on market.prices
referencing new table as new_rows
for each statement execute function market.prices_symbols_exist();

-- A symbol that has prices is not deleted (the foreign key's "no action").
create or replace function market.symbols_keep_priced() returns trigger
language plpgsql security definer set search_path = pg_catalog, market, pg_temp as $$
declare
    v_symbol text;
begin
    select old_rows.symbol into v_symbol
    from old_rows
    where exists (select from market.prices as prices where prices.symbol = old_rows.symbol)
    limit 1;
    if found then
        raise foreign_key_violation using
            message = format(
                'delete on table "symbols" violates the rule prices.symbol → symbols: '
                'symbol %L still has prices', v_symbol
            ),
            table = 'symbols', schema = 'market', column = 'symbol';
    end if;
    return null;
end
$$;

create or replace trigger symbols_keep_priced after delete on market.symbols
referencing old table as old_rows
for each statement execute function market.symbols_keep_priced();

-- A renamed symbol takes its prices along (the foreign key's "on update cascade"). Per row:
-- renames are rare, and a statement-level trigger cannot pair old and new names.
create or replace function market.symbols_rename_prices() returns trigger
language plpgsql security definer set search_path = pg_catalog, market, pg_temp as $$
begin
    update market.prices set symbol = new.symbol where symbol = old.symbol;
    return null;
end
$$;

create or replace trigger symbols_rename_prices after update of symbol on market.symbols
for each row when (old.symbol is distinct from new.symbol)
execute function market.symbols_rename_prices();

-- ---------------------------------------------------------------- the loader

-- A fresh staging table for one load, in the session's temp schema. Rows are numbered by
-- their line in the source: given by the loader, or (a price file's plain chunks, COPY-ed as
-- they are read) counted from line 2, the first after the header.
create or replace function market.stage_prices() returns void
language plpgsql as $$
begin
    -- room for a large file in local buffers; only possible before the session's first
    -- temporary table, so a session that already had one keeps its setting
    begin
        perform set_config('temp_buffers', '256MB', false);
    exception when invalid_parameter_value then
        null;
    end;
    drop table if exists pg_temp.ingest_problems;
    drop table if exists pg_temp.ingest_stage;
    create temp table ingest_stage (
        line bigint generated by default as identity (start with 2 cache 1000),
        symbol text,
        price_date date,
        close numeric,
        adj_close numeric,
        volume numeric
    );
end
$$;

-- Checks every staged row and keeps one problem per refused row, the first that applies, in
-- pg_temp.ingest_problems (`problem_field` and `expected` name it for a person: "close:
-- expected a positive number, got -3"; `detail` says what is wrong with a symbol, in the
-- words of market.symbol_problem). Each rule is written once: its condition, then, only for a
-- row it refuses, the wording. The symbol rule runs once per distinct symbol; one row per
-- (symbol, date) is shown by a unique index (below), the keys are grouped only when it fails;
-- a valid row costs a few comparisons and two hash probes. Returns the number of refused rows.
-- Generic over what is staged: any loader that fills pg_temp.ingest_stage (stage_prices) can
-- call it, then quarantine_staged_prices or staged_price_problems, then publish_staged_prices.
create or replace function market.check_staged_prices(p_last_closed date) returns bigint
language plpgsql set work_mem = '256MB' as $$
declare
    v_problems bigint;
    v_has_duplicates boolean := false;
begin
    -- One row per (symbol, date), the common case, is shown by building a unique index: the
    -- keys sorted once (a file written in key order is already sorted), cheaper than hashing
    -- them, and the index then serves the publish. Only when it fails are the keys grouped.
    begin
        create unique index if not exists ingest_stage_key
            on pg_temp.ingest_stage (symbol, price_date);
    exception when unique_violation then
        v_has_duplicates := true;
    end;

    drop table if exists pg_temp.ingest_problems;
    create temp table ingest_problems (
        stage_row tid, line bigint, symbol text, price_date date, close numeric,
        adj_close numeric, volume numeric, problem_field text, expected text, detail text
    ) on commit drop;
    insert into pg_temp.ingest_problems
    with settings as (
        select
            calendars.calendar,
            p_last_closed as last_closed,
            -- sessions are kept from market.calendar_start() on (its first session named)
            market.calendar_start() as calendar_start,
            coalesce(
                (select min(days.session_date) from market.trading_days as days
                 where days.calendar = calendars.calendar),
                market.calendar_start()
            ) as first_session,
            -- the bounds of stored inputs (ops.input_bounds, migration 0050)
            bounds.price_min,
            bounds.price_max,
            bounds.price_expected,
            bounds.volume_max,
            bounds.volume_expected
        from (select value as calendar from ops.settings where key = 'calendar') as calendars
        cross join (
            select
                max(min_value) filter (where kind = 'price') as price_min,
                max(max_value) filter (where kind = 'price') as price_max,
                max(expected) filter (where kind = 'price') as price_expected,
                max(max_value) filter (where kind = 'volume') as volume_max,
                max(expected) filter (where kind = 'volume') as volume_expected
            from ops.input_bounds
        ) as bounds
    ),

    -- the symbol rule (market.symbol_problem, migration 0120), once per distinct symbol
    -- (materialized: not pushed down to every row); a missing symbol is the empty text
    staged_symbols as materialized (
        select distinct coalesce(stage.symbol, '') as symbol from pg_temp.ingest_stage as stage
    ),

    malformed as (
        select
            staged_symbols.symbol,
            market.symbol_problem(staged_symbols.symbol) as symbol_problem
        from staged_symbols
        where market.symbol_problem(staged_symbols.symbol) is not null
    ),

    judged as (
        select
            stage.ctid as stage_row,
            stage.*,
            -- {field, expected, detail}
            case
                when malformed.symbol is not null then array[
                    'symbol',
                    'a ticker such as SPY or ^GSPC (ASCII letters, digits and ^ . _ = / -, '
                    || 'at most 32 characters)',
                    malformed.symbol_problem
                ]
                when stage.price_date is null or stage.price_date > settings.last_closed
                    or stage.price_date < settings.calendar_start
                    or trading_days.session_date is null then array[
                    'date',
                    case
                        when stage.price_date is null then 'a date'
                        when stage.price_date > settings.last_closed
                            then 'a date on or before the last closed session '
                                || settings.last_closed
                        when stage.price_date < settings.calendar_start
                            then 'a date on or after ' || settings.calendar_start || ': the '
                                || settings.calendar || ' calendar starts at '
                                || settings.first_session || ' (sessions are kept from '
                                || settings.calendar_start || ' on)'
                        else 'a ' || settings.calendar || ' trading day'
                    end
                ]
                -- within the bounds is finite and positive too (numeric's NaN sorts above
                -- every number, ±Infinity beyond them)
                when stage.close is null
                    or stage.close not between settings.price_min and settings.price_max
                    then array[
                        'close',
                        case
                            when stage.close is null
                                or stage.close in ('NaN', 'Infinity', '-Infinity')
                                then 'a finite number'
                            when stage.close <= 0 then 'a positive number'
                            else settings.price_expected
                        end
                    ]
                when stage.adj_close not between settings.price_min and settings.price_max
                    then array[
                        'adj_close',
                        case
                            when stage.adj_close in ('NaN', 'Infinity', '-Infinity')
                                or stage.adj_close <= 0
                                then 'a finite positive number or nothing'
                            else settings.price_expected || ', or nothing'
                        end
                    ]
                when stage.volume not between 0 and settings.volume_max
                    or stage.volume <> trunc(stage.volume)
                    then array[
                        'volume',
                        case
                            when stage.volume > settings.volume_max
                                and stage.volume not in ('NaN', 'Infinity')
                                and stage.volume = trunc(stage.volume)
                                then settings.volume_expected || ', or nothing'
                            else 'a non-negative whole number or nothing'
                        end
                    ]
            end as problem
        from pg_temp.ingest_stage as stage
        cross join settings
        left join malformed on malformed.symbol = coalesce(stage.symbol, '')
        left join market.trading_days as trading_days
            on trading_days.calendar = settings.calendar
            and trading_days.session_date = stage.price_date
    )

    select
        judged.stage_row, judged.line, judged.symbol, judged.price_date, judged.close,
        judged.adj_close, judged.volume, judged.problem[1], judged.problem[2], judged.problem[3]
    from judged
    where judged.problem is not null;

    -- keys given more than once (only when the unique index could not be built): every copy
    -- without another problem is refused, naming another line that has the key
    if v_has_duplicates then
        insert into pg_temp.ingest_problems
        with duplicates as (
            select
                stage.symbol,
                stage.price_date,
                min(stage.line) as first_line,
                max(stage.line) as last_line
            from pg_temp.ingest_stage as stage
            group by stage.symbol, stage.price_date
            having count(*) > 1
        )

        select
            stage.ctid, stage.line, stage.symbol, stage.price_date, stage.close,
            stage.adj_close, stage.volume, 'symbol,date',
            'one row per symbol and date (also given on line '
            || case when stage.line = duplicates.first_line then duplicates.last_line
                else duplicates.first_line end
            || ')',
            null
        from pg_temp.ingest_stage as stage
        inner join duplicates
            on duplicates.symbol = stage.symbol and duplicates.price_date = stage.price_date
        where not exists (
            select from pg_temp.ingest_problems as problems where problems.stage_row = stage.ctid
        );
    end if;

    select count(*) into v_problems from pg_temp.ingest_problems;
    return v_problems;
end
$$;

-- The first refused rows, by line, with each refused value as shown to a person.
drop function if exists market.staged_price_problems(integer);
create function market.staged_price_problems(p_limit integer)
returns table (
    line bigint, problem_field text, expected text, symbol text, price_date date,
    close text, adj_close text, volume text, detail text
)
language plpgsql stable as $$
begin
    -- plpgsql: the temp table exists only during a load, so the body is not checked before
    return query
    select
        problems.line, problems.problem_field, problems.expected, problems.symbol,
        problems.price_date, core.number_shown(problems.close),
        core.number_shown(problems.adj_close), core.number_shown(problems.volume),
        problems.detail
    from pg_temp.ingest_problems as problems
    order by problems.line
    limit p_limit;
end
$$;

-- Refused rows go to market.quarantine with the reason and leave the stage.
create or replace function market.quarantine_staged_prices(p_run_id bigint, p_source text)
returns bigint
language plpgsql as $$
declare
    v_quarantined bigint;
begin
    insert into market.quarantine
        (run_id, symbol, price_date, close, adj_close, volume, source, reason)
    select
        p_run_id, problems.symbol, problems.price_date, problems.close::text,
        problems.adj_close::text, problems.volume::text, p_source,
        problems.problem_field || ': expected ' || problems.expected || ', got ' || coalesce(
            case problems.problem_field
                when 'symbol' then quote_nullable(problems.symbol)
                when 'date' then problems.price_date::text
                when 'close' then core.number_shown(problems.close)
                when 'adj_close' then core.number_shown(problems.adj_close)
                when 'volume' then core.number_shown(problems.volume)
                else problems.symbol || ' ' || problems.price_date
            end,
            'nothing'
        ) || coalesce(' (' || problems.detail || ')', '')
    from pg_temp.ingest_problems as problems;
    get diagnostics v_quarantined = row_count;
    delete from pg_temp.ingest_stage as stage
    where stage.ctid in (select problems.stage_row from pg_temp.ingest_problems as problems);
    return v_quarantined;
end
$$;

-- Writes the staged rows (all valid by now): their new symbols, then each row that is new or
-- changed, in one transaction with the loader's COPY. Before writing, against the stored rows,
-- a close that moved more than ops.settings max_daily_move since the previous session (staged
-- rows win over stored ones) is flagged in market.quarantine as a warning. The prices triggers
-- check the symbols and queue what changed (ops.queue_prices_changed: corrected closes,
-- backfilled history, covered sessions); the function returns that queue's new entries.
create or replace function market.publish_staged_prices(p_source text, p_run_id bigint)
returns table (
    valid bigint, inserted bigint, updated bigint, flagged bigint, dirty jsonb, symbols text[]
)
language plpgsql set work_mem = '256MB' as $$
declare
    v_valid bigint;
    v_inserted bigint := 0;
    v_updated bigint := 0;
    v_flagged bigint;
    v_dirty jsonb;
    v_symbols text[];
    v_has_stored boolean;
    v_since timestamptz := clock_timestamp();
    -- read once, not cast per row
    v_max_move numeric := (select value::numeric from ops.settings where key = 'max_daily_move');
begin
    select count(*) into v_valid from pg_temp.ingest_stage;
    select coalesce(array_agg(staged.symbol), '{}') into v_symbols
    from (select distinct stage.symbol from pg_temp.ingest_stage as stage) as staged;
    if v_valid = 0 then
        return query select 0::bigint, 0::bigint, 0::bigint, 0::bigint, '{}'::jsonb, '{}'::text[];
        return;
    end if;

    insert into market.symbols (symbol, kind)
    select
        new_symbols.symbol,
        (case when left(new_symbols.symbol, 1) = '^' then 'index' else 'unknown' end)::market.symbol_kind
    from unnest(v_symbols) as new_symbols (symbol)
    on conflict (symbol) do nothing;

    -- each staged symbol's last stored date (one index probe per symbol)
    drop table if exists pg_temp.ingest_stored;
    create temp table ingest_stored (symbol text primary key, last_date date) on commit drop;
    insert into pg_temp.ingest_stored
    select staged.symbol, stored.last_date
    from unnest(v_symbols) as staged (symbol)
    cross join lateral (
        select max(prices.price_date) as last_date
        from market.prices as prices
        where prices.symbol = staged.symbol
    ) as stored
    where stored.last_date is not null;
    v_has_stored := exists (select from pg_temp.ingest_stored);

    -- staged rows whose key is stored, and whether they change it (only symbols with rows)
    drop table if exists pg_temp.ingest_existing;
    create temp table ingest_existing (
        symbol text, price_date date, is_changed boolean
    ) on commit drop;
    if v_has_stored then
        insert into pg_temp.ingest_existing
        select
            stage.symbol,
            stage.price_date,
            (prices.close, prices.adj_close, prices.volume, prices.source)
                is distinct from (stage.close, stage.adj_close, stage.volume::bigint, p_source)
        from pg_temp.ingest_stage as stage
        inner join pg_temp.ingest_stored as stored on stored.symbol = stage.symbol
        inner join market.prices as prices
            on prices.symbol = stage.symbol and prices.price_date = stage.price_date;
    end if;

    -- each written row's previous close: staged rows win over stored ones
    with neighbours as (
        select stage.symbol, stage.price_date, stage.close, true as is_staged
        from pg_temp.ingest_stage as stage
        union all
        select prices.symbol, prices.price_date, prices.close, false
        from market.prices as prices
        inner join (
            select stage.symbol, min(stage.price_date) as first_date, max(stage.price_date) as last_date
            from pg_temp.ingest_stage as stage
            inner join pg_temp.ingest_stored as stored on stored.symbol = stage.symbol
            group by stage.symbol
        ) as span on span.symbol = prices.symbol
        where v_has_stored
            and prices.price_date between span.first_date - 31 and span.last_date
            and not exists (
                select from pg_temp.ingest_stage as stage
                where stage.symbol = prices.symbol and stage.price_date = prices.price_date
            )
    ),

    moves as (
        select
            neighbours.symbol,
            neighbours.price_date,
            neighbours.close,
            neighbours.is_staged,
            lag(neighbours.close) over by_date as previous_close,
            lag(neighbours.price_date) over by_date as previous_date
        from neighbours
        -- the order of the staged rows' unique index (market.check_staged_prices): no sort
        window by_date as (partition by neighbours.symbol order by neighbours.price_date)
    ),

    flags as (
        insert into market.quarantine (run_id, symbol, price_date, close, source, reason)
        select
            p_run_id, moves.symbol, moves.price_date, moves.close::text, p_source,
            'warning: close moved '
            || to_char(100 * (moves.close / moves.previous_close - 1), 'FMSG999990.0')
            || '% from ' || trim_scale(moves.previous_close) || ' on ' || moves.previous_date
            || ' (max_daily_move ' || v_max_move || '); loaded'
        from moves
        where moves.is_staged
            and moves.previous_close is not null
            -- |close / previous - 1| > max_move, without a division per row (closes are > 0)
            and abs(moves.close - moves.previous_close) > v_max_move * moves.previous_close
            -- only rows this load writes (new, or changing the stored row)
            and not exists (
                select from pg_temp.ingest_existing as existing
                where existing.symbol = moves.symbol and existing.price_date = moves.price_date
                    and not existing.is_changed
            )
        returning 1
    )

    select count(*) into v_flagged from flags;

    if v_has_stored then
        update market.prices as prices
        set close = stage.close,
            adj_close = stage.adj_close,
            volume = stage.volume::bigint,
            source = p_source,
            loaded_at = now()
        from pg_temp.ingest_stage as stage
        inner join pg_temp.ingest_existing as existing
            on existing.symbol = stage.symbol and existing.price_date = stage.price_date
        where existing.is_changed
            and prices.symbol = stage.symbol and prices.price_date = stage.price_date;
        get diagnostics v_updated = row_count;
    end if;

    insert into market.prices (symbol, price_date, close, adj_close, volume, source, loaded_at)
    select stage.symbol, stage.price_date, stage.close, stage.adj_close, stage.volume::bigint,
        p_source, now()
    from pg_temp.ingest_stage as stage
    where not exists (
        select from pg_temp.ingest_existing as existing
        where existing.symbol = stage.symbol and existing.price_date = stage.price_date
    );
    get diagnostics v_inserted = row_count;

    -- what the prices triggers queued (ops.queue_prices_changed, the queue's one writer:
    -- corrections, backfilled history, covered sessions), by symbol from its earliest date
    select coalesce(jsonb_object_agg(earliest.symbol, earliest.from_date), '{}')
    into v_dirty
    from (
        select queued.symbol, min(queued.from_date) as from_date
        from ops.dirty_symbols as queued
        where queued.queued_at >= v_since
        group by queued.symbol
    ) as earliest;

    return query select v_valid, v_inserted, v_updated, v_flagged, v_dirty, v_symbols;
end
$$;
