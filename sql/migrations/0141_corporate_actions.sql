-- Corporate actions the market knows (issue 15): splits and cash dividends per symbol. A
-- ledger's lots follow the splits of the symbols it holds, and the dividends are paid on its
-- holdings at the ex-date unless the ledger records that payment itself (docs/semantics.md,
-- "Activities"). Stored as-traded: a split's ratio is new shares per old share (4 for 4:1), a
-- dividend's amount is per share as paid on the ex-date (not adjusted for later splits).
create table market.splits (
    symbol text not null references market.symbols (symbol),
    ex_date date not null,
    ratio numeric not null constraint ratio_is_a_split check (ratio > 0 and ratio <> 1),
    source text not null default 'csv',
    loaded_at timestamptz not null default now(),
    primary key (symbol, ex_date)
);
comment on table market.splits is
    'Stock splits: from ex_date on, one old share is ratio new shares (4 for 4:1, 0.1 for 1:10).';

create table market.dividends (
    symbol text not null references market.symbols (symbol),
    ex_date date not null,
    amount_per_share numeric not null constraint amount_positive check (amount_per_share > 0),
    source text not null default 'csv',
    loaded_at timestamptz not null default now(),
    primary key (symbol, ex_date)
);
comment on table market.dividends is
    'Cash dividends: amount_per_share (as paid, USD) to holders of the symbol before ex_date.';

-- Bounds (migration 0050), literal, from ops.input_bounds: a ratio is bounded like a quantity,
-- an amount per share like a price.
do $$
declare
    spec record;
begin
    for spec in
        select 'market.splits' as table_name, 'ratio_within_bounds' as constraint_name,
            format('ratio between %s and %s', bounds.min_value, bounds.max_value) as rule
        from ops.input_bounds as bounds where bounds.kind = 'quantity'
        union all
        select 'market.dividends', 'amount_per_share_within_bounds',
            format('amount_per_share between %s and %s', bounds.min_value, bounds.max_value)
        from ops.input_bounds as bounds where bounds.kind = 'price'
        union all
        select 'market.splits', 'ex_date_in_calendar', format('ex_date >= date %L', market.calendar_start())
        union all
        select 'market.dividends', 'ex_date_in_calendar', format('ex_date >= date %L', market.calendar_start())
    loop
        execute format('alter table %s add constraint %I check (%s)', spec.table_name, spec.constraint_name, spec.rule);
    end loop;
end
$$;
