-- Currencies and FX rates (issue 16; tables in migration 0240). Re-runnable.
--
--   market.fx_pair(symbol)               'EURUSD=X' → (EUR, USD); null when not a pair
--   market.check_staged_fx(last_closed)  the price checks, then the pair rule, on the stage
--   market.publish_staged_fx(...)        the staged rates into market.fx_rates, one write
--   ops.currencies_needed(portfolio)     which currencies each portfolio's values are in
--   ops.fx_pairs_needed()                the USD pairs the ingester fetches (cross via USD)
--   market.set_symbol_currencies(jsonb)  trading currencies from metadata or an operator
--
-- FX rows go through the price loader's own staging table and checks
-- (sql/routines/40_price_load.sql: market.stage_prices, market.check_staged_prices,
-- market.staged_price_problems, market.quarantine_staged_prices): the pair's yfinance ticker
-- is staged as the symbol and the rate as the close. Only the publish differs.

-- ---------------------------------------------------------------- pairs

-- A pair ticker as yfinance spells it: 'EURUSD=X' is 1 EUR in USD; 'JPY=X' is 1 USD in JPY.
-- Both currencies must be whole currencies of market.currencies (no pair of pence).
create or replace function market.fx_pair(p_symbol text)
returns table (base_currency text, quote_currency text)
language sql stable parallel safe
as $$
    with parsed as (
        select
            case
                when p_symbol ~ '^[A-Z]{6}=X$' then left(p_symbol, 3)
                when p_symbol ~ '^[A-Z]{3}=X$' then 'USD'
            end as base_currency,
            case
                when p_symbol ~ '^[A-Z]{6}=X$' then substr(p_symbol, 4, 3)
                when p_symbol ~ '^[A-Z]{3}=X$' then left(p_symbol, 3)
            end as quote_currency
    )

    select parsed.base_currency, parsed.quote_currency
    from parsed
    inner join market.currencies as base
        on base.currency = parsed.base_currency and not base.is_subunit
    inner join market.currencies as quote
        on quote.currency = parsed.quote_currency and not quote.is_subunit
    where parsed.base_currency <> parsed.quote_currency
$$;

comment on function market.fx_pair(text) is
    'The currencies of a yfinance FX ticker (EURUSD=X: 1 EUR in USD; JPY=X: 1 USD in JPY), '
    'or no row when it is not a pair of two whole currencies of market.currencies.';

create or replace function market.fx_pair_symbol(p_base text, p_quote text) returns text
language sql immutable parallel safe
as $$ select p_base || p_quote || '=X' $$;

-- ---------------------------------------------------------------- the loader

-- The price checks (dates, sessions, a finite positive rate within the bounds, one row per
-- pair and date), then the pair rule for the rows they passed. Returns the refused rows.
create or replace function market.check_staged_fx(p_last_closed date) returns bigint
language plpgsql as $$
declare
    v_problems bigint;
begin
    perform market.check_staged_prices(p_last_closed);
    insert into pg_temp.ingest_problems
    select
        stage.ctid, stage.line, stage.symbol, stage.price_date, stage.close, stage.adj_close,
        stage.volume, 'symbol',
        'an FX pair of two currencies of market.currencies, such as EURUSD=X (1 EUR in USD)'
    from pg_temp.ingest_stage as stage
    where
        not exists (select from market.fx_pair(stage.symbol))
        and not exists (
            select from pg_temp.ingest_problems as problems where problems.stage_row = stage.ctid
        );
    select count(*) into v_problems from pg_temp.ingest_problems;
    return v_problems;
end
$$;

-- Writes the staged rates (all valid by now) into market.fx_rates: new rows inserted,
-- changed ones updated, equal ones left alone; the fx_rates triggers queue the portfolios
-- they concern. Returns the counts and the pairs written.
create or replace function market.publish_staged_fx(p_source text, p_run_id bigint)
returns table (valid bigint, inserted bigint, updated bigint, pairs text[])
language plpgsql as $$
declare
    v_valid bigint;
    v_inserted bigint;
    v_updated bigint;
    v_pairs text[];
begin
    drop table if exists pg_temp.fx_stage;
    create temp table fx_stage on commit drop as
    select pair.base_currency, pair.quote_currency, stage.price_date as rate_date, stage.close as rate
    from pg_temp.ingest_stage as stage
    cross join lateral market.fx_pair(stage.symbol) as pair;
    select count(*) into v_valid from pg_temp.fx_stage;
    select coalesce(array_agg(distinct market.fx_pair_symbol(staged.base_currency, staged.quote_currency)), '{}')
    into v_pairs
    from pg_temp.fx_stage as staged;

    update market.fx_rates as rates
    set rate = staged.rate, source = p_source, loaded_at = now()
    from pg_temp.fx_stage as staged
    where
        rates.base_currency = staged.base_currency
        and rates.quote_currency = staged.quote_currency
        and rates.rate_date = staged.rate_date
        and (rates.rate, rates.source) is distinct from (staged.rate, p_source);
    get diagnostics v_updated = row_count;

    insert into market.fx_rates (base_currency, quote_currency, rate_date, rate, source)
    select staged.base_currency, staged.quote_currency, staged.rate_date, staged.rate, p_source
    from pg_temp.fx_stage as staged
    on conflict (base_currency, quote_currency, rate_date) do nothing;
    get diagnostics v_inserted = row_count;

    return query select v_valid, v_inserted, v_updated, v_pairs;
end
$$;

-- ---------------------------------------------------------------- what is needed

-- The currencies each portfolio's values are in, as whole currencies (GBp counts as GBP),
-- with the earliest date each is needed: its held symbols' trading currencies, its
-- benchmark's currency, the currencies it keeps cash in (an activity in another currency
-- without fx_rate, from its date), and its base currency (needed_from null: the base itself
-- needs no rate). A currency other than the base needs a rate into it. The own currency of
-- an activity with fx_rate is not needed: its money converts at that rate
-- (int_activities_in_base) into the base's cash, not at the market's.
create or replace function ops.currencies_needed(p_portfolio_id bigint default null)
returns table (portfolio_id bigint, base_currency text, currency text, needed_from date)
language sql stable
as $$
    -- A currency needs a rate when its whole currency is not the base, so either it or the
    -- base is not USD. Only such rows are read, by key: the positions and activities of the
    -- symbols traded in another currency than USD, the activities in another currency, and
    -- every row of the portfolios based in another one. The book of USD holdings in USD
    -- portfolios is never scanned (every refresh reads this: a scan of 150k positions and 50k
    -- activities at 10k portfolios cost 0.4-1.5 s of each refresh, onboarding's included).
    with portfolios as (
        select portfolios.portfolio_id, portfolios.base_currency, portfolios.benchmark_symbol
        from core.portfolios as portfolios
        where p_portfolio_id is null or portfolios.portfolio_id = p_portfolio_id
    ),

    foreign_symbols as (
        select symbols.symbol, symbols.currency
        from market.symbols as symbols
        where symbols.currency <> 'USD'
    ),

    -- (read from the table, not the CTE above: its statistics say how few they are, so their
    -- rows are probed by key)
    foreign_based as (
        select portfolios.portfolio_id
        from core.portfolios as portfolios
        where
            portfolios.base_currency <> 'USD'
            and (p_portfolio_id is null or portfolios.portfolio_id = p_portfolio_id)
    ),

    held as (
        -- the holdings of symbols not traded in USD
        select positions.portfolio_id, symbols.currency, positions.entry_date as needed_from
        from foreign_symbols as symbols
        inner join core.positions as positions on symbols.symbol = positions.symbol
        where
            positions.deleted_at is null
            and positions.investment_class = 'PUBLIC'
            and (p_portfolio_id is null or positions.portfolio_id = p_portfolio_id)
        union all
        select activities.portfolio_id, symbols.currency, activities.activity_date
        from foreign_symbols as symbols
        inner join core.activities as activities on symbols.symbol = activities.symbol
        where p_portfolio_id is null or activities.portfolio_id = p_portfolio_id
        union all
        -- the USD ones of the portfolios based in another currency
        select positions.portfolio_id, 'USD', positions.entry_date
        from foreign_based
        inner join core.positions as positions on foreign_based.portfolio_id = positions.portfolio_id
        inner join market.symbols as symbols on positions.symbol = symbols.symbol
        where
            positions.deleted_at is null
            and positions.investment_class = 'PUBLIC'
            and symbols.currency = 'USD'
        union all
        select activities.portfolio_id, 'USD', activities.activity_date
        from foreign_based
        inner join core.activities as activities on foreign_based.portfolio_id = activities.portfolio_id
        inner join market.symbols as symbols on activities.symbol = symbols.symbol
        where symbols.currency = 'USD'
    ),

    -- the portfolios whose benchmark may be in another currency than their base
    benchmarked as (
        select portfolios.portfolio_id, symbols.currency
        from portfolios
        inner join market.symbols as symbols on portfolios.benchmark_symbol = symbols.symbol
        where symbols.currency <> 'USD' or portfolios.base_currency <> 'USD'
    ),

    needed as (
        select held.portfolio_id, held.currency, held.needed_from
        from held
        union all
        -- the benchmark is measured from the portfolio's first date: of a holding or of any
        -- activity (a ledger's first deposit)
        select
            benchmarked.portfolio_id,
            benchmarked.currency,
            least(first_holding.first_date, first_activity.first_date)
        from benchmarked
        cross join lateral (
            select min(positions.entry_date) as first_date
            from core.positions as positions
            inner join market.symbols as symbols on positions.symbol = symbols.symbol
            where
                positions.portfolio_id = benchmarked.portfolio_id
                and positions.deleted_at is null
                and positions.investment_class = 'PUBLIC'
        ) as first_holding
        cross join lateral (
            select min(activities.activity_date) as first_date
            from core.activities as activities
            where activities.portfolio_id = benchmarked.portfolio_id
        ) as first_activity
        union all
        -- cash kept in another currency (valued at the market's rate from the activity's
        -- date): an activity not in USD (core.activities_foreign_cash), or any of a portfolio
        -- based in another currency
        select activities.portfolio_id, activities.currency, activities.activity_date
        from core.activities as activities
        where
            activities.fx_rate is null
            and activities.currency <> 'USD'
            and (p_portfolio_id is null or activities.portfolio_id = p_portfolio_id)
        union all
        select activities.portfolio_id, activities.currency, activities.activity_date
        from foreign_based
        inner join core.activities as activities on foreign_based.portfolio_id = activities.portfolio_id
        where activities.fx_rate is null and activities.currency = 'USD'
    )

    select
        portfolios.portfolio_id,
        portfolios.base_currency,
        coalesce(currencies.unit_of, currencies.currency) as currency,
        min(needed.needed_from) as needed_from
    from portfolios
    inner join needed on portfolios.portfolio_id = needed.portfolio_id
    inner join market.currencies as currencies on needed.currency = currencies.currency
    where coalesce(currencies.unit_of, currencies.currency) <> portfolios.base_currency
    group by portfolios.portfolio_id, portfolios.base_currency, coalesce(currencies.unit_of, currencies.currency)
$$;

comment on function ops.currencies_needed(bigint) is
    'The whole currencies (GBp as GBP) each portfolio holds, trades, keeps cash in or is '
    'benchmarked in, other than its base currency, each with the earliest date a rate into the '
    'base is needed.';

-- The pairs the ingester fetches: every needed currency and every base currency other than
-- USD against USD (a cross rate goes through USD), from the earliest date either is needed.
create or replace function ops.fx_pairs_needed()
returns table (pair text, base_currency text, quote_currency text, needed_from date)
language sql stable
as $$
    with legs as (
        select needed.currency, needed.needed_from
        from ops.currencies_needed() as needed
        union all
        select needed.base_currency, needed.needed_from
        from ops.currencies_needed() as needed
    )

    select
        market.fx_pair_symbol(legs.currency, 'USD') as pair,
        legs.currency as base_currency,
        'USD' as quote_currency,
        min(legs.needed_from) as needed_from
    from legs
    where legs.currency <> 'USD'
    group by legs.currency
$$;

comment on function ops.fx_pairs_needed() is
    'The FX pairs the ingester fetches (XXXUSD=X for every currency a portfolio needs converted, '
    'its base included), each from the earliest date needed.';

-- ---------------------------------------------------------------- trading currencies

-- Sets symbols' trading currencies from {"SYMBOL": "CUR", ...} (yfinance's metadata, a price
-- file's currency column, an operator). Unknown symbols are added as 'unknown' kind. Refuses
-- the whole call, naming the first bad entry, when a currency is not in market.currencies.
-- Returns the symbols whose currency changed; their holders are queued from their first date.
create or replace function market.set_symbol_currencies(p_currencies jsonb)
returns table (symbol text, currency text, previous_currency text)
language plpgsql as $$
declare
    v_bad record;
begin
    select entries.key, entries.value into v_bad
    from jsonb_each_text(p_currencies) as entries
    where
        market.symbol_problem(entries.key) is not null
        or not exists (select from market.currencies as known where known.currency = entries.value)
    order by entries.key
    limit 1;
    if found then
        raise check_violation using
            message = case
                when market.symbol_problem(v_bad.key) is not null
                    then format('symbol %L: %s', v_bad.key, market.symbol_problem(v_bad.key))
                else format(
                    'symbol %s, field currency: expected a currency of market.currencies '
                    '(ISO 4217 such as USD, EUR, or GBp for pence), got %L', v_bad.key, v_bad.value)
            end;
    end if;

    insert into market.symbols (symbol, kind, currency)
    select entries.key, 'unknown', entries.value
    from jsonb_each_text(p_currencies) as entries
    on conflict on constraint symbols_pkey do nothing;

    -- the joined copy of the table is read as it was before the update: the previous currency
    return query
    update market.symbols as symbols
    set currency = entries.value
    from jsonb_each_text(p_currencies) as entries
    inner join market.symbols as previous on entries.key = previous.symbol
    where symbols.symbol = entries.key and symbols.currency <> entries.value
    returning symbols.symbol, symbols.currency, previous.currency;
end
$$;

-- ---------------------------------------------------------------- the queue

-- A written rate concerns every portfolio that needs its currency converted
-- (ops.currencies_needed: the currency needed, or the base it is converted into). Conversions
-- go through USD (int_fx_rates_filled_daily), so a rate against USD (EURUSD, USDJPY) is the
-- value of its other currency only: it concerns the portfolios needing that one, not every
-- portfolio based in USD or needing USD; a pair without USD (EURGBP, which converts between
-- its two when fresher) concerns both of its currencies.
-- Like the prices triggers: history backfilled (a rate before the pair's last stored one), a
-- rate corrected, or a rate for a session already covered queues each such portfolio from
-- the rate's date, or from when it first needs the currency if that is later.
create or replace function ops.queue_fx_changed() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    -- each written row: its pair and session, and whether it changed history
    v_bases text[];
    v_quotes text[];
    v_dates date[];
    v_changes boolean[];
begin
    if tg_op = 'INSERT' then
        with stored_before as (
            select rates.base_currency, rates.quote_currency, max(rates.rate_date) as last_date
            from market.fx_rates as rates
            inner join (select distinct new_rows.base_currency, new_rows.quote_currency from new_rows) as pairs
                on rates.base_currency = pairs.base_currency and rates.quote_currency = pairs.quote_currency
            where not exists (
                select from new_rows
                where new_rows.base_currency = rates.base_currency
                    and new_rows.quote_currency = rates.quote_currency
                    and new_rows.rate_date = rates.rate_date
            )
            group by rates.base_currency, rates.quote_currency
        )

        select
            array_agg(new_rows.base_currency), array_agg(new_rows.quote_currency),
            array_agg(new_rows.rate_date),
            array_agg(coalesce(new_rows.rate_date < stored_before.last_date, false))
        into v_bases, v_quotes, v_dates, v_changes
        from new_rows
        left join stored_before
            on stored_before.base_currency = new_rows.base_currency
            and stored_before.quote_currency = new_rows.quote_currency;
    else
        select
            array_agg(new_rows.base_currency), array_agg(new_rows.quote_currency),
            array_agg(new_rows.rate_date), array_agg(old_rows.rate is distinct from new_rows.rate)
        into v_bases, v_quotes, v_dates, v_changes
        from new_rows
        inner join old_rows
            on old_rows.base_currency = new_rows.base_currency
            and old_rows.quote_currency = new_rows.quote_currency
            and old_rows.rate_date = new_rows.rate_date;
    end if;
    if v_bases is null then
        return null;
    end if;

    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select
        needed.portfolio_id,
        min(greatest(written.rate_date, needed.needed_from)),
        case
            when not bool_or(written.is_change) then 'fx rates written for covered sessions'
            when tg_op = 'INSERT' then 'fx history backfilled'
            else 'fx rate corrected'
        end
    from unnest(v_bases, v_quotes, v_dates, v_changes)
        as written (base_currency, quote_currency, rate_date, is_change)
    -- the currencies whose value the rate gives: the side that is not USD
    cross join lateral (
        select written.base_currency as currency where written.base_currency <> 'USD'
        union all
        select written.quote_currency where written.quote_currency <> 'USD'
    ) as valued
    inner join ops.currencies_needed() as needed
        on valued.currency in (needed.currency, needed.base_currency)
    where written.is_change
        or written.rate_date <= (select refresh_state.as_of_date from ops.refresh_state)
    group by needed.portfolio_id;
    return null;
end
$$;

create or replace trigger fx_rates_queue_insert after insert on market.fx_rates
referencing new table as new_rows
for each statement execute function ops.queue_fx_changed();
create or replace trigger fx_rates_queue_update after update on market.fx_rates
referencing old table as old_rows new table as new_rows
for each statement execute function ops.queue_fx_changed();

-- A symbol's trading currency changed: its holders' values change from their first date.
create or replace function ops.queue_symbol_currency_changed() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select held.portfolio_id, min(held.from_date), 'symbol currency changed'
    from (
        select positions.portfolio_id, positions.entry_date as from_date
        from core.positions as positions
        inner join new_rows on positions.symbol = new_rows.symbol
        inner join old_rows on old_rows.symbol = new_rows.symbol
        where old_rows.currency is distinct from new_rows.currency and positions.deleted_at is null
        union all
        select activities.portfolio_id, activities.activity_date
        from core.activities as activities
        inner join new_rows on activities.symbol = new_rows.symbol
        inner join old_rows on old_rows.symbol = new_rows.symbol
        where old_rows.currency is distinct from new_rows.currency
    ) as held
    group by held.portfolio_id;
    return null;
end
$$;

create or replace trigger symbols_queue_currency_update after update on market.symbols
referencing old table as old_rows new table as new_rows
for each statement execute function ops.queue_symbol_currency_changed();
