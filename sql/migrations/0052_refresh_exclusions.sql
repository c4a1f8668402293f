-- Portfolios a refresh must not compute at all while it isolates failing ones (issue 12):
-- besides ops.refresh_scope, fct_portfolio_exposures recomputes every holder of a re-fitted
-- symbol; it leaves out the portfolios listed here. Written and emptied inside the refresh's
-- own transaction (ops.isolate_failing_portfolios), so it is empty for every other session.
create table ops.refresh_excluded (
    portfolio_id bigint primary key
);
comment on table ops.refresh_excluded is
    'Portfolios the refresh in progress leaves out of every model (isolation of failing portfolios); empty outside it.';

-- The models that read no portfolio (market data only). While a refresh isolates failing
-- portfolios, the leading steps among these are computed once, not again in every trial run.
insert into ops.settings (key, value, description) values
    ('refresh_market_models', 'int_calendar_dates_mapped,int_prices_filled_daily,fct_symbol_exposures',
        'Models that read market data only: computed once, not in every trial, when a refresh isolates failing portfolios.');
