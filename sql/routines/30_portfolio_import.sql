-- Portfolio import in the database: the function apps call, and its parsing helpers.
--
--   select core.import_portfolio('ann@example.com', 'Retirement', false,
--       '[{"symbol": "VUG", "quantity": "2,031", "entry_date": "2025-01-06", "entry_price": 492.16}]');
--
-- The whole array is validated first; every problem is reported (position or line, field,
-- what was expected; the first 50 listed and the rest counted, values shortened: see
-- 25_input_text.sql) in one error and nothing is written. Then user (by email, created if
-- missing), portfolio, symbols, option contracts and positions are written by set-based
-- statements in the caller's transaction. foliodb/portfolio_io.py reads CSV files, maps their
-- headers and writes through this function; foliodb/occ.py asks market.parse_occ.

-- A decimal number as people type it: optional sign, thousands separators in groups of three.
create or replace function core.parse_decimal(p_text text) returns numeric
language sql immutable
as $$
    select case
        when btrim(p_text) ~ '^[+-]?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]+)?$'
            or btrim(p_text) ~ '^[+-]?\.[0-9]+$'
            then replace(btrim(p_text), ',', '')::numeric
    end
$$;

-- A number as a message shows it (twin of foliodb.bounds.shown): plain up to 40 characters;
-- longer, in scientific notation when that is exact (a 401-digit quantity is 1e+400), else
-- its first 40 characters and its length.
create or replace function core.number_shown(p_value numeric) returns text
language sql immutable
as $$
    select case
        when p_value is null then 'nothing'
        when p_value in ('NaN', 'Infinity', '-Infinity') then p_value::text
        when length(trim_scale(p_value)::text) <= 40 then trim_scale(p_value)::text
        when btrim(to_char(p_value, '9.999999EEEE'))::numeric = p_value
            then regexp_replace(btrim(to_char(p_value, '9.999999EEEE')), '\.?0+e', 'e')
        else left(trim_scale(p_value)::text, 40)
            || '… (' || length(trim_scale(p_value)::text) || ' characters)'
    end
$$;

-- A number outside its bounds, as the imports word it ('1e+400 is too large: expected …'), or
-- null when it is inside them (or null). p_compared, when given, is what is compared (a short
-- option's quantity by its magnitude); p_value is what is shown. One expression, so that the
-- planner inlines it (an import checks a few numbers of every row); the wording, which needs
-- format (not immutable), is core.bounds_refusal.
create or replace function core.bounds_refusal(p_value numeric, p_is_large boolean, p_expected text)
returns text
language sql immutable
as $$
    select format(
        '%s is too %s: expected %s', core.number_shown(p_value),
        case when p_is_large then 'large' else 'small' end,
        p_expected
    )
$$;

create or replace function core.out_of_bounds(
    p_value numeric, p_min numeric, p_max numeric, p_expected text, p_compared numeric default null
) returns text
language sql immutable
as $$
    select case
        when coalesce(p_compared, p_value) not between p_min and p_max
            then core.bounds_refusal(p_value, coalesce(p_compared, p_value) > p_max, p_expected)
    end
$$;

-- The bounds of stored inputs (ops.input_bounds, migration 0050) as one row, and the first
-- session of the configured calendar: what the import checks against.
create or replace function core.import_limits()
returns table (
    price_min numeric,
    price_max numeric,
    price_expected text,
    quantity_min numeric,
    quantity_max numeric,
    quantity_expected text,
    calendar text,
    calendar_start date,
    first_session date
)
language sql stable
as $$
    select
        max(bounds.min_value) filter (where bounds.kind = 'price'),
        max(bounds.max_value) filter (where bounds.kind = 'price'),
        max(bounds.expected) filter (where bounds.kind = 'price'),
        max(bounds.min_value) filter (where bounds.kind = 'quantity'),
        max(bounds.max_value) filter (where bounds.kind = 'quantity'),
        max(bounds.expected) filter (where bounds.kind = 'quantity'),
        ops.setting('calendar'),
        market.calendar_start(),
        coalesce(
            (select min(days.session_date) from market.trading_days as days
             where days.calendar = ops.setting('calendar')),
            market.calendar_start()
        )
    from ops.input_bounds as bounds
$$;

-- An ISO date YYYY-MM-DD that exists on the calendar, else null (no exception, no subtransaction).
-- One expression, so that the planner inlines it: an import parses a date per row (a call of
-- a function with a query in it cost 20 us a row). The tests go left to right and stop at the
-- first false one, so no cast or make_date sees text that is not a date.
create or replace function core.parse_iso_date(p_text text) returns date
language sql immutable
as $$
    select case
        when
            btrim(p_text) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
            and substr(btrim(p_text), 1, 4)::int >= 1
            and substr(btrim(p_text), 6, 2)::int between 1 and 12
            and substr(btrim(p_text), 9, 2)::int between 1 and extract(day from
                make_date(substr(btrim(p_text), 1, 4)::int, substr(btrim(p_text), 6, 2)::int, 1)
                + interval '1 month' - interval '1 day')
            then make_date(
                substr(btrim(p_text), 1, 4)::int,
                substr(btrim(p_text), 6, 2)::int,
                substr(btrim(p_text), 9, 2)::int
            )
    end
$$;

-- OCC option symbols (the OSI symbology every US options exchange uses), defined once here:
-- ROOT + YYMMDD + C|P + strike in thousandths on 8 digits, e.g. AAPL240119C00150000. The root
-- is 1 to 6 letters or digits (the OSI standard: 6 alphanumeric characters, padded with
-- spaces, so the 21-character 'F     260116P00012500' is the same contract as the compact
-- 'F260116P00012500'; a digit may stand anywhere in the root, as in adjusted contracts).
-- market.occ_match: the compact form's parts (root, YY, MM, DD, C|P, strike), or null.
create or replace function market.occ_match(p_symbol text) returns text[]
language sql immutable parallel safe
as $$
    select regexp_match(
        regexp_replace(upper(coalesce(btrim(p_symbol), '')), '\s+', '', 'g'),
        '^([A-Z0-9]{1,6})([0-9]{2})([0-9]{2})([0-9]{2})([CP])([0-9]{8})$'
    )
$$;

-- What is wrong with an OCC option symbol, or null.
create or replace function market.occ_error(p_symbol text) returns text
language plpgsql immutable
as $$
declare
    hint constant text :=
        'ROOT(1-6) + YYMMDD + C/P + 8-digit strike in thousandths, e.g. AAPL240119C00150000';
    s text := regexp_replace(upper(coalesce(btrim(p_symbol), '')), '\s+', '', 'g');
    m text[];
    last_letter integer;
    cp text;
    strike text;
    head text;
    expiry text;
    root text;
begin
    if s = '' then
        return 'the option symbol is empty; expected ' || hint;
    end if;
    m := market.occ_match(s);
    if m is null then
        -- Split at the last non-digit: the C/P letter, the strike after it, root + expiry before.
        last_letter := length(s) - length(substring(s from '[0-9]*$'));
        if last_letter = 0 then
            return format('''%s'' has no root and no C/P letter; expected %s', s, hint);
        end if;
        cp := substr(s, last_letter, 1);
        strike := substr(s, last_letter + 1);
        head := substr(s, 1, last_letter - 1);
        if strike = '' then
            return format('''%s'' ends without a strike; expected %s', s, hint);
        end if;
        if cp not in ('C', 'P') then
            if length(s) < 16 then
                return format('''%s'' is too short for an OCC symbol; expected %s', s, hint);
            end if;
            return format('option type must be C or P, found ''%s'' in ''%s''', cp, s);
        end if;
        if length(strike) <> 8 then
            return format(
                'strike must be 8 digits (dollars x 1000, e.g. 00150000 = 150.000), found ''%s'' (%s digits) in ''%s''',
                strike, length(strike), s
            );
        end if;
        expiry := right(head, 6);
        if length(head) < 6 or expiry !~ '^[0-9]{6}$' then
            return format('expiry must be 6 digits YYMMDD before the C/P, found ''%s'' in ''%s''', expiry, s);
        end if;
        root := left(head, length(head) - 6);
        if root = '' then
            return format('the underlying root is missing before the expiry in ''%s''', s);
        end if;
        if length(root) > 6 then
            return format(
                'the underlying root must be 1 to 6 characters, found ''%s'' (%s) in ''%s''',
                root, length(root), s
            );
        end if;
        return format(
            'the underlying root must be letters A-Z and digits 0-9, found ''%s'' in ''%s''',
            root, s
        );
    end if;
    if core.parse_iso_date(format('20%s-%s-%s', m[2], m[3], m[4])) is null then
        return format('expiry ''%s'' is not a calendar date (YYMMDD) in ''%s''', m[2] || m[3] || m[4], s);
    end if;
    if m[6]::bigint = 0 then
        return format('strike must be greater than 0, found ''%s'' in ''%s''', m[6], s);
    end if;
    return null;
end
$$;

-- The parts of a well-formed OCC symbol; raises (22023) with occ_error's message otherwise.
create or replace function market.parse_occ(
    p_symbol text,
    out symbol text,
    out underlying text,
    out expiry_date date,
    out option_type text,
    out strike numeric,
    out multiplier integer
)
language plpgsql immutable strict
as $$
declare
    problem text := market.occ_error(p_symbol);
    m text[];
begin
    if problem is not null then
        raise exception using errcode = '22023', message = problem;
    end if;
    m := market.occ_match(p_symbol);
    symbol := array_to_string(m, '');
    underlying := m[1];
    expiry_date := make_date(2000 + m[2]::int, m[3]::int, m[4]::int);
    option_type := case m[5] when 'C' then 'call' else 'put' end;
    strike := m[6]::numeric * 0.001;
    multiplier := 100;
end
$$;

-- The positions array as typed rows; a value that does not parse keeps its text and gets a
-- null typed column, so the validation can say what was found. The texts are shortened as
-- messages quote them (core.shortened), each typed column read from the whole text, and
-- upper() folds only ASCII: it turns 'ſ' (U+017F) into 'S' and 'ı' into 'I', so the folded
-- text of a symbol or class that is not ASCII would pass for SPY or PUBLIC; it stays as typed
-- (and is refused by the symbol pattern and the class list).
create or replace function core.import_rows(p_positions jsonb)
returns table (
    ord bigint,
    at text,
    is_object boolean,
    unknown_keys text[],
    symbol text,
    class_text text,
    investment_class core.investment_class,
    quantity_text text,
    quantity numeric,
    entry_date_text text,
    entry_date date,
    entry_price_text text,
    entry_price numeric,
    exit_date_text text,
    exit_date date,
    exit_price_text text,
    exit_price numeric,
    notes text
)
language sql stable
as $$
    with texts as (
        select
            ord,
            is_object,
            at,
            unknown_keys,
            nullif(btrim(obj ->> 'symbol'), '') as symbol_typed,
            nullif(btrim(obj ->> 'investment_class'), '') as class_typed,
            nullif(btrim(obj ->> 'quantity'), '') as quantity_text,
            nullif(btrim(obj ->> 'entry_date'), '') as entry_date_text,
            nullif(btrim(obj ->> 'entry_price'), '') as entry_price_text,
            nullif(btrim(obj ->> 'exit_date'), '') as exit_date_text,
            nullif(btrim(obj ->> 'exit_price'), '') as exit_price_text,
            nullif(btrim(obj ->> 'notes'), '') as notes
        from core.input_elements(
            p_positions, 'position', array[
                'symbol', 'quantity', 'entry_date', 'entry_price', 'investment_class', 'exit_date',
                'exit_price', 'notes'
            ]
        )
    ),

    folded as (
        select
            texts.*,
            case when symbol_typed ~ '[^\x01-\x7f]' then symbol_typed else upper(symbol_typed) end as symbol,
            case when class_typed ~ '[^\x01-\x7f]' then class_typed else upper(class_typed) end as class_text
        from texts
    ),

    typed as (
        select
            folded.*,
            case
                when class_text is null then 'PUBLIC'::core.investment_class
                when class_text in ('PUBLIC', 'OPTIONS', 'PRIVATE') then class_text::core.investment_class
            end as investment_class
        from folded
    )

    select
        ord,
        at,  -- shortened already (core.input_elements), as the unknown keys
        is_object,
        unknown_keys,
        core.shortened(case
            when investment_class = 'OPTIONS' then regexp_replace(symbol, '\s+', '', 'g')
            else symbol
        end) as symbol,
        core.shortened(class_text) as class_text,
        investment_class,
        core.shortened(quantity_text) as quantity_text,
        core.parse_decimal(quantity_text) as quantity,
        core.shortened(entry_date_text) as entry_date_text,
        core.parse_iso_date(entry_date_text) as entry_date,
        core.shortened(entry_price_text) as entry_price_text,
        core.parse_decimal(entry_price_text) as entry_price,
        core.shortened(exit_date_text) as exit_date_text,
        core.parse_iso_date(exit_date_text) as exit_date,
        core.shortened(exit_price_text) as exit_price_text,
        core.parse_decimal(exit_price_text) as exit_price,
        notes
    from typed
$$;

-- Every problem of a positions array, one line each ("line 4 (quantity): ..."); empty if none.
create or replace function core.import_problems(p_positions jsonb) returns text[]
language sql stable
as $$
    with rows as (
        select
            r.*,
            case when r.investment_class = 'OPTIONS' then market.occ_error(r.symbol) end as occ_problem,
            case when r.investment_class = 'OPTIONS' and market.occ_error(r.symbol) is null
                then (market.parse_occ(r.symbol)).expiry_date
            end as expiry_date,
            existing.kind as existing_kind,
            limits.*,
            min(r.investment_class::text) over (partition by r.symbol)
                <> max(r.investment_class::text) over (partition by r.symbol) as has_mixed_classes
        from core.import_rows(p_positions) as r
        left join market.symbols as existing on existing.symbol = r.symbol
        cross join core.import_limits() as limits
    ),

    -- each row's problem with each field (null: none), as columns of one projection: the
    -- functions the checks call are set up once for the statement, not for every row as in a
    -- lateral VALUES list of the same expressions (as core.activity_problems)
    checked as materialized (
        select
            rows.ord,
            rows.at,
            case when not rows.is_object then
                'expected a JSON object with symbol, quantity, entry_date, entry_price'
            end as object_problem,
            coalesce(rows.unknown_keys[1], '-') as unknown_field,
            case when cardinality(rows.unknown_keys) > 0 then
                format('unknown field(s) %s; expected symbol, quantity, entry_date, entry_price, '
                    'investment_class, exit_date, exit_price, notes', array_to_string(rows.unknown_keys, ', '))
            end as unknown_problem,
            case
                when not rows.is_object then null
                when rows.symbol is null then 'required: a ticker, an OCC option symbol or a private asset id'
                when rows.occ_problem is not null then rows.occ_problem
                when market.symbol_problem(rows.symbol) is not null then format(
                    '%L is not a valid symbol: %s (expected ASCII letters, digits and . _ = ^ / -, '
                    'at most 32 characters)',
                    rows.symbol, market.symbol_problem(rows.symbol))
                when rows.investment_class = 'PUBLIC' and market.occ_error(rows.symbol) is null then
                    format('''%s'' is an OCC option symbol: set investment_class to OPTIONS', rows.symbol)
                when rows.has_mixed_classes then format(
                    '''%s'' appears with different investment classes in this portfolio: one symbol '
                    'has one investment class', rows.symbol)
                when rows.investment_class = 'PRIVATE' and rows.existing_kind <> 'private' then format(
                    '''%s'' is already a %s symbol; give the private asset its own id', rows.symbol, rows.existing_kind)
                when rows.investment_class = 'PUBLIC' and rows.existing_kind in ('private', 'option') then format(
                    '''%s'' is a %s symbol, not PUBLIC', rows.symbol, rows.existing_kind)
            end as symbol_problem,
            case
                when not rows.is_object then null
                when rows.quantity_text is null then 'required: a number such as 1,355 or 12.5'
                when rows.quantity is null then format('''%s'' is not a number (expected e.g. 1,355 or 12.5)', rows.quantity_text)
                when rows.quantity = 0 then 'must not be zero'
                when rows.quantity < 0 and rows.investment_class is distinct from 'OPTIONS' then
                    'must be positive (only OPTIONS positions can be short)'
                else core.out_of_bounds(
                    rows.quantity, rows.quantity_min, rows.quantity_max, rows.quantity_expected, abs(rows.quantity))
            end as quantity_problem,
            case
                when not rows.is_object then null
                when rows.entry_date_text is null then 'required: an ISO date YYYY-MM-DD'
                when rows.entry_date is null then format('''%s'' is not an ISO date (expected YYYY-MM-DD, e.g. 2025-01-06)', rows.entry_date_text)
                when rows.entry_date > ops.today() then format('%s is in the future (today is %s)', rows.entry_date, ops.today())
                when rows.entry_date > rows.expiry_date then format('%s is after the option''s expiry %s', rows.entry_date, rows.expiry_date)
                when rows.entry_date < rows.calendar_start then format(
                    '%s is before the first session of the %s calendar, %s: sessions are kept from %s on, '
                    'so nothing earlier can be valued (expected a date on or after %s)',
                    rows.entry_date, rows.calendar, rows.first_session, rows.calendar_start, rows.calendar_start)
            end as entry_date_problem,
            case
                when not rows.is_object then null
                when rows.entry_price_text is null then 'required: the price paid per unit, e.g. 91.44'
                when rows.entry_price is null then format('''%s'' is not a number (expected e.g. 91.44)', rows.entry_price_text)
                when rows.entry_price < 0 then 'must not be negative'
                when rows.entry_price = 0 then 'must be greater than 0'
                else core.out_of_bounds(rows.entry_price, rows.price_min, rows.price_max, rows.price_expected)
            end as entry_price_problem,
            case
                when rows.class_text is not null and rows.investment_class is null then
                    format('''%s'' is not an investment class (expected PUBLIC, OPTIONS or PRIVATE)', rows.class_text)
            end as class_problem,
            case
                when rows.exit_date_text is null then null
                when rows.exit_date is null then format('''%s'' is not an ISO date (expected YYYY-MM-DD)', rows.exit_date_text)
                when rows.exit_date > ops.today() then format('%s is in the future (today is %s)', rows.exit_date, ops.today())
                when rows.exit_date <= rows.entry_date then format('%s is not after entry_date %s', rows.exit_date, rows.entry_date)
            end as exit_date_problem,
            case
                when rows.exit_price_text is null then null
                when rows.exit_price is null then format('''%s'' is not a number (expected e.g. 101.5)', rows.exit_price_text)
                when rows.exit_price < 0 then 'must not be negative'
                when rows.exit_price = 0 then 'must be greater than 0'
                else coalesce(
                    core.out_of_bounds(rows.exit_price, rows.price_min, rows.price_max, rows.price_expected),
                    case when rows.exit_date_text is null then 'given without exit_date' end)
            end as exit_price_problem
        from rows
    ),

    problems as (
        select checked.ord, checks.n, checked.at, checks.field, checks.problem
        from checked
        cross join lateral (
            values
            (0, 'position', checked.object_problem),
            (0, checked.unknown_field, checked.unknown_problem),
            (1, 'symbol', checked.symbol_problem),
            (2, 'quantity', checked.quantity_problem),
            (3, 'entry_date', checked.entry_date_problem),
            (4, 'entry_price', checked.entry_price_problem),
            (5, 'investment_class', checked.class_problem),
            (6, 'exit_date', checked.exit_date_problem),
            (7, 'exit_price', checked.exit_price_problem)
        ) as checks (n, field, problem)
        where checks.problem is not null
    )

    select coalesce(array_agg(format('%s (%s): %s', at, field, problem) order by ord, n), '{}')
    from problems
$$;

-- Add validated positions to an existing portfolio (symbols and option contracts created as
-- needed); returns the new position ids in array order. Used by import_portfolio and `folio
-- portfolio add`.
create or replace function core.add_positions(p_portfolio_id bigint, p_positions jsonb)
returns bigint[]
language plpgsql
as $$
declare
    v_ids bigint[];
begin
    if not exists (select from core.portfolios where portfolio_id = p_portfolio_id) then
        raise exception using errcode = '22023',
            message = format('no portfolio with portfolio_id %s', p_portfolio_id);
    end if;
    perform core.refuse_empty_array('positions refused', p_positions, 'positions');
    perform core.refuse_problems('positions refused', core.import_problems(p_positions));

    -- New symbols: the kind says how they are valued (option, private) or that the ingester
    -- still has to find out (unknown). Option underlyings are needed for intrinsic values.
    insert into market.symbols (symbol, kind)
    select distinct on (new_symbols.symbol) new_symbols.symbol, new_symbols.kind
    from (
        select
            parsed.symbol,
            case parsed.investment_class
                when 'OPTIONS' then 'option'
                when 'PRIVATE' then 'private'
                else 'unknown'
            end::market.symbol_kind as kind
        from core.import_rows(p_positions) as parsed
        union all
        select (market.parse_occ(parsed.symbol)).underlying, 'unknown'::market.symbol_kind
        from core.import_rows(p_positions) as parsed
        where parsed.investment_class = 'OPTIONS'
    ) as new_symbols
    order by new_symbols.symbol, new_symbols.kind
    on conflict (symbol) do nothing;

    insert into market.option_contracts (symbol, underlying, expiry_date, option_type, strike, multiplier)
    select distinct contract.symbol, contract.underlying, contract.expiry_date, contract.option_type,
        contract.strike, contract.multiplier
    from core.import_rows(p_positions) as parsed
    cross join lateral market.parse_occ(parsed.symbol) as contract
    where parsed.investment_class = 'OPTIONS'
    on conflict (symbol) do nothing;

    with inserted as (
        insert into core.positions (
            portfolio_id, symbol, investment_class, quantity, entry_date, entry_price,
            exit_date, exit_price, notes
        )
        select
            p_portfolio_id, parsed.symbol, parsed.investment_class, parsed.quantity,
            parsed.entry_date, parsed.entry_price, parsed.exit_date, parsed.exit_price, parsed.notes
        from core.import_rows(p_positions) as parsed
        order by parsed.ord
        returning position_id
    )
    select array_agg(position_id order by position_id) into v_ids from inserted;
    return v_ids;
end
$$;

-- The portfolio an import writes into, named by its owner's email and its name. Both are
-- checked first (the messages begin with p_refused, e.g. 'portfolio import refused'), then the
-- portfolio is looked up; another user's portfolio is refused here, before anything of it is
-- read (sql/routines/85_trust.sql; the write triggers refuse every other write). Returns its
-- portfolio_id, or null when there is none; with p_create a missing user and portfolio are
-- created (is_public as given). The one preamble of core.import_portfolio and
-- core.import_activities: each calls it before validating its rows, and with p_create after.
create or replace function core.owner_portfolio(
    p_email text,
    p_name text,
    p_refused text,
    p_create boolean default false,
    p_is_public boolean default false
) returns bigint
language plpgsql
as $$
declare
    v_email text := btrim(p_email);
    v_name text := btrim(p_name);
    v_user_id bigint;
    v_portfolio_id bigint;
begin
    if v_email is null or v_email !~ '^[^@\s]+@[^@\s]+$' then
        raise exception using errcode = '22023',
            message = format('%s: %L is not an email address', p_refused, p_email);
    end if;
    if v_name is null or v_name = '' then
        raise exception using errcode = '22023',
            message = format('%s: the portfolio name must not be blank', p_refused);
    end if;

    select portfolios.portfolio_id, portfolios.user_id into v_portfolio_id, v_user_id
    from core.portfolios as portfolios
    inner join core.users as users on portfolios.user_id = users.user_id
    where lower(users.email) = lower(v_email) and portfolios.name = v_name;
    if v_portfolio_id is not null and not app.acts_for_everyone()
        and v_user_id is distinct from app.acting_user_id() then
        perform core.refuse_another_users_portfolio(v_portfolio_id);
    end if;

    if v_portfolio_id is null and p_create then
        insert into core.users (email) values (v_email) on conflict ((lower(email))) do nothing;
        select users.user_id into v_user_id from core.users as users where lower(users.email) = lower(v_email);
        insert into core.portfolios (user_id, name, is_public)
        values (v_user_id, v_name, coalesce(p_is_public, false))
        returning portfolio_id into v_portfolio_id;
    end if;
    return v_portfolio_id;
end
$$;

create or replace function core.import_portfolio(
    p_email text,
    p_name text,
    p_is_public boolean,
    p_positions jsonb
) returns bigint
language plpgsql
as $$
declare
    v_refused constant text := 'portfolio import refused';
    v_portfolio_id bigint;
begin
    v_portfolio_id := core.owner_portfolio(p_email, p_name, v_refused);
    perform core.refuse_empty_array(v_refused, p_positions, 'positions');
    -- Validate the positions before anything else, so bad rows are reported first.
    perform core.refuse_problems(v_refused, core.import_problems(p_positions));
    if v_portfolio_id is not null then
        raise exception using errcode = '23505',
            message = format(
                '%s: %s already has a portfolio named %L (portfolio_id %s); '
                'choose another name or delete that one first',
                v_refused, btrim(p_email), btrim(p_name), v_portfolio_id
            );
    end if;
    v_portfolio_id := core.owner_portfolio(p_email, p_name, v_refused, true, p_is_public);
    perform core.add_positions(v_portfolio_id, p_positions);
    return v_portfolio_id;
end
$$;

comment on function core.import_portfolio(text, text, boolean, jsonb) is
    'Create a portfolio with its positions from a JSON array (validated first; all or nothing). '
    'Returns the portfolio_id.';
