-- The transactions ledger (issue 15): one row per dated event of a portfolio. Lots, cash,
-- realized gains and the snapshots' flows are derived from these rows in SQL (dbt models
-- int_lots_in_scope, int_cash_in_scope; docs/semantics.md, "Activities").
--
-- The rules of each type are check constraints, so the database refuses a bad row even when
-- an entry point forgets; core.import_activities (sql/routines/50_activities.sql) reports the
-- same rules with line and field before anything is written.
create type core.activity_type as enum (
    'BUY', 'SELL', 'DIVIDEND', 'INTEREST', 'FEE', 'TAX', 'DEPOSIT', 'WITHDRAWAL',
    'TRANSFER_IN', 'TRANSFER_OUT', 'SPLIT'
);

-- How a sell's cost is taken from the lots it consumes.
create type core.cost_method as enum ('fifo', 'average');
alter table core.portfolios add column cost_method core.cost_method not null default 'fifo';
comment on column core.portfolios.cost_method is
    'How sells consume lots: fifo (first bought, first sold; the default) or average (moving average cost).';

create table core.activities (
    portfolio_id bigint not null references core.portfolios (portfolio_id) on delete cascade,
    activity_id bigint generated always as identity,
    activity_date date not null,
    activity_type core.activity_type not null,
    symbol text references market.symbols (symbol),
    quantity numeric,
    unit_price numeric,
    amount numeric,
    fee numeric not null default 0 constraint fee_not_negative check (fee >= 0),
    -- reserved for the currencies issue: every amount is in US dollars until then
    currency text not null default 'USD' constraint currency_usd check (currency = 'USD'),
    notes text,
    source text not null default 'manual' constraint source_not_blank check (btrim(source) <> ''),
    external_id text not null constraint external_id_not_blank check (btrim(external_id) <> ''),
    created_at timestamptz not null default now(),
    primary key (portfolio_id, activity_id),
    -- re-importing the same file adds nothing
    constraint activities_external_id_unique unique (portfolio_id, source, external_id),
    -- what each type carries (docs/semantics.md, "Activities")
    -- (coalesce: a missing field makes a comparison null, which a check would let pass)
    constraint activity_fields check (coalesce(
        case
            -- a trade, or a transfer of securities at a stated value per unit
            when activity_type in ('BUY', 'SELL')
                or (activity_type in ('TRANSFER_IN', 'TRANSFER_OUT') and symbol is not null)
                then symbol is not null and quantity > 0 and unit_price > 0 and amount is null
            -- a split: quantity is the ratio, new units per old unit (4 for a 4:1 split)
            when activity_type = 'SPLIT'
                then symbol is not null and quantity > 0 and quantity <> 1 and unit_price is null
                    and amount is null
            -- income, costs and cash flows: an amount; dividends, fees and taxes may name the
            -- symbol they concern
            when activity_type in ('DIVIDEND', 'FEE', 'TAX')
                then amount > 0 and quantity is null and unit_price is null
            else symbol is null and amount > 0 and quantity is null and unit_price is null
        end,
        false
    ))
);
-- by id alone (an identity: unique already) without a second unique key, which a Citus shard
-- could not check (docs/scaling.md)
create index activities_activity_id on core.activities (activity_id);
comment on table core.activities is
    'The ledger: one row per dated event of a portfolio (buys, sells, income, costs, cash flows, '
    'transfers, splits). Lots, cash and gains are derived from it.';
comment on column core.activities.quantity is
    'Units traded or transferred; for SPLIT the ratio (new units per old unit).';
comment on column core.activities.external_id is
    'Unique per portfolio and source: the id in the file it came from, or a digest of the row.';
create index activities_symbol on core.activities (symbol, activity_date) where symbol is not null;
create index activities_portfolio_date on core.activities (portfolio_id, activity_date);

-- The bounds of stored inputs (migration 0050), generated from ops.input_bounds: quantities
-- (also a split's ratio), unit prices, and amounts and fees (bounded as values are). Literal
-- bounds: no function call per row.
do $$
declare
    spec record;
begin
    for spec in
        select 'quantity' as column_name, 'quantity_within_bounds' as constraint_name,
            format('quantity is null or quantity between %s and %s', bounds.min_value, bounds.max_value) as rule
        from ops.input_bounds as bounds where bounds.kind = 'quantity'
        union all
        select 'unit_price', 'unit_price_within_bounds',
            format('unit_price is null or unit_price between %s and %s', bounds.min_value, bounds.max_value)
        from ops.input_bounds as bounds where bounds.kind = 'price'
        union all
        select 'amount', 'amount_within_bounds',
            format('amount is null or amount between %s and %s', bounds.min_value, bounds.max_value)
        from ops.input_bounds as bounds where bounds.kind = 'value'
        union all
        select 'fee', 'fee_within_bounds',
            format('fee = 0 or fee between %s and %s', bounds.min_value, bounds.max_value)
        from ops.input_bounds as bounds where bounds.kind = 'value'
        union all
        select 'activity_date', 'activity_date_in_calendar',
            format('activity_date >= date %L', market.calendar_start())
    loop
        execute format(
            'alter table core.activities add constraint %I check (%s)', spec.constraint_name, spec.rule
        );
    end loop;
end
$$;
