-- Market data: symbols, daily prices, the trading calendar, quarantined rows.
create type market.symbol_kind as enum (
    'equity', 'etf', 'fund', 'index', 'option', 'private', 'unknown'
);
create type market.symbol_status as enum ('active', 'unknown', 'delisted', 'failed');

create table market.symbols (
    symbol text primary key
        constraint symbol_format check (symbol ~ '^[A-Z0-9^][A-Z0-9._=^/-]{0,31}$'),
    kind market.symbol_kind not null default 'unknown',
    name text,
    currency text not null default 'USD' constraint currency_iso check (currency ~ '^[A-Z]{3}$'),
    status market.symbol_status not null default 'active',
    status_reason text,
    status_at timestamptz,
    is_universe boolean not null default false,
    created_at timestamptz not null default now(),
    constraint status_has_reason check (status = 'active' or status_reason is not null)
);
comment on table market.symbols is 'Every symbol foliodb knows: held, benchmarks, factor ETFs, universe.';

create table market.trading_days (
    calendar text not null default 'XNYS',
    session_date date not null,
    session_idx integer not null,
    open_at timestamptz not null,
    close_at timestamptz not null,
    primary key (calendar, session_date),
    unique (calendar, session_idx),
    constraint close_after_open check (close_at > open_at)
);
comment on table market.trading_days is
    'Exchange sessions from exchange_calendars (special closures included); session_idx is the ordinal.';

create table market.prices (
    symbol text not null references market.symbols (symbol) on update cascade,
    price_date date not null,
    close numeric not null constraint close_positive check (close > 0),
    adj_close numeric constraint adj_close_positive check (adj_close > 0),
    volume bigint constraint volume_not_negative check (volume >= 0),
    source text not null constraint source_known check (source in ('yfinance', 'csv', 'demo', 'manual')),
    loaded_at timestamptz not null default now(),
    primary key (symbol, price_date),
    constraint price_not_in_future check (price_date <= current_date)
);
comment on table market.prices is
    'One row per symbol per session. close is split-adjusted, adj_close also dividend-adjusted.';

create table market.quarantine (
    quarantine_id bigint generated always as identity primary key,
    run_id bigint,
    symbol text,
    price_date date,
    close text,
    adj_close text,
    volume text,
    source text,
    reason text not null,
    quarantined_at timestamptz not null default now()
);
comment on table market.quarantine is 'Price rows refused (or flagged) by validation, with the reason.';
create index quarantine_symbol_date on market.quarantine (symbol, price_date);

insert into market.symbols (symbol, kind, name) values
    ('^GSPC', 'index', 'S&P 500'),
    ('SPY', 'etf', 'SPDR S&P 500 ETF'),
    ('VUG', 'etf', 'Vanguard Growth ETF'),
    ('VTV', 'etf', 'Vanguard Value ETF'),
    ('MTUM', 'etf', 'iShares MSCI USA Momentum Factor ETF'),
    ('QUAL', 'etf', 'iShares MSCI USA Quality Factor ETF'),
    ('IWM', 'etf', 'iShares Russell 2000 ETF'),
    ('USMV', 'etf', 'iShares MSCI USA Min Vol Factor ETF'),
    ('TLT', 'etf', 'iShares 20+ Year Treasury Bond ETF'),
    ('BIL', 'etf', 'SPDR Bloomberg 1-3 Month T-Bill ETF');
