-- Which symbols matter, and why: the one definition the price ingester (what to fetch), the
-- import's backfill (what a new portfolio lacks) and the refresh (which series a portfolio
-- reads) use.
--
--   select * from ops.symbols_needed();      -- every portfolio, the factors, the universe
--   select * from ops.symbols_needed(42);    -- what portfolio 42 reads
--
-- One row per symbol and reason:
--   held        a live PUBLIC position or a ledger's security (needed_from: its earliest entry
--               or activity)
--   underlying  the underlying of a live OPTIONS position (needed_from: its earliest entry)
--   benchmark   a portfolio's benchmark (needed_from: the portfolio's earliest entry, if any)
--   factor      a factor's proxy in market.factors (an operator edits the table, no code)
--   risk_free   ops.settings risk_free_symbol (none when it says 0: a zero rate)
--   universe    market.symbols marked is_universe (only when no portfolio is named)
-- PRIVATE positions are valued from their valuations and need no symbol.
create or replace function ops.symbols_needed(p_portfolio_id bigint default null)
returns table (symbol text, reason text, needed_from date)
language sql stable
as $$
    with live_positions as (
        select positions.portfolio_id, positions.symbol, positions.investment_class, positions.entry_date
        from core.positions as positions
        where
            positions.deleted_at is null
            and (p_portfolio_id is null or positions.portfolio_id = p_portfolio_id)
        union all
        -- the ledger's securities (sql/migrations/0140_activities.sql): public, from the first
        -- activity on the symbol
        select activities.portfolio_id, activities.symbol, 'PUBLIC'::core.investment_class, activities.activity_date
        from core.activities as activities
        where
            activities.symbol is not null
            and (p_portfolio_id is null or activities.portfolio_id = p_portfolio_id)
    ),

    portfolios as (
        select portfolios.portfolio_id, portfolios.benchmark_symbol
        from core.portfolios as portfolios
        where p_portfolio_id is null or portfolios.portfolio_id = p_portfolio_id
    ),

    needed as (
        select live_positions.symbol, 'held' as reason, live_positions.entry_date
        from live_positions
        where live_positions.investment_class = 'PUBLIC'
        union all
        select (market.occ_match(live_positions.symbol))[1], 'underlying', live_positions.entry_date
        from live_positions
        where live_positions.investment_class = 'OPTIONS' and market.occ_match(live_positions.symbol) is not null
        union all
        select portfolios.benchmark_symbol, 'benchmark', live_positions.entry_date
        from portfolios
        left join live_positions on portfolios.portfolio_id = live_positions.portfolio_id
        union all
        select factors.proxy_symbol, 'factor', null::date
        from market.factors as factors
        union all
        select btrim(settings.value), 'risk_free', null::date
        from ops.settings as settings
        where
            settings.key = 'risk_free_symbol'
            and upper(coalesce(btrim(settings.value), '')) not in ('', '0', 'NONE')
        union all
        select symbols.symbol, 'universe', null::date
        from market.symbols as symbols
        where symbols.is_universe and p_portfolio_id is null
    )

    select needed.symbol, needed.reason, min(needed.entry_date) as needed_from
    from needed
    group by needed.symbol, needed.reason
$$;

comment on function ops.symbols_needed(bigint) is
    'The symbols that matter (for every portfolio, or for one), one row per symbol and reason '
    '(held, underlying, benchmark, factor, risk_free, universe) with the earliest date needed.';
