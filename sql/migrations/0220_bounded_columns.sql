-- One list of the bounded columns. Migrations 0050 (prices, positions, valuations, option
-- contracts), 0140 (activities) and 0141 (splits, dividends) each generated their tables'
-- bound checks from ops.input_bounds with a loop of their own, so changing a bound meant finding
-- every copy. The columns and the shape of their checks are now rows of ops.bounded_columns, and
-- ops.apply_input_bounds() re-creates every listed check from them and ops.input_bounds:
--   - a new bounded column: insert its row, then `select ops.apply_input_bounds()`;
--   - a changed bound: update its ops.input_bounds row, then `select ops.apply_input_bounds()`.
-- Checks stay literal (no function call per row). The rows below are the checks those three
-- migrations created, written the same way, so nothing is re-created here.

create table ops.bounded_columns (
    table_name text not null,
    constraint_name text not null,
    column_name text not null,
    kind text references ops.input_bounds (kind),
    rule text not null,
    primary key (table_name, constraint_name)
);
comment on table ops.bounded_columns is
    'Every column checked against ops.input_bounds or the calendar''s first day, and its check: '
    'ops.apply_input_bounds() generates the *_within_bounds and *_in_calendar constraints from these rows.';
comment on column ops.bounded_columns.kind is
    'The ops.input_bounds row the check reads; null for a check of the calendar''s first day or a literal one.';
comment on column ops.bounded_columns.rule is
    'The check as a format() string: %1$I the column, %2$s the minimum, %3$s the maximum, '
    '%4$L the calendar''s first day (market.calendar_start()).';

insert into ops.bounded_columns (table_name, constraint_name, column_name, kind, rule) values
    ('market.prices', 'close_within_bounds', 'close', 'price', '%1$I between %2$s and %3$s'),
    ('market.prices', 'adj_close_within_bounds', 'adj_close', 'price', '%1$I between %2$s and %3$s'),
    ('market.prices', 'volume_within_bounds', 'volume', 'volume', '%1$I between 0 and %3$s'),
    ('market.prices', 'price_date_in_calendar', 'price_date', null, '%1$I >= date %4$L'),
    ('core.positions', 'quantity_within_bounds', 'quantity', 'quantity', 'abs(%1$I) between %2$s and %3$s'),
    ('core.positions', 'entry_price_within_bounds', 'entry_price', 'price', '%1$I between %2$s and %3$s'),
    ('core.positions', 'exit_price_within_bounds', 'exit_price', 'price', '%1$I between %2$s and %3$s'),
    ('core.positions', 'entry_date_in_calendar', 'entry_date', null, '%1$I >= date %4$L'),
    ('core.valuations', 'value_within_bounds', 'value', 'value', '%1$I = 0 or %1$I between %2$s and %3$s'),
    ('core.valuations', 'valuation_date_in_calendar', 'valuation_date', null, '%1$I >= date %4$L'),
    ('market.option_contracts', 'strike_within_bounds', 'strike', 'price', '%1$I between %2$s and %3$s'),
    ('market.option_contracts', 'multiplier_within_bounds', 'multiplier', null, '%1$I between 1 and 10000'),
    (
        'core.activities', 'quantity_within_bounds', 'quantity', 'quantity',
        '%1$I is null or %1$I between %2$s and %3$s'
    ),
    (
        'core.activities', 'unit_price_within_bounds', 'unit_price', 'price',
        '%1$I is null or %1$I between %2$s and %3$s'
    ),
    ('core.activities', 'amount_within_bounds', 'amount', 'value', '%1$I is null or %1$I between %2$s and %3$s'),
    ('core.activities', 'fee_within_bounds', 'fee', 'value', '%1$I = 0 or %1$I between %2$s and %3$s'),
    ('core.activities', 'activity_date_in_calendar', 'activity_date', null, '%1$I >= date %4$L'),
    ('market.splits', 'ratio_within_bounds', 'ratio', 'quantity', '%1$I between %2$s and %3$s'),
    ('market.splits', 'ex_date_in_calendar', 'ex_date', null, '%1$I >= date %4$L'),
    ('market.dividends', 'amount_per_share_within_bounds', 'amount_per_share', 'price', '%1$I between %2$s and %3$s'),
    ('market.dividends', 'ex_date_in_calendar', 'ex_date', null, '%1$I >= date %4$L');

-- Re-create every listed check from the current bounds (drop and add in one statement per
-- table and check: the table is scanned once per check, under its ALTER TABLE lock). Returns
-- how many checks it wrote. A migration's function (DDL on the tables: the owner's, run by
-- migrations only), so it is here and not among the re-applied routines.
create function ops.apply_input_bounds() returns integer
language plpgsql
as $$
declare
    v_check record;
    v_count integer := 0;
begin
    for v_check in
        select
            columns.table_name,
            columns.constraint_name,
            format(
                columns.rule, columns.column_name, bounds.min_value, bounds.max_value, market.calendar_start()
            ) as expression
        from ops.bounded_columns as columns
        left join ops.input_bounds as bounds on columns.kind = bounds.kind
        order by columns.table_name, columns.constraint_name
    loop
        execute format(
            'alter table %s drop constraint if exists %I, add constraint %I check (%s)',
            v_check.table_name, v_check.constraint_name, v_check.constraint_name, v_check.expression
        );
        v_count := v_count + 1;
    end loop;
    return v_count;
end
$$;
comment on function ops.apply_input_bounds() is
    'Re-create every check listed in ops.bounded_columns from ops.input_bounds (after a bound '
    'changed or a bounded column was added). Returns how many checks it wrote.';
