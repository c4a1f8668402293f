-- Factors as data: which ETF proxies which factor, and the settings of the exposure and risk
-- models (dbt_project/models/*/factors, docs/factors.md). An operator changes a proxy, adds a
-- factor or retires one with an update here; no code changes. Changes apply to the next
-- refresh that recomputes exposures (every new session; at once with `folio refresh --full`).
create table market.factors (
    factor text primary key constraint factor_format check (factor ~ '^[a-z][a-z0-9_]{0,31}$'),
    proxy_symbol text not null references market.symbols (symbol) on update cascade,
    description text not null,
    is_market boolean not null default false,
    is_active boolean not null default true,
    created_at timestamptz not null default now()
);
comment on table market.factors is
    'Factors and the ETFs that proxy them. The one active is_market factor is the market; every '
    'other active factor is a style, measured by its proxy''s return spread over the market''s.';

-- Exactly one active market factor (the models need one; a second would be ambiguous).
create unique index factors_one_market on market.factors (is_market) where is_market and is_active;

insert into market.factors (factor, proxy_symbol, description, is_market) values
    ('market', 'SPY', 'US large-cap equity market (S&P 500).', true),
    ('growth', 'VUG', 'Growth stocks over the market.', false),
    ('value', 'VTV', 'Value stocks over the market.', false),
    ('momentum', 'MTUM', 'Recent winners over the market.', false),
    ('quality', 'QUAL', 'High-quality balance sheets over the market.', false),
    ('size', 'IWM', 'Small caps (Russell 2000) over the market.', false),
    ('low_volatility', 'USMV', 'Minimum-volatility stocks over the market.', false),
    ('rates', 'TLT', 'Long Treasuries (20+ years) over the market: interest-rate sensitivity.', false);

insert into ops.settings (key, value, description) values
    ('factor_window_sessions', '252', 'Trailing sessions of daily returns the factor exposures are fitted on.'),
    ('factor_min_observations', '60',
        'Fewest daily returns in the window for an exposure to be published (else the reason is recorded).'),
    ('risk_free_symbol', 'BIL',
        'Symbol whose daily returns are the risk-free rate of Sharpe ratios (a T-bill ETF); 0 for a zero rate.');
