-- OCC option contracts: what an OPTIONS position's symbol means, so SQL models can value it
-- (multiplier x price; at expiry the intrinsic value from the underlying's close).
-- One row per contract symbol; filled by the portfolio import (core.import_portfolio).
create table market.option_contracts (
    symbol text primary key references market.symbols (symbol) on update cascade,
    underlying text not null references market.symbols (symbol) on update cascade,
    expiry_date date not null,
    option_type text not null constraint option_type_known check (option_type in ('call', 'put')),
    strike numeric not null constraint strike_positive check (strike > 0),
    multiplier integer not null default 100 constraint multiplier_positive check (multiplier > 0),
    created_at timestamptz not null default now()
);
comment on table market.option_contracts is
    'OCC contracts (ROOT YYMMDD C|P strike/1000): underlying, expiry, call/put, strike, multiplier.';
create index option_contracts_underlying on market.option_contracts (underlying);
create index option_contracts_expiry on market.option_contracts (expiry_date);
