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
-- and the prices → symbols rule (migration 0100) and the no-future-date rule (migration 0270),
-- enforced per statement.

-- ---------------------------------------------------------------- prices → symbols

-- Every price's symbol is in market.symbols. The symbols are locked for key share (what the
-- foreign key did per row), so a concurrent delete or rename waits for this transaction.
create or replace function market.prices_symbols_exist() returns trigger
language plpgsql security definer set search_path = pg_catalog, market, pg_temp as $$
declare
    v_symbols text[];
    v_missing text;
    v_latest date;
begin
    select array_agg(written.symbol), max(written.latest) into v_symbols, v_latest
    from (
        select new_rows.symbol, max(new_rows.price_date) as latest
        from new_rows
        group by new_rows.symbol
    ) as written;
    if v_symbols is null then
        return null;
    end if;
    -- no price after "today" (ops.today(): the one clock), once per statement (migration 0270)
    if v_latest > ops.today() then
        raise check_violation using
            message = format(
                'new row for relation "prices" violates check constraint "price_not_in_future": '
                'price_date %s is after today (%s)', v_latest, ops.today()
            ),
            table = 'prices', schema = 'market', constraint = 'price_not_in_future';
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

-- A fresh staging table for one load, in the session's temp schema. Rows carry their line in
-- the source, given by the loader; a price file's plain chunks (COPY-ed as they are read, the
-- stage's first rows) carry none: their lines are counted from line 2, the first after the
-- header, by market.number_staged_lines, only when a problem must be named.
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
    drop table if exists pg_temp.ingest_symbols;
    drop table if exists pg_temp.ingest_stage;
    create temp table ingest_stage (
        line bigint,
        symbol text,
        price_date date,
        close numeric,
        adj_close numeric,
        volume numeric
    );
end
$$;

-- The lines of the staged rows that came without one (market.stage_prices): a price file's
-- plain chunks, the first rows COPY-ed into the fresh stage, so its first rows in physical
-- order (nothing is deleted before the check), from line 2 on. Run on the error path only
-- (numbering costs a pass over the stage); the problems found so far follow their rows.
create or replace function market.number_staged_lines() returns void
language plpgsql as $$
begin
    if not exists (select from pg_temp.ingest_stage as stage where stage.line is null) then
        return;
    end if;
    with numbered as (
        select stage.ctid as old_row, 1 + row_number() over (order by stage.ctid) as line
        from pg_temp.ingest_stage as stage
        where stage.line is null
    ),

    renumbered as (
        update pg_temp.ingest_stage as stage
        set line = numbered.line
        from numbered
        where stage.ctid = numbered.old_row
        returning numbered.old_row, stage.ctid as new_row, stage.line
    )

    update pg_temp.ingest_problems as problems
    set stage_row = renumbered.new_row, line = renumbered.line
    from renumbered
    where problems.stage_row = renumbered.old_row;
end
$$;

-- The day-over-day move rule: a close that moved more than max_move (ops.settings
-- max_daily_move) from the previous one, |close / previous - 1| > max_move, written without a
-- division (closes are > 0). Flagged as a warning, loaded all the same.
create or replace function market.is_big_move(p_close numeric, p_previous numeric, p_max_move numeric)
returns boolean
language sql immutable parallel safe
as $$ select abs(p_close - p_previous) > p_max_move * p_previous $$;

-- Checks every staged row and keeps one problem per refused row, the first that applies, in
-- pg_temp.ingest_problems (`problem_field` and `expected` name it for a person: "close:
-- expected a positive number, got -3"; `detail` says what is wrong with a symbol, in the
-- words of market.symbol_problem). Each rule is written once: its condition, then, only for a
-- row it refuses, the wording. The symbol rule runs once per distinct symbol and the date
-- rules (a session, not after the last closed one) once per distinct date, both from one
-- grouped pass over the stage; a valid row then costs a few comparisons and two probes of
-- (usually empty) hash tables. One row per (symbol, date) is shown by one sorted pass (a
-- file written in key order is sorted already); only when it fails are the keys grouped to
-- name the lines. The staged symbols with their rows and dates stay in pg_temp.ingest_symbols
-- for the publish. Returns the number of refused rows.
-- Generic over what is staged: any loader that fills pg_temp.ingest_stage (stage_prices) can
-- call it, then quarantine_staged_prices or staged_price_problems, then publish_staged_prices.
create or replace function market.check_staged_prices(p_last_closed date) returns bigint
language plpgsql set work_mem = '256MB' as $$
declare
    v_problems bigint;
    v_has_duplicates boolean;
    v_calendar text := (select value from ops.settings where key = 'calendar');
    v_max_move numeric := (select value::numeric from ops.settings where key = 'max_daily_move');
    v_malformed text[];
    v_bad_dates date[];
    -- the bounds of stored inputs (ops.input_bounds, migration 0050)
    v_bounds record;
begin
    select
        max(bounds.min_value) filter (where bounds.kind = 'price') as price_min,
        max(bounds.max_value) filter (where bounds.kind = 'price') as price_max,
        max(bounds.expected) filter (where bounds.kind = 'price') as price_expected,
        max(bounds.max_value) filter (where bounds.kind = 'volume') as volume_max,
        max(bounds.expected) filter (where bounds.kind = 'volume') as volume_expected
    into v_bounds
    from ops.input_bounds as bounds;
    analyze pg_temp.ingest_stage;  -- a fresh table has no statistics: the plans below need them
    drop table if exists pg_temp.ingest_problems;
    create temp table ingest_problems (
        stage_row tid, line bigint, symbol text, price_date date, close numeric,
        adj_close numeric, volume numeric, problem_field text, expected text, detail text
    ) on commit drop;

    -- one grouped pass: each staged symbol (rows, first and last date) and each staged date
    drop table if exists pg_temp.ingest_keys;
    create temp table ingest_keys on commit drop as
    select
        grouping(stage.symbol) = 0 as is_symbol,
        stage.symbol,
        stage.price_date,
        count(*) as staged_rows,
        min(stage.price_date) as first_date,
        max(stage.price_date) as last_date
    from pg_temp.ingest_stage as stage
    group by grouping sets ((stage.symbol), (stage.price_date));

    drop table if exists pg_temp.ingest_symbols;
    create temp table ingest_symbols on commit drop as
    select keys.symbol, keys.staged_rows, keys.first_date, keys.last_date
    from pg_temp.ingest_keys as keys
    where keys.is_symbol;

    -- the dates no row may have: after the last closed session, before the calendar's
    -- start, not a session (a missing date is refused row by row)
    drop table if exists pg_temp.ingest_bad_dates;
    create temp table ingest_bad_dates on commit drop as
    select keys.price_date
    from pg_temp.ingest_keys as keys
    where not keys.is_symbol
        and keys.price_date is not null
        and (
            keys.price_date > p_last_closed
            or keys.price_date < market.calendar_start()
            or not exists (
                select from market.trading_days as days
                where days.calendar = v_calendar and days.session_date = keys.price_date
            )
        );

    -- One sorted pass (a file written in key order is sorted already) serves two rules: one
    -- row per (symbol, date), repeated keys being neighbours in key order, and the day-over-day
    -- move between staged neighbours (market.is_big_move). It keeps only the repeats and the
    -- big moves, which the publish reads instead of sorting again.
    drop table if exists pg_temp.ingest_moves;
    create temp table ingest_moves on commit drop as
    select
        ordered.symbol,
        ordered.price_date,
        ordered.close,
        ordered.previous_close,
        ordered.previous_date,
        ordered.previous_date = ordered.price_date as is_repeat
    from (
        select
            stage.symbol,
            stage.price_date,
            stage.close,
            lag(stage.close) over by_key as previous_close,
            lag(stage.price_date) over by_key as previous_date
        from pg_temp.ingest_stage as stage
        window by_key as (partition by stage.symbol order by stage.price_date)
    ) as ordered
    where ordered.previous_date = ordered.price_date
        or market.is_big_move(ordered.close, ordered.previous_close, v_max_move);
    v_has_duplicates := exists (select from pg_temp.ingest_moves as moves where moves.is_repeat);
    analyze pg_temp.ingest_symbols;

    -- the staged symbols the symbol rule refuses (market.symbol_problem, migration 0120), once
    -- per distinct symbol; a missing symbol is the empty text
    select coalesce(array_agg(refused.symbol), '{}') into v_malformed
    from (
        select coalesce(staged.symbol, '') as symbol from pg_temp.ingest_symbols as staged
    ) as refused
    where market.symbol_problem(refused.symbol) is not null;
    select coalesce(array_agg(bad_dates.price_date), '{}') into v_bad_dates
    from pg_temp.ingest_bad_dates as bad_dates;

    -- every row once: the rules' conditions are comparisons and two probes of (usually empty)
    -- arrays; the wording is built only for a refused row
    insert into pg_temp.ingest_problems
    with judged as (
        select
            stage.ctid as stage_row,
            stage.*,
            -- {field, expected, detail}
            case
                when coalesce(stage.symbol, '') = any(v_malformed) then array[
                    'symbol',
                    'a ticker such as SPY or ^GSPC (ASCII letters, digits and ^ . _ = / -, '
                    || 'at most 32 characters)',
                    market.symbol_problem(coalesce(stage.symbol, ''))
                ]
                when stage.price_date is null or stage.price_date = any(v_bad_dates) then array[
                    'date',
                    case
                        when stage.price_date is null then 'a date'
                        when stage.price_date > p_last_closed
                            then 'a date on or before the last closed session ' || p_last_closed
                        when stage.price_date < market.calendar_start()
                            then 'a date on or after ' || market.calendar_start()
                                || ': the ' || v_calendar || ' calendar starts at '
                                || coalesce(
                                    (select min(days.session_date) from market.trading_days as days
                                     where days.calendar = v_calendar),
                                    market.calendar_start()
                                )
                                || ' (sessions are kept from ' || market.calendar_start() || ' on)'
                        else 'a ' || v_calendar || ' trading day'
                    end
                ]
                -- within the bounds is finite and positive too (numeric's NaN sorts above
                -- every number, ±Infinity beyond them)
                when stage.close is null
                    or stage.close not between v_bounds.price_min and v_bounds.price_max
                    then array[
                        'close',
                        case
                            when stage.close is null
                                or stage.close in ('NaN', 'Infinity', '-Infinity')
                                then 'a finite number'
                            when stage.close <= 0 then 'a positive number'
                            else v_bounds.price_expected
                        end
                    ]
                when stage.adj_close not between v_bounds.price_min and v_bounds.price_max
                    then array[
                        'adj_close',
                        case
                            when stage.adj_close in ('NaN', 'Infinity', '-Infinity')
                                or stage.adj_close <= 0
                                then 'a finite positive number or nothing'
                            else v_bounds.price_expected || ', or nothing'
                        end
                    ]
                when stage.volume not between 0 and v_bounds.volume_max
                    or stage.volume <> trunc(stage.volume)
                    then array[
                        'volume',
                        case
                            when stage.volume > v_bounds.volume_max
                                and stage.volume not in ('NaN', 'Infinity')
                                and stage.volume = trunc(stage.volume)
                                then v_bounds.volume_expected || ', or nothing'
                            else 'a non-negative whole number or nothing'
                        end
                    ]
            end as problem
        from pg_temp.ingest_stage as stage
    )

    select
        judged.stage_row, judged.line, judged.symbol, judged.price_date, judged.close,
        judged.adj_close, judged.volume, judged.problem[1], judged.problem[2], judged.problem[3]
    from judged
    where judged.problem is not null;
    get diagnostics v_problems = row_count;
    if v_problems > 0 or v_has_duplicates then
        perform market.number_staged_lines();  -- the lines the messages name
    end if;

    -- keys given more than once (only when the sorted pass found one): every copy
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
    v_recount boolean;
    v_since timestamptz := clock_timestamp();
    -- read once, not cast per row
    v_max_move numeric := (select value::numeric from ops.settings where key = 'max_daily_move');
begin
    -- the staged symbols with their rows, as the check counted them (market.check_staged_prices);
    -- counted again only when rows left the stage since (quarantine_staged_prices) or no check ran
    v_recount := to_regclass('pg_temp.ingest_symbols') is null;
    if not v_recount then
        v_recount := exists (select from pg_temp.ingest_problems as problems);
    end if;
    if v_recount then
        drop table if exists pg_temp.ingest_symbols;
        create temp table ingest_symbols on commit drop as
        select stage.symbol, count(*) as staged_rows, min(stage.price_date) as first_date,
            max(stage.price_date) as last_date
        from pg_temp.ingest_stage as stage
        group by stage.symbol;
    end if;
    select coalesce(sum(staged.staged_rows), 0), coalesce(array_agg(staged.symbol), '{}')
    into v_valid, v_symbols
    from pg_temp.ingest_symbols as staged;
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

    -- Each written row's previous close. For a symbol with stored rows, the previous row may
    -- be a stored one (staged rows win over stored ones): its staged rows and the stored ones
    -- in their span are sorted together. For the others the check's sorted pass over the stage
    -- kept the big moves (pg_temp.ingest_moves); after a quarantine (rows left the stage) or
    -- without a check, every symbol is sorted here.
    with sorted_symbols as (
        select stored.symbol from pg_temp.ingest_stored as stored
        union all
        select staged.symbol from pg_temp.ingest_symbols as staged
        where v_recount
            and not exists (select from pg_temp.ingest_stored as stored where stored.symbol = staged.symbol)
    ),

    neighbours as (
        select stage.symbol, stage.price_date, stage.close, true as is_staged
        from pg_temp.ingest_stage as stage
        where (v_has_stored or v_recount)
            and stage.symbol in (select sorted_symbols.symbol from sorted_symbols)
        union all
        select prices.symbol, prices.price_date, prices.close, false
        from market.prices as prices
        inner join pg_temp.ingest_symbols as span on span.symbol = prices.symbol
        inner join pg_temp.ingest_stored as stored on stored.symbol = span.symbol
        where v_has_stored
            and prices.price_date between span.first_date - 31 and span.last_date
            and not exists (
                select from pg_temp.ingest_stage as stage
                where stage.symbol = prices.symbol and stage.price_date = prices.price_date
            )
    ),

    moves as (
        select
            sorted.symbol,
            sorted.price_date,
            sorted.close,
            sorted.previous_close,
            sorted.previous_date
        from (
            select
                neighbours.symbol,
                neighbours.price_date,
                neighbours.close,
                neighbours.is_staged,
                lag(neighbours.close) over by_date as previous_close,
                lag(neighbours.price_date) over by_date as previous_date
            from neighbours
            window by_date as (partition by neighbours.symbol order by neighbours.price_date)
        ) as sorted
        where sorted.is_staged
        union all
        select candidates.symbol, candidates.price_date, candidates.close,
            candidates.previous_close, candidates.previous_date
        from pg_temp.ingest_moves as candidates
        where not v_recount
            and not candidates.is_repeat
            and not exists (
                select from pg_temp.ingest_stored as stored where stored.symbol = candidates.symbol
            )
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
        where market.is_big_move(moves.close, moves.previous_close, v_max_move)
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

    if v_has_stored then
        insert into market.prices (symbol, price_date, close, adj_close, volume, source, loaded_at)
        select stage.symbol, stage.price_date, stage.close, stage.adj_close, stage.volume::bigint,
            p_source, now()
        from pg_temp.ingest_stage as stage
        where not exists (
            select from pg_temp.ingest_existing as existing
            where existing.symbol = stage.symbol and existing.price_date = stage.price_date
        );
    else
        -- no staged symbol has a stored row: every staged row is new
        insert into market.prices (symbol, price_date, close, adj_close, volume, source, loaded_at)
        select stage.symbol, stage.price_date, stage.close, stage.adj_close, stage.volume::bigint,
            p_source, now()
        from pg_temp.ingest_stage as stage;
    end if;
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
