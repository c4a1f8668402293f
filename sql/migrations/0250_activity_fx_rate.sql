-- The rate an activity was settled at (issue 16, item 3: the third fallback of a conversion).
--
-- An activity is in the portfolio's base currency (its unit price, amount and fee: the cash
-- paid or received). When it names a security traded in another currency, a broker's
-- statement also says at which rate the money was converted: `fx_rate` is that rate, units
-- of the activity's currency per unit of the security's trading currency taken as a whole
-- currency (per GBP for a pence-quoted listing). So the activity states both amounts: the
-- base amount (quantity × unit_price, or amount) and the local one (the base amount /
-- fx_rate). On the activity's session a value in that currency with no market rate on or
-- before it is converted at the rate the activity implies, rule 'activity'
-- (dbt_project/models/intermediate/int_fx_activity_rates_in_scope.sql, docs/semantics.md,
-- "Currencies"); an activity without it changes nothing.
alter table core.activities
    add column fx_rate numeric
        constraint fx_rate_positive check (fx_rate > 0),
    -- only an activity that names a security and moves money has a second amount
    add constraint fx_rate_needs_a_security check (
        fx_rate is null or (symbol is not null and activity_type <> 'SPLIT')
    );
comment on column core.activities.fx_rate is
    'The rate the activity was settled at: units of its currency (the portfolio''s base) per unit '
    'of the symbol''s trading currency as a whole currency (per GBP for GBp). Null: not stated.';

-- bounded as a price is (migration 0220's one list)
insert into ops.bounded_columns (table_name, constraint_name, column_name, kind, rule) values
    (
        'core.activities', 'fx_rate_within_bounds', 'fx_rate', 'price',
        '%1$I is null or %1$I between %2$s and %3$s'
    );
select ops.apply_input_bounds();

-- core.activity_rows (sql/routines/50_activities.sql) returns the new field: its row type
-- changes, which `create or replace` cannot do; the routine re-creates it
drop function if exists core.activity_rows(jsonb);
