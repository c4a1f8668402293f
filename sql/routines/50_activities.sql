-- The transactions ledger in the database (issue 15): change capture of activities, and the
-- import function apps call (the SQL twin of `folio activities import`).
--
--   select * from core.import_activities('ann@example.com', 'Brokerage',
--       '[{"activity_date": "2025-01-06", "activity_type": "BUY", "symbol": "VTI",
--          "quantity": "10", "unit_price": "290.5", "line": 2}]');
--
-- Like core.import_portfolio: the whole array is validated first, every problem reported with
-- its line and field, and nothing is written unless all rows are good. Re-importing the same
-- rows adds nothing: a row is identified by (portfolio, source, external_id); a row without an
-- external_id gets a digest of its fields (and of how many identical rows precede it in the
-- array) as its id.

-- An exact product of numbers (split ratios): numeric multiplication, no ln/exp rounding.
create or replace aggregate ops.product(numeric) (
    sfunc = numeric_mul,
    stype = numeric,
    initcond = '1'
);

-- An activity written queues its portfolio from its date (and from the old date when moved):
-- the positions' and valuations' trigger function (20_refresh_queue.sql).
select ops.create_write_triggers(
    'core', array['activities'], 'queue', 'ops.queue_portfolio_rows_changed'
);

-- What each activity type carries: 'trade' (symbol, quantity, unit_price), 'split' (symbol,
-- quantity = ratio), 'income' (amount; may name a symbol), 'cash' (amount, no symbol).
-- TRANSFER_IN/OUT are trades when they name a symbol (securities at a stated value), else cash.
create or replace function core.activity_shape(p_type core.activity_type, p_has_symbol boolean)
returns text
language sql immutable parallel safe
as $$
    select case
        when p_type in ('BUY', 'SELL') then 'trade'
        when p_type in ('TRANSFER_IN', 'TRANSFER_OUT') and p_has_symbol then 'trade'
        when p_type = 'SPLIT' then 'split'
        when p_type in ('DIVIDEND', 'FEE', 'TAX') then 'income'
        else 'cash'
    end
$$;

-- The activities array parsed (core.activity_row, migration 0310): texts as typed (shortened
-- for messages) and typed values; a row that names no currency is in p_currency (the
-- portfolio's base currency).
create or replace function core.activity_rows(p_activities jsonb, p_currency text default 'USD')
returns setof core.activity_row
language sql stable
as $$
    -- materialized: each field read and parsed once per row (inlined, every expression that
    -- reads a parsed value parsed it again)
    with texts as materialized (
        select
            ord,
            is_object,
            at,
            unknown_keys,
            nullif(btrim(obj ->> 'activity_date'), '') as activity_date_text,
            nullif(btrim(obj ->> 'activity_type'), '') as type_text,
            nullif(btrim(obj ->> 'symbol'), '') as symbol_text,
            nullif(btrim(obj ->> 'quantity'), '') as quantity_text,
            nullif(btrim(obj ->> 'unit_price'), '') as unit_price_text,
            nullif(btrim(obj ->> 'amount'), '') as amount_text,
            nullif(btrim(obj ->> 'fee'), '') as fee_text,
            nullif(btrim(obj ->> 'currency'), '') as currency_text,
            nullif(btrim(obj ->> 'fx_rate'), '') as fx_rate_text,
            nullif(btrim(obj ->> 'notes'), '') as notes,
            nullif(btrim(obj ->> 'source'), '') as source_text,
            nullif(btrim(obj ->> 'external_id'), '') as external_id
        from core.input_elements(
            p_activities, 'activity', array[
                'activity_date', 'activity_type', 'symbol', 'quantity', 'unit_price', 'amount', 'fee',
                'currency', 'fx_rate', 'notes', 'source', 'external_id'
            ]
        )
    ),

    parsed as materialized (
    select
        ord,
        at,
        is_object,
        unknown_keys,
        core.shortened(activity_date_text) as activity_date_text,
        core.parse_iso_date(activity_date_text) as activity_date,
        -- upper() only on ASCII: it folds some other letters into ASCII ones
        core.shortened(case when type_text ~ '[^\x01-\x7f]' then type_text else upper(type_text) end) as type_text,
        case
            when upper(type_text) in (
                'BUY', 'SELL', 'DIVIDEND', 'INTEREST', 'FEE', 'TAX', 'DEPOSIT', 'WITHDRAWAL',
                'TRANSFER_IN', 'TRANSFER_OUT', 'SPLIT'
            ) and type_text !~ '[^\x01-\x7f]' then upper(type_text)::core.activity_type
        end as activity_type,
        case when symbol_text ~ '[^\x01-\x7f]' then symbol_text else upper(symbol_text) end as symbol,
        quantity_text,
        core.parse_decimal(quantity_text) as quantity,
        unit_price_text,
        core.parse_decimal(unit_price_text) as unit_price,
        amount_text,
        core.parse_decimal(amount_text) as amount,
        fee_text,
        coalesce(core.parse_decimal(fee_text), case when fee_text is null then 0 end) as fee,
        -- a subunit's code as quoted (GBp: pence) is kept as written; any other is upper-cased
        -- (usd: USD): upper() made GBp GBP, so a pence amount was read as pounds
        coalesce(
            case
                when currency_text ~ '^[A-Z]{2}[a-z]$' or currency_text ~ '[^\x01-\x7f]' then currency_text
                else upper(currency_text)
            end,
            coalesce(p_currency, 'USD')
        ) as currency,
        notes,
        coalesce(source_text, 'foliodb') as source,
        external_id,
        fx_rate_text,
        core.parse_decimal(fx_rate_text) as fx_rate
    from texts
    )

    select
        parsed.ord, parsed.at, parsed.is_object, parsed.unknown_keys, parsed.activity_date_text,
        parsed.activity_date, parsed.type_text, parsed.activity_type, parsed.symbol, parsed.quantity_text,
        parsed.quantity, parsed.unit_price_text, parsed.unit_price, parsed.amount_text, parsed.amount,
        parsed.fee_text, parsed.fee, parsed.currency, parsed.notes, parsed.source,
        -- a row without an id is named by its fields and by how many identical rows come
        -- before it in the array (two equal buys on one day are two activities)
        coalesce(
            parsed.external_id,
            'row:' || md5(concat_ws(
                '|', parsed.activity_date, parsed.activity_type, parsed.symbol,
                trim_scale(parsed.quantity), trim_scale(parsed.unit_price), trim_scale(parsed.amount),
                trim_scale(parsed.fee), parsed.currency, parsed.notes,
                -- last, and skipped when null (concat_ws): a row without it keeps its digest
                'fx_rate=' || trim_scale(parsed.fx_rate)
            )) || ':' || row_number() over (
                partition by parsed.source, parsed.external_id, parsed.activity_date, parsed.activity_type,
                parsed.symbol, trim_scale(parsed.quantity), trim_scale(parsed.unit_price),
                trim_scale(parsed.amount), trim_scale(parsed.fee), parsed.currency, parsed.notes,
                trim_scale(parsed.fx_rate)
                order by parsed.ord
            )
        ),
        parsed.external_id is not null,
        core.shortened(parsed.fx_rate_text),
        parsed.fx_rate
    from parsed
$$;

-- Every problem of a parsed activities array (core.activity_rows) for a portfolio (null: a new
-- one, in base currency p_base_currency), one line each ("line 4 (quantity): ..."); empty if
-- none. Selling more than is held is a problem of the sell's line, checked against the
-- portfolio's stored activities and the new ones together.
create or replace function core.activity_problems(
    p_portfolio_id bigint, p_rows core.activity_row[], p_base_currency text default 'USD'
)
returns text[]
language sql stable
as $$
    with base as (
        select coalesce(
            (select portfolios.base_currency from core.portfolios as portfolios
             where portfolios.portfolio_id = p_portfolio_id),
            p_base_currency
        ) as base_currency
    ),

    -- the bounds the checks compare with, the amount's and the fee's worded for messages, and
    -- today: once, not for every row
    bounds as materialized (
        select
            limits.*,
            value_bounds.min_value as value_min,
            value_bounds.max_value as value_max,
            format(
                'an amount between %s and %s',
                core.number_shown(value_bounds.min_value), core.number_shown(value_bounds.max_value)
            ) as amount_expected,
            format(
                '0 or between %s and %s',
                core.number_shown(value_bounds.min_value), core.number_shown(value_bounds.max_value)
            ) as fee_expected,
            ops.today() as today
        from core.import_limits() as limits
        cross join ops.input_bounds as value_bounds
        where value_bounds.kind = 'value'
    ),

    -- each symbol the rows name, once: is it an OCC option symbol (market.occ_error is null)?
    symbols_named as materialized (
        select named.symbol, market.occ_error(named.symbol) is null as is_occ
        from (select distinct unnested.symbol from unnest(p_rows) as unnested) as named
        where named.symbol is not null
    ),

    rows as (
        select
            r.*,
            core.activity_shape(r.activity_type, r.symbol is not null) as shape,
            existing.kind as existing_kind,
            symbols_named.is_occ,
            bounds.*,
            count(*) over (partition by r.source, r.external_id) as id_uses,
            base.base_currency,
            -- the whole currencies of the activity and of the security it names (GBp: GBP)
            coalesce(activity_currency.unit_of, activity_currency.currency) as whole_currency,
            existing.currency as symbol_currency,
            coalesce(symbol_currency.unit_of, symbol_currency.currency) as symbol_whole_currency
        from base
        cross join bounds
        cross join unnest(p_rows) as r
        left join symbols_named on symbols_named.symbol = r.symbol
        left join market.symbols as existing on existing.symbol = r.symbol
        left join market.currencies as activity_currency on activity_currency.currency = r.currency
        left join market.currencies as symbol_currency on symbol_currency.currency = existing.currency
    ),

    -- each row's problem with each field (null: none), as columns of one projection of the
    -- rows: the functions the checks call (core.out_of_bounds, market.occ_error, ...) are set
    -- up once for the statement, not for every row as in a lateral VALUES list of the same
    -- expressions (0.3 ms a row: 15 s for 50,000 activities)
    checked as materialized (
        select
            rows.ord,
            rows.at,
            case when not rows.is_object then
                'expected a JSON object with activity_date, activity_type and the fields of its type'
            end as object_problem,
            coalesce(rows.unknown_keys[1], '-') as unknown_field,
            case when cardinality(rows.unknown_keys) > 0 then
                format('unknown field(s) %s; expected activity_date, activity_type, symbol, quantity, '
                    'unit_price, amount, fee, currency, fx_rate, notes, source, external_id',
                    array_to_string(rows.unknown_keys, ', '))
            end as unknown_problem,
            case
                when not rows.is_object then null
                when rows.activity_date_text is null then 'required: an ISO date YYYY-MM-DD'
                when rows.activity_date is null then format(
                    '''%s'' is not an ISO date (expected YYYY-MM-DD, e.g. 2025-01-06)', rows.activity_date_text)
                when rows.activity_date > rows.today then format(
                    '%s is in the future (today is %s)', rows.activity_date, rows.today)
                when rows.activity_date < rows.calendar_start then format(
                    '%s is before the first session of the %s calendar, %s: sessions are kept from %s on, '
                    'so nothing earlier can be valued (expected a date on or after %s)',
                    rows.activity_date, rows.calendar, rows.first_session, rows.calendar_start, rows.calendar_start)
            end as date_problem,
            case
                when not rows.is_object then null
                when rows.type_text is null then 'required: BUY, SELL, DIVIDEND, INTEREST, FEE, TAX, DEPOSIT, '
                    'WITHDRAWAL, TRANSFER_IN, TRANSFER_OUT or SPLIT'
                when rows.activity_type is null then format(
                    '''%s'' is not an activity type (expected BUY, SELL, DIVIDEND, INTEREST, FEE, TAX, DEPOSIT, '
                    'WITHDRAWAL, TRANSFER_IN, TRANSFER_OUT or SPLIT)', rows.type_text)
            end as type_problem,
            case
                when rows.activity_type is null then null
                when rows.symbol is null and rows.shape in ('trade', 'split') then format(
                    'required for %s: the ticker', rows.activity_type)
                when rows.symbol is not null and rows.shape = 'cash' then format(
                    '%s is a cash event: give no symbol', rows.activity_type)
                when rows.symbol is null then null
                when rows.symbol !~ '^[A-Z0-9^][A-Z0-9._=^/-]{0,31}$' then format(
                    '''%s'' is not a valid symbol (letters, digits and . _ = ^ / -, at most 32 characters)',
                    core.shortened(rows.symbol))
                when rows.is_occ then format(
                    '''%s'' is an OCC option symbol: options are not yet held through activities', rows.symbol)
                when rows.existing_kind in ('private', 'option') then format(
                    '''%s'' is a %s symbol: the ledger holds public securities only for now',
                    rows.symbol, rows.existing_kind)
            end as symbol_problem,
            case
                when rows.activity_type is null then null
                when rows.shape in ('income', 'cash') and rows.quantity_text is not null then format(
                    '%s has an amount, not a quantity: leave quantity empty', rows.activity_type)
                when rows.shape in ('income', 'cash') then null
                when rows.quantity_text is null and rows.shape = 'split' then
                    'required for SPLIT: the ratio, new units per old unit (4 for a 4:1 split, 0.1 for 1:10)'
                when rows.quantity_text is null then format(
                    'required for %s: the units, e.g. 10 or 2.5', rows.activity_type)
                when rows.quantity is null then format(
                    '''%s'' is not a number (expected e.g. 1,355 or 12.5)', core.shortened(rows.quantity_text))
                when rows.quantity <= 0 then 'must be greater than 0'
                when rows.shape = 'split' and rows.quantity = 1 then 'a ratio of 1 is no split'
                else core.out_of_bounds(rows.quantity, rows.quantity_min, rows.quantity_max, rows.quantity_expected)
            end as quantity_problem,
            case
                when rows.activity_type is null then null
                when rows.shape <> 'trade' and rows.unit_price_text is not null then format(
                    '%s has no unit price: leave unit_price empty', rows.activity_type)
                when rows.shape <> 'trade' then null
                when rows.unit_price_text is null then format(
                    'required for %s: the price per unit, e.g. 91.44%s', rows.activity_type,
                    case when rows.activity_type in ('TRANSFER_IN', 'TRANSFER_OUT')
                        then ' (the stated value of the securities transferred)' else '' end)
                when rows.unit_price is null then format(
                    '''%s'' is not a number (expected e.g. 91.44)', core.shortened(rows.unit_price_text))
                when rows.unit_price <= 0 then 'must be greater than 0'
                else core.out_of_bounds(rows.unit_price, rows.price_min, rows.price_max, rows.price_expected)
            end as unit_price_problem,
            case
                when rows.activity_type is null then null
                when rows.shape in ('trade', 'split') and rows.amount_text is not null then format(
                    '%s has quantity and unit_price, not an amount: leave amount empty', rows.activity_type)
                when rows.shape in ('trade', 'split') then null
                when rows.amount_text is null then format(
                    'required for %s: the amount in %s, e.g. 120.50', rows.activity_type, rows.currency)
                when rows.amount is null then format(
                    '''%s'' is not a number (expected e.g. 120.50)', core.shortened(rows.amount_text))
                when rows.amount <= 0 then 'must be greater than 0'
                else core.out_of_bounds(rows.amount, rows.value_min, rows.value_max, rows.amount_expected)
            end as amount_problem,
            case
                when rows.fee_text is null then null
                when rows.fee is null then format(
                    '''%s'' is not a number (expected e.g. 1.25)', core.shortened(rows.fee_text))
                when rows.fee < 0 then 'must not be negative'
                -- 0 is no fee: within bounds
                else core.out_of_bounds(nullif(rows.fee, 0), rows.value_min, rows.value_max, rows.fee_expected)
            end as fee_problem,
            -- any currency of the reference (migration 0240); one other than the base is
            -- converted at the activity's fx_rate (int_activities_in_base); a security's trade,
            -- dividend, fee or tax is in the base or in the security's own currency
            case
                when not exists (select from market.currencies as known where known.currency = rows.currency)
                    then format(
                        '''%s'' is not a currency of market.currencies (ISO 4217, e.g. USD, EUR, GBP)',
                        core.shortened(rows.currency))
                when rows.activity_type is null or rows.symbol is null or rows.shape = 'split' then null
                when rows.whole_currency <> rows.base_currency
                    and rows.whole_currency <> rows.symbol_whole_currency then format(
                    '''%s'' is neither the portfolio''s base currency, %s, nor %s''s trading currency, %s: '
                    'a %s of a security is in one of those two', core.shortened(rows.currency),
                    rows.base_currency, rows.symbol, rows.symbol_currency, rows.activity_type)
            end as currency_problem,
            -- the rate the activity was settled at: base currency per unit of the security's
            -- (whole) trading currency for one in the base naming a security (migration 0250),
            -- or per unit of the activity's (whole) currency for one in another currency; an
            -- activity in another currency without it moves cash in its own currency
            -- (int_activities_in_base): a trade is then paid from that cash, which needs the
            -- security's trading currency known (it is that currency: checked above)
            case
                when rows.activity_type is null or rows.whole_currency is null then null
                when rows.fx_rate_text is null and rows.whole_currency <> rows.base_currency
                    and rows.shape = 'trade' and rows.symbol_whole_currency is null then format(
                    'required: the activity is in %s, the portfolio in %s and %s''s trading currency '
                    'is not known: the rate its money was converted at, %s per %s (e.g. 1.0842); or '
                    'set the trading currency (folio ingest currencies %s=%s) to pay the %s from %s cash',
                    rows.currency, rows.base_currency, rows.symbol, rows.base_currency, rows.whole_currency,
                    rows.symbol, rows.currency, rows.activity_type, rows.whole_currency)
                when rows.fx_rate_text is null then null
                when rows.currency <> rows.base_currency and rows.whole_currency = rows.base_currency
                    then format(
                    '%s is the base currency''s %s: leave fx_rate empty (its units are converted by '
                    'the reference, no rate)', rows.currency, rows.whole_currency)
                when rows.currency = rows.base_currency and (rows.symbol is null or rows.shape = 'split') then format(
                    '%s in the base currency moves no money in another currency: leave fx_rate empty (it '
                    'is the rate of an activity in another currency, or of a trade, dividend, fee or '
                    'tax of a security traded in one)', rows.activity_type)
                when rows.fx_rate is null then format(
                    '''%s'' is not a number (expected the rate settled at, %s per unit of %s, e.g. 0.9615)',
                    rows.fx_rate_text, rows.base_currency,
                    case when rows.currency <> rows.base_currency then rows.whole_currency
                        else 'the security''s currency' end)
                when rows.fx_rate <= 0 then 'must be greater than 0'
                else core.out_of_bounds(rows.fx_rate, rows.price_min, rows.price_max, rows.price_expected)
            end as fx_rate_problem,
            case
                when rows.has_external_id and rows.id_uses > 1 then format(
                    '''%s'' appears %s times for source %s in this file: an id names one activity',
                    core.shortened(rows.external_id), rows.id_uses, core.shortened(rows.source))
            end as external_id_problem
        from rows
    ),

    field_problems as (
        select checked.ord, checks.n, checked.at, checks.field, checks.problem
        from checked
        cross join lateral (
            values
            (0, 'activity', checked.object_problem),
            (0, checked.unknown_field, checked.unknown_problem),
            (1, 'activity_date', checked.date_problem),
            (2, 'activity_type', checked.type_problem),
            (3, 'symbol', checked.symbol_problem),
            (4, 'quantity', checked.quantity_problem),
            (5, 'unit_price', checked.unit_price_problem),
            (6, 'amount', checked.amount_problem),
            (7, 'fee', checked.fee_problem),
            (8, 'currency', checked.currency_problem),
            (9, 'fx_rate', checked.fx_rate_problem),
            (10, 'external_id', checked.external_id_problem)
        ) as checks (n, field, problem)
        where checks.problem is not null
    ),

    -- the ledger after the import: stored rows and the new ones not already stored
    new_rows as (
        select rows.*
        from rows
        where
            not exists (select from field_problems)
            and not exists (
                select from core.activities as stored
                where
                    stored.portfolio_id = p_portfolio_id
                    and stored.source = rows.source
                    and stored.external_id = rows.external_id
            )
    ),

    ledger as (
        select
            new_rows.at, new_rows.ord, null::bigint as activity_id, new_rows.activity_date,
            new_rows.activity_type, new_rows.symbol, new_rows.quantity
        from new_rows
        where new_rows.shape in ('trade', 'split')
        union all
        select
            null, null, stored.activity_id, stored.activity_date, stored.activity_type,
            stored.symbol, stored.quantity
        from core.activities as stored
        where
            stored.portfolio_id = p_portfolio_id
            and stored.symbol is not null
            and core.activity_shape(stored.activity_type, true) in ('trade', 'split')
            and exists (select from field_problems having count(*) = 0)
    ),

    -- the ledger's splits and the market's (market.splits) of its symbols; a SPLIT activity
    -- dated on the market split's ex-date is that split. Materialized: a few rows, found once
    -- (inlined into the lateral product below, it re-read the whole ledger for every trade:
    -- quadratic, 6 s at 10,000 activities)
    all_splits as materialized (
        select ledger.symbol, ledger.activity_date, ledger.quantity as ratio
        from ledger
        where ledger.activity_type = 'SPLIT'
        union all
        select market_splits.symbol, market_splits.ex_date, market_splits.ratio
        from market.splits as market_splits
        where
            market_splits.symbol in (select ledger.symbol from ledger)
            and not exists (
                select from ledger
                where
                    ledger.activity_type = 'SPLIT'
                    and ledger.symbol = market_splits.symbol
                    and ledger.activity_date = market_splits.ex_date
            )
    ),

    -- units in the symbol's latest terms (times the ratios of the later splits: exact), so
    -- one running sum per symbol gives the units held after each trade
    trades as (
        select
            ledger.*,
            coalesce(later.factor, 1) as later_factor,
            case when ledger.activity_type in ('BUY', 'TRANSFER_IN') then 1 else -1 end
            * ledger.quantity * coalesce(later.factor, 1) as latest_units,
            case when ledger.activity_type in ('BUY', 'TRANSFER_IN') then 0 else 1 end as day_order
        from ledger
        left join lateral (
            select ops.product(splits.ratio) as factor
            from all_splits as splits
            where
                splits.symbol = ledger.symbol
                and splits.activity_date > ledger.activity_date
        ) as later on true
        where ledger.activity_type <> 'SPLIT'
    ),

    held as (
        select
            trades.*,
            sum(trades.latest_units) over (
                partition by trades.symbol
                order by trades.activity_date, trades.day_order, trades.activity_id nulls last, trades.ord
                rows between unbounded preceding and current row
            ) as latest_held_after
        from trades
    ),

    oversold as (
        select
            coalesce(held.ord, 0) as ord,
            10 as n,
            coalesce(held.at, 'stored activity ' || held.activity_id) as at,
            'quantity' as field,
            format(
                '%s of %s %s on %s is more than is held: %s %s held then',
                held.activity_type, core.number_shown(held.quantity), held.symbol, held.activity_date,
                core.number_shown(trim_scale((held.latest_held_after - held.latest_units) / held.later_factor)),
                held.symbol
            ) as problem
        from held
        where held.latest_units < 0 and held.latest_held_after < 0
    ),

    problems as (
        select * from field_problems
        union all
        select * from oversold
    )

    select coalesce(array_agg(format('%s (%s): %s', at, field, problem) order by ord, n), '{}')
    from problems
$$;

-- Import activities into a user's portfolio (user and portfolio created when missing).
-- Validated whole; all or nothing; rows already stored (same source and external_id) are
-- counted, not added again.
-- p_base_currency: the base currency of a portfolio the import creates (null: USD); for an
-- existing portfolio, null or its own (a different one is refused: core.set_portfolio
-- changes it).
create or replace function core.import_activities(
    p_email text,
    p_portfolio text,
    p_activities jsonb,
    p_base_currency text default null
) returns table (portfolio_id bigint, added integer, already_present integer)
language plpgsql
as $$
declare
    v_refused constant text := 'activities import refused';
    v_portfolio_id bigint;
    v_base text;
    v_rows core.activity_row[];
    v_added integer;
begin
    -- another user's portfolio is refused before its ledger is read (the oversell check would
    -- show its holdings)
    v_portfolio_id := core.owner_portfolio(p_email, p_portfolio, v_refused);
    select portfolios.base_currency into v_base from core.portfolios as portfolios
    where portfolios.portfolio_id = v_portfolio_id;
    if v_base is not null and btrim(p_base_currency) is distinct from v_base and p_base_currency is not null then
        raise exception using errcode = '22023',
            message = format(
                '%s: portfolio %L is in %s, not %s; its settings change with core.set_portfolio '
                '(folio portfolio set)', v_refused, p_portfolio, v_base, core.shortened(p_base_currency)
            );
    end if;
    if core.base_currency_problem(p_base_currency) is not null then
        raise exception using errcode = '22023',
            message = format('%s: %s', v_refused, core.base_currency_problem(p_base_currency));
    end if;
    perform core.refuse_empty_array(v_refused, p_activities, 'activities');
    -- a row that names no currency is in the portfolio's base
    v_base := coalesce(v_base, nullif(btrim(p_base_currency), ''), 'USD');
    -- parsed once: the checks and the insert read the same rows
    v_rows := array(select parsed from core.activity_rows(p_activities, v_base) as parsed);
    perform core.refuse_problems(v_refused, core.activity_problems(v_portfolio_id, v_rows, v_base));
    if v_portfolio_id is null then
        v_portfolio_id := core.owner_portfolio(p_email, p_portfolio, v_refused, true);
        if p_base_currency is not null then
            perform core.set_portfolio(v_portfolio_id, p_base_currency);
        end if;
    end if;

    insert into market.symbols (symbol)
    select distinct parsed.symbol
    from unnest(v_rows) as parsed
    where parsed.symbol is not null
    on conflict (symbol) do nothing;

    with inserted as (
        insert into core.activities (
            portfolio_id, activity_date, activity_type, symbol, quantity, unit_price, amount, fee,
            currency, fx_rate, notes, source, external_id
        )
        select
            v_portfolio_id, parsed.activity_date, parsed.activity_type, parsed.symbol, parsed.quantity,
            parsed.unit_price, parsed.amount, parsed.fee, parsed.currency, parsed.fx_rate, parsed.notes,
            parsed.source, parsed.external_id
        from unnest(v_rows) as parsed
        order by parsed.ord
        on conflict on constraint activities_external_id_unique do nothing
        returning 1
    )

    select count(*) into v_added from inserted;
    return query select v_portfolio_id, v_added, cardinality(v_rows) - v_added;
end
$$;

comment on function core.import_activities(text, text, jsonb, text) is
    'Import activities (a JSON array of canonical rows) into a user''s portfolio, created when '
    'missing: validated whole, all or nothing, idempotent by (source, external_id). Returns the '
    'portfolio_id and how many rows were added or already present. p_base_currency: the '
    'base currency of a portfolio it creates (default USD).';

-- A split or dividend written queues, from its ex-date, every portfolio whose ledger trades
-- the symbol or that holds a position in it (entered before the ex-date, not exited before).
-- It runs as the owner: the ingest role that writes market data may neither read portfolios
-- nor queue them itself.
create or replace function ops.queue_corporate_actions_changed() returns trigger
language plpgsql security definer set search_path = pg_catalog, core, market, ops, pg_temp as $$
declare
    -- each changed action's symbol and ex-date: the new rows, the old ones, or both
    v_symbols text[] := '{}';
    v_ex_dates date[] := '{}';
begin
    if tg_op in ('INSERT', 'UPDATE') then
        select v_symbols || array_agg(new_rows.symbol), v_ex_dates || array_agg(new_rows.ex_date)
        into v_symbols, v_ex_dates
        from new_rows;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        select v_symbols || array_agg(old_rows.symbol), v_ex_dates || array_agg(old_rows.ex_date)
        into v_symbols, v_ex_dates
        from old_rows;
    end if;

    insert into ops.dirty_portfolios (portfolio_id, from_date, reason)
    select holders.portfolio_id, min(changed.ex_date), 'corporate actions changed'
    from unnest(v_symbols, v_ex_dates) as changed (symbol, ex_date)
    inner join (
        select activities.portfolio_id, activities.symbol, null::date as entry_date, null::date as exit_date
        from core.activities as activities
        union all
        select positions.portfolio_id, positions.symbol, positions.entry_date, positions.exit_date
        from core.positions as positions
    ) as holders
        on
            changed.symbol = holders.symbol
            and changed.ex_date > coalesce(holders.entry_date, '-infinity')
            and changed.ex_date <= coalesce(holders.exit_date, 'infinity')
    group by holders.portfolio_id;
    return null;
end
$$;

select ops.create_write_triggers(
    'market', array['splits', 'dividends'], 'queue', 'ops.queue_corporate_actions_changed'
);
