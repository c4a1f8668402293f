-- App data: users, portfolios, positions, manual valuations.
-- Portfolio-scoped tables carry portfolio_id in their keys (the shape Citus distributes by).
create type core.investment_class as enum ('PUBLIC', 'OPTIONS', 'PRIVATE');

create table core.users (
    user_id bigint generated always as identity primary key,
    email text not null constraint email_format check (email ~ '^[^@\s]+@[^@\s]+$'),
    display_name text,
    created_at timestamptz not null default now()
);
create unique index users_email on core.users (lower(email));

create table core.portfolios (
    portfolio_id bigint generated always as identity primary key,
    user_id bigint not null references core.users (user_id),
    name text not null constraint name_not_blank check (btrim(name) <> ''),
    benchmark_symbol text not null default '^GSPC' references market.symbols (symbol),
    is_public boolean not null default false,
    created_at timestamptz not null default now(),
    unique (user_id, name)
);

create table core.positions (
    portfolio_id bigint not null references core.portfolios (portfolio_id) on delete cascade,
    position_id bigint generated always as identity,
    symbol text not null references market.symbols (symbol),
    investment_class core.investment_class not null default 'PUBLIC',
    quantity numeric not null constraint quantity_not_zero check (quantity <> 0),
    entry_date date not null constraint entry_not_in_future check (entry_date <= current_date),
    entry_price numeric not null constraint entry_price_positive check (entry_price > 0),
    exit_date date,
    exit_price numeric constraint exit_price_positive check (exit_price > 0),
    notes text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    primary key (portfolio_id, position_id),
    unique (position_id),
    constraint exit_after_entry check (exit_date > entry_date),
    constraint exit_price_needs_date check (exit_price is null or exit_date is not null),
    constraint long_unless_option check (quantity > 0 or investment_class = 'OPTIONS')
);
comment on column core.positions.deleted_at is 'Soft delete: a deleted position is ignored everywhere.';
create index positions_symbol on core.positions (symbol) where deleted_at is null;

create table core.valuations (
    portfolio_id bigint not null,
    position_id bigint not null,
    valuation_date date not null
        constraint valuation_not_in_future check (valuation_date <= current_date),
    value numeric not null constraint value_not_negative check (value >= 0),
    source text not null default 'manual',
    created_at timestamptz not null default now(),
    primary key (portfolio_id, position_id, valuation_date),
    foreign key (portfolio_id, position_id)
        references core.positions (portfolio_id, position_id) on delete cascade
);
comment on table core.valuations is
    'Manual valuations: the total value of a PRIVATE position (or an option mark) on a date.';
