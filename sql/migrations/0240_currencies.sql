-- Currencies (issue 16, step 1 and 2): the ISO 4217 reference every money field is checked
-- against, a base currency per portfolio, and daily FX rates as market data.
--
-- market.currencies holds ISO 4217 codes with their minor units, and the quote units some
-- exchanges price in that are not ISO codes: pence of the pound (GBp, also written GBX), South
-- African cents (ZAc) and Israeli agorot (ILA). Such a unit names the currency it is a part
-- of (`unit_of`) and how many of it make one (`units_per`): 100 GBp = 1 GBP. Rates are stored
-- between whole currencies only; a value in pence is converted as GBP / 100.
create table market.currencies (
    currency text primary key
        constraint currency_format check (currency ~ '^[A-Z]{2}[A-Za-z]$'),
    name text not null constraint name_not_blank check (btrim(name) <> ''),
    minor_units smallint not null constraint minor_units_range check (minor_units between 0 and 4),
    unit_of text references market.currencies (currency),
    units_per numeric,
    -- true for a part of a currency (GBp): no FX pair is stored for it
    is_subunit boolean generated always as (unit_of is not null) stored,
    constraint subunit_has_factor check ((unit_of is null) = (units_per is null)),
    constraint subunit_factor_above_one check (units_per is null or units_per > 1),
    constraint subunit_of_other check (unit_of is distinct from currency),
    -- ISO codes are three capitals; only a subunit may be spelled otherwise (GBp, ZAc)
    constraint lowercase_only_for_subunits check (currency ~ '^[A-Z]{3}$' or unit_of is not null),
    -- the target of fx_rates' (currency, is_subunit) keys
    constraint currencies_currency_subunit unique (currency, is_subunit)
);
comment on table market.currencies is
    'ISO 4217 currencies (minor units) and the exchange quote units that are parts of one '
    '(GBp/GBX pence of GBP, ZAc, ILA). Every money field names one of these.';
comment on column market.currencies.unit_of is
    'For a quote unit that is part of a currency (GBp): that currency (GBP); units_per of it make one.';

insert into market.currencies (currency, name, minor_units) values
    ('USD', 'US Dollar', 2),
    ('EUR', 'Euro', 2),
    ('GBP', 'Pound Sterling', 2),
    ('JPY', 'Yen', 0),
    ('CHF', 'Swiss Franc', 2),
    ('CAD', 'Canadian Dollar', 2),
    ('AUD', 'Australian Dollar', 2),
    ('NZD', 'New Zealand Dollar', 2),
    ('SEK', 'Swedish Krona', 2),
    ('NOK', 'Norwegian Krone', 2),
    ('DKK', 'Danish Krone', 2),
    ('PLN', 'Zloty', 2),
    ('CZK', 'Czech Koruna', 2),
    ('HUF', 'Forint', 2),
    ('RON', 'Romanian Leu', 2),
    ('ISK', 'Iceland Krona', 0),
    ('TRY', 'Turkish Lira', 2),
    ('ILS', 'New Israeli Sheqel', 2),
    ('ZAR', 'Rand', 2),
    ('CNY', 'Yuan Renminbi', 2),
    ('HKD', 'Hong Kong Dollar', 2),
    ('SGD', 'Singapore Dollar', 2),
    ('TWD', 'New Taiwan Dollar', 2),
    ('KRW', 'Won', 0),
    ('INR', 'Indian Rupee', 2),
    ('IDR', 'Rupiah', 2),
    ('MYR', 'Malaysian Ringgit', 2),
    ('THB', 'Baht', 2),
    ('PHP', 'Philippine Peso', 2),
    ('VND', 'Dong', 0),
    ('BRL', 'Brazilian Real', 2),
    ('MXN', 'Mexican Peso', 2),
    ('ARS', 'Argentine Peso', 2),
    ('CLP', 'Chilean Peso', 0),
    ('COP', 'Colombian Peso', 2),
    ('PEN', 'Sol', 2),
    ('SAR', 'Saudi Riyal', 2),
    ('AED', 'UAE Dirham', 2),
    ('QAR', 'Qatari Rial', 2),
    ('KWD', 'Kuwaiti Dinar', 3),
    ('BHD', 'Bahraini Dinar', 3),
    ('EGP', 'Egyptian Pound', 2),
    ('NGN', 'Naira', 2),
    ('KES', 'Kenyan Shilling', 2);
insert into market.currencies (currency, name, minor_units, unit_of, units_per) values
    ('GBp', 'Penny sterling (London quotes)', 0, 'GBP', 100),
    ('GBX', 'Penny sterling (GBX)', 0, 'GBP', 100),
    ('ZAc', 'South African cent (Johannesburg quotes)', 0, 'ZAR', 100),
    ('ILA', 'Agora (Tel Aviv quotes)', 0, 'ILS', 100);

-- A symbol's trading currency: what its prices are in (from yfinance's metadata, a price
-- file's currency column, or an operator: `folio symbol currency`).
alter table market.symbols drop constraint currency_iso;
alter table market.symbols
    add constraint symbols_currency_known foreign key (currency) references market.currencies (currency);
comment on column market.symbols.currency is
    'The trading currency its prices are in (market.currencies; GBp for pence-quoted London listings).';

-- A portfolio's base currency: what its totals, returns and charts are in.
alter table core.portfolios
    add column base_currency text not null default 'USD'
        constraint portfolios_base_currency_known references market.currencies (currency);
alter table core.portfolios
    add constraint base_currency_whole check (base_currency ~ '^[A-Z]{3}$');
comment on column core.portfolios.base_currency is
    'The currency its totals and returns are reported in (ISO 4217; default USD).';

-- Activities are in their own currency, any one of the reference.
alter table core.activities drop constraint currency_usd;
alter table core.activities
    add constraint activities_currency_known foreign key (currency) references market.currencies (currency);
comment on column core.activities.currency is
    'The currency of its unit price, amount and fee (market.currencies).';

-- FX rates: one row per pair per session. rate is the price of one unit of base_currency in
-- quote_currency (yfinance's EURUSD=X: 1 EUR in USD). Only whole currencies have pairs.
create table market.fx_rates (
    base_currency text not null,
    quote_currency text not null,
    rate_date date not null,
    rate numeric not null constraint rate_positive check (rate > 0),
    source text not null constraint source_known check (source in ('yfinance', 'csv', 'demo', 'manual')),
    loaded_at timestamptz not null default now(),
    base_is_subunit boolean not null generated always as (false) stored,
    quote_is_subunit boolean not null generated always as (false) stored,
    primary key (base_currency, quote_currency, rate_date),
    constraint fx_base_currency_whole foreign key (base_currency, base_is_subunit)
        references market.currencies (currency, is_subunit),
    constraint fx_quote_currency_whole foreign key (quote_currency, quote_is_subunit)
        references market.currencies (currency, is_subunit),
    constraint pair_of_two check (base_currency <> quote_currency),
    constraint rate_not_in_future check (rate_date <= current_date)
);
comment on table market.fx_rates is
    'Daily FX rates, one row per pair per session: rate = the price of 1 base_currency in '
    'quote_currency. Loaded by the price ingester (ingest/fx.py), validated and quarantined as prices are.';
comment on column market.fx_rates.source is
    'Where the rate came from; demo rates are synthetic.';
-- the bounds of stored inputs (migrations 0050, 0220): a rate is bounded as a price is
insert into ops.bounded_columns (table_name, constraint_name, column_name, kind, rule) values
    ('market.fx_rates', 'rate_within_bounds', 'rate', 'price', '%1$I between %2$s and %3$s'),
    ('market.fx_rates', 'rate_date_in_calendar', 'rate_date', null, '%1$I >= date %4$L');
select ops.apply_input_bounds();

-- the FX ingest has its own kind of run in the one ledger
alter table ops.runs drop constraint kind_known;
alter table ops.runs add constraint kind_known check (
    kind in ('refresh', 'ingest_prices', 'ingest_fx', 'ingest_calendar', 'import', 'reap', 'housekeeping')
);
