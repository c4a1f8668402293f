-- Bounds on every stored input (issue 12): a number that fits `numeric` but not the float8
-- the analytics compute in (a 401-digit quantity, a close of 1e309 or 1e-400) used to pass
-- validation and then fail every refresh, the nightly one included. The limits are far beyond
-- any real portfolio and keep every product and sum of quantity × price × multiplier finite
-- and meaningful in float8 (docs/semantics.md, "Bounds").
--
-- ops.input_bounds is the one definition: the check constraints below are generated from it,
-- and the entry points (core.import_problems, the price loader) read it for their messages.
-- Changing a bound is a new migration that updates the row and regenerates the constraints.

create table ops.input_bounds (
    kind text primary key,
    min_value numeric not null constraint min_positive check (min_value > 0),
    max_value numeric not null,
    allows_zero boolean not null,
    expected text not null,
    why text not null,
    constraint max_above_min check (max_value > min_value)
);
comment on table ops.input_bounds is
    'The bounds of stored inputs; the check constraints named *_within_bounds are generated from these rows.';

insert into ops.input_bounds (kind, min_value, max_value, allows_zero, expected, why) values
    (
        'price', 0.000001, 1000000000000, false,
        'a price between 0.000001 and 1,000,000,000,000',
        'Unit prices (close, adj_close, entry and exit prices, option strikes): the dearest share '
        'trades below 10^6, penny stocks above 10^-4; a private asset entered as one unit fits too.'
    ),
    (
        'quantity', 0.00000001, 1000000000000, false,
        'a quantity between 0.00000001 and 1,000,000,000,000 (negative only for OPTIONS)',
        'Units held (the magnitude; short options are negative): no company has 10^12 shares '
        'outstanding to hold; 10^-8 is a satoshi-sized fraction.'
    ),
    (
        'value', 0.000001, 1000000000000000000, true,
        'a value of 0 or between 0.000001 and 1,000,000,000,000,000,000',
        'Manual valuations and option marks (a position''s total value): 0 for a write-off, '
        'else at most 10^18, thousands of times all the wealth on earth.'
    ),
    (
        'volume', 1, 1000000000000000, true,
        'a whole number between 0 and 1,000,000,000,000,000',
        'Shares traded in a session: the busiest sessions trade about 10^10 shares.'
    );

-- Sessions are kept from this date on (ingest/calendar.py fills the calendar from it, and
-- session_idx counts from it). A date before it has no session, so nothing dated earlier
-- could ever be valued: it is refused instead.
create function market.calendar_start() returns date
language sql immutable parallel safe
as $$ select date '2000-01-01' $$;
comment on function market.calendar_start() is
    'First date of the trading calendar foliodb keeps (foliodb/bounds.py CALENDAR_START is its twin).';

-- Rows stored before the bounds existed and outside them. They could never be computed
-- (every refresh failed on them), so they are moved here, whole, with the reason, instead of
-- being refused later by the constraints. Prices go to market.quarantine as always.
create table core.quarantine (
    quarantine_id bigint generated always as identity primary key,
    table_name text not null,
    portfolio_id bigint,
    position_id bigint,
    row_data jsonb not null,
    reason text not null,
    quarantined_at timestamptz not null default now()
);
comment on table core.quarantine is
    'Positions and valuations moved out of core by a migration because they broke a bound; '
    'row_data holds the row as it was.';

create temp table bounds_checks on commit drop as
select
    checks.table_name,
    checks.column_name,
    checks.constraint_name,
    checks.expression
from (
    select
        'market.prices' as table_name, 'close' as column_name, 'close_within_bounds' as constraint_name,
        format('close between %s and %s', bounds.min_value, bounds.max_value) as expression
    from ops.input_bounds as bounds where bounds.kind = 'price'
    union all
    select 'market.prices', 'adj_close', 'adj_close_within_bounds',
        format('adj_close between %s and %s', bounds.min_value, bounds.max_value)
    from ops.input_bounds as bounds where bounds.kind = 'price'
    union all
    select 'market.prices', 'volume', 'volume_within_bounds',
        format('volume between 0 and %s', bounds.max_value)
    from ops.input_bounds as bounds where bounds.kind = 'volume'
    union all
    select 'market.prices', 'price_date', 'price_date_in_calendar',
        format('price_date >= date %L', market.calendar_start())
    union all
    select 'core.positions', 'quantity', 'quantity_within_bounds',
        format('abs(quantity) between %s and %s', bounds.min_value, bounds.max_value)
    from ops.input_bounds as bounds where bounds.kind = 'quantity'
    union all
    select 'core.positions', 'entry_price', 'entry_price_within_bounds',
        format('entry_price between %s and %s', bounds.min_value, bounds.max_value)
    from ops.input_bounds as bounds where bounds.kind = 'price'
    union all
    select 'core.positions', 'exit_price', 'exit_price_within_bounds',
        format('exit_price between %s and %s', bounds.min_value, bounds.max_value)
    from ops.input_bounds as bounds where bounds.kind = 'price'
    union all
    select 'core.positions', 'entry_date', 'entry_date_in_calendar',
        format('entry_date >= date %L', market.calendar_start())
    union all
    select 'core.valuations', 'value', 'value_within_bounds',
        format('value = 0 or value between %s and %s', bounds.min_value, bounds.max_value)
    from ops.input_bounds as bounds where bounds.kind = 'value'
    union all
    select 'core.valuations', 'valuation_date', 'valuation_date_in_calendar',
        format('valuation_date >= date %L', market.calendar_start())
    union all
    select 'market.option_contracts', 'strike', 'strike_within_bounds',
        format('strike between %s and %s', bounds.min_value, bounds.max_value)
    from ops.input_bounds as bounds where bounds.kind = 'price'
    union all
    select 'market.option_contracts', 'multiplier', 'multiplier_within_bounds', 'multiplier between 1 and 10000'
) as checks;

-- The bounds as one row, for the quarantine of existing rows below.
create temp table bounds_now on commit drop as
select
    max(bounds.min_value) filter (where bounds.kind = 'price') as price_min,
    max(bounds.max_value) filter (where bounds.kind = 'price') as price_max,
    max(bounds.expected) filter (where bounds.kind = 'price') as price_expected,
    max(bounds.min_value) filter (where bounds.kind = 'quantity') as quantity_min,
    max(bounds.max_value) filter (where bounds.kind = 'quantity') as quantity_max,
    max(bounds.expected) filter (where bounds.kind = 'quantity') as quantity_expected,
    max(bounds.min_value) filter (where bounds.kind = 'value') as value_min,
    max(bounds.max_value) filter (where bounds.kind = 'value') as value_max,
    max(bounds.expected) filter (where bounds.kind = 'value') as value_expected,
    max(bounds.max_value) filter (where bounds.kind = 'volume') as volume_max,
    max(bounds.expected) filter (where bounds.kind = 'volume') as volume_expected,
    market.calendar_start() as first_date
from ops.input_bounds as bounds;

-- Existing prices outside the bounds: to market.quarantine (the ingester's mechanism), and
-- their symbols queued so the analytics recompute without them.
create temp table bounds_bad_prices on commit drop as
select
    prices.*,
    'moved out of market.prices by migration 0050: ' || case
        when prices.price_date < bounds.first_date
            then 'date: expected a date on or after ' || bounds.first_date || ', where the calendar starts'
        when not prices.close between bounds.price_min and bounds.price_max
            then 'close: expected ' || bounds.price_expected
        when not prices.adj_close between bounds.price_min and bounds.price_max
            then 'adj_close: expected ' || bounds.price_expected
        else 'volume: expected ' || bounds.volume_expected
    end as reason
from market.prices as prices
cross join bounds_now as bounds
where not (
    prices.close between bounds.price_min and bounds.price_max
    and coalesce(prices.adj_close between bounds.price_min and bounds.price_max, true)
    and coalesce(prices.volume between 0 and bounds.volume_max, true)
    and prices.price_date >= bounds.first_date
);

insert into market.quarantine (symbol, price_date, close, adj_close, volume, source, reason)
select bad.symbol, bad.price_date, bad.close::text, bad.adj_close::text, bad.volume::text, bad.source, bad.reason
from bounds_bad_prices as bad;

insert into ops.dirty_symbols (symbol, from_date, reason)
select bad.symbol, min(bad.price_date), 'prices quarantined by bounds (migration 0050)'
from bounds_bad_prices as bad
group by bad.symbol;

delete from market.prices as prices
using bounds_bad_prices as bad
where prices.symbol = bad.symbol and prices.price_date = bad.price_date;

-- Existing positions (with their valuations) and valuations outside the bounds.
create temp table bounds_bad_positions on commit drop as
select
    positions.*,
    'moved out of core.positions by migration 0050: ' || case
        when not abs(positions.quantity) between bounds.quantity_min and bounds.quantity_max
            then 'quantity: expected ' || bounds.quantity_expected
        when not positions.entry_price between bounds.price_min and bounds.price_max
            then 'entry_price: expected ' || bounds.price_expected
        when not positions.exit_price between bounds.price_min and bounds.price_max
            then 'exit_price: expected ' || bounds.price_expected
        else 'entry_date: expected a date on or after ' || bounds.first_date || ', where the calendar starts'
    end as reason
from core.positions as positions
cross join bounds_now as bounds
where not (
    abs(positions.quantity) between bounds.quantity_min and bounds.quantity_max
    and positions.entry_price between bounds.price_min and bounds.price_max
    and coalesce(positions.exit_price between bounds.price_min and bounds.price_max, true)
    and positions.entry_date >= bounds.first_date
);

create temp table bounds_bad_valuations on commit drop as
select
    valuations.*,
    case
        when bad.position_id is not null
            then 'moved out of core.valuations by migration 0050 with its position (' || bad.reason || ')'
        when valuations.valuation_date < bounds.first_date
            then 'moved out of core.valuations by migration 0050: valuation_date: expected a date on or after '
                || bounds.first_date
        else 'moved out of core.valuations by migration 0050: value: expected ' || bounds.value_expected
    end as reason
from core.valuations as valuations
cross join bounds_now as bounds
left join bounds_bad_positions as bad on valuations.position_id = bad.position_id
where
    bad.position_id is not null
    or not (
        (valuations.value = 0 or valuations.value between bounds.value_min and bounds.value_max)
        and valuations.valuation_date >= bounds.first_date
    );

insert into core.quarantine (table_name, portfolio_id, position_id, row_data, reason)
select 'core.valuations', bad.portfolio_id, bad.position_id, to_jsonb(bad) - 'reason', bad.reason
from bounds_bad_valuations as bad
union all
select 'core.positions', bad.portfolio_id, bad.position_id, to_jsonb(bad) - 'reason', bad.reason
from bounds_bad_positions as bad;

-- Deleting queues the portfolios (the dirty-queue triggers on both tables).
delete from core.valuations as valuations
using bounds_bad_valuations as bad
where
    valuations.portfolio_id = bad.portfolio_id
    and valuations.position_id = bad.position_id
    and valuations.valuation_date = bad.valuation_date;
delete from core.positions as positions
using bounds_bad_positions as bad
where positions.position_id = bad.position_id;

-- The constraints, generated from ops.input_bounds (literal bounds: no function call per row,
-- and nothing for a writing role to be granted).
do $$
declare
    v_check record;
begin
    for v_check in select * from bounds_checks order by table_name, constraint_name loop
        execute format(
            'alter table %s add constraint %I check (%s)',
            v_check.table_name, v_check.constraint_name, v_check.expression
        );
    end loop;
end
$$;
