{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'factor'],
        refresh_scope='exposure_subjects',
    )
}}
-- One row per portfolio per active factor, as of the as-of session: the market-value-weighted
-- exposure of the PUBLIC positions held whose symbol has a published exposure; the shares of
-- the portfolio in PUBLIC, OPTIONS and PRIVATE positions and in PUBLIC symbols lacking an
-- exposure, with those symbols listed. Positions are valued as in the snapshots
-- (docs/semantics.md). Recomputed for the portfolios in scope and for every portfolio holding a
-- symbol whose exposures this run recomputed.
with factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

prices_filled as (
    select * from {{ ref('int_prices_filled_daily') }}
),

factors as (
    select * from {{ ref('stg_market__factors') }}
    where is_active
),

-- not materialized: the rows wanted are looked up by key (the table keeps every as-of session)
symbol_exposures as not materialized (
    select * from {{ ref('fct_symbol_exposures') }}
),

-- the portfolios in scope and every holder of a re-fitted symbol (ops.open_window); a few ids
-- (one portfolio when onboarding), read by index below
subject_portfolios as materialized (
    select * from {{ ref('stg_ops__refresh_exposure_subjects') }}
),

-- the subject portfolios' positions only, resolved as in int_positions_resolved
positions as (
    {{ positions_resolved(portfolio_filter='select subject_portfolios.portfolio_id from subject_portfolios') | indent(4) }}
),

valuations as (
    {{ valuations_ranged(portfolio_filter='select subject_portfolios.portfolio_id from subject_portfolios') | indent(4) }}
),

-- positions held at the close of the as-of session
held as (
    select
        positions.portfolio_id,
        positions.position_id,
        positions.symbol,
        positions.investment_class,
        positions.quantity * positions.multiplier as units,
        positions.entry_price,
        factor_settings.as_of_idx
    from positions
    inner join subject_portfolios on positions.portfolio_id = subject_portfolios.portfolio_id
    cross join factor_settings
    where
        positions.entry_idx <= factor_settings.as_of_idx
        and coalesce(positions.exit_idx, 2147483647) > factor_settings.as_of_idx
),

-- closes at the as-of session only (the positions are valued on that one session)
closes_at_as_of as (
    select
        prices_filled.symbol,
        prices_filled.session_idx,
        prices_filled.close_price
    from prices_filled
    inner join factor_settings on prices_filled.session_idx = factor_settings.as_of_idx
),

valued as (
    select
        held.portfolio_id,
        held.symbol,
        held.investment_class,
        case
            when held.investment_class = 'PRIVATE'
                then coalesce(valuations.valuation_value, held.units * held.entry_price)
            else held.units * coalesce(closes_at_as_of.close_price, held.entry_price)
        end as position_value
    from held
    left join closes_at_as_of
        on
            held.symbol = closes_at_as_of.symbol
            and held.as_of_idx = closes_at_as_of.session_idx
            and held.investment_class <> 'PRIVATE'
    left join valuations
        on
            held.position_id = valuations.position_id
            and held.as_of_idx between valuations.from_idx and valuations.to_idx
            and held.investment_class = 'PRIVATE'
),

totals as (
    select
        portfolio_id,
        count(*) as positions_held,
        sum(position_value) as market_value,
        sum(position_value) filter (where investment_class = 'PUBLIC') as public_value,
        sum(position_value) filter (where investment_class = 'OPTIONS') as options_value,
        sum(position_value) filter (where investment_class = 'PRIVATE') as private_value
    from valued
    group by portfolio_id
),

-- materialized: the published exposures at the as-of session of the symbols the subjects hold,
-- read once and joined by hash below (looked up per holding and factor, they were an index
-- probe each: 92,480 at 1,000 portfolios)
current_exposures as materialized (
    select
        symbol_exposures.symbol,
        symbol_exposures.factor,
        symbol_exposures.exposure
    from symbol_exposures
    inner join factor_settings on symbol_exposures.as_of_idx = factor_settings.as_of_idx
    where
        symbol_exposures.is_published
        and symbol_exposures.symbol in (
            select valued.symbol from valued
            where valued.investment_class = 'PUBLIC'
        )
),

-- each PUBLIC holding against each factor, with the symbol's exposure if published
public_factor_values as (
    select
        valued.portfolio_id,
        factors.factor,
        valued.symbol,
        valued.position_value,
        current_exposures.exposure
    from valued
    cross join factors
    left join current_exposures
        on
            valued.symbol = current_exposures.symbol
            and factors.factor = current_exposures.factor
    where valued.investment_class = 'PUBLIC'
),

weighted as (
    select
        portfolio_id,
        factor,
        sum(position_value::float8 * exposure) filter (where exposure is not null)
        / nullif(sum(position_value::float8) filter (where exposure is not null), 0) as exposure,
        coalesce(sum(position_value) filter (where exposure is not null), 0) as covered_value,
        coalesce(sum(position_value) filter (where exposure is null), 0) as missing_value,
        count(distinct symbol) filter (where exposure is not null) as n_symbols_covered,
        coalesce(
            array_agg(distinct symbol order by symbol) filter (where exposure is null), '{}'
        ) as missing_symbols
    from public_factor_values
    group by portfolio_id, factor
),

final as (
    select
        subject_portfolios.portfolio_id,
        factors.factor,
        factor_settings.as_of_idx,
        factor_settings.as_of_date,
        factors.proxy_symbol,
        factors.is_market,
        weighted.exposure,
        coalesce(totals.positions_held, 0)::integer as positions_held,
        coalesce(totals.market_value, 0) as market_value,
        (weighted.covered_value / nullif(totals.market_value, 0))::float8 as covered_share,
        (coalesce(totals.public_value, 0) / nullif(totals.market_value, 0))::float8 as public_share,
        (coalesce(totals.options_value, 0) / nullif(totals.market_value, 0))::float8 as options_share,
        (coalesce(totals.private_value, 0) / nullif(totals.market_value, 0))::float8 as private_share,
        (coalesce(weighted.missing_value, 0) / nullif(totals.market_value, 0))::float8 as missing_share,
        coalesce(weighted.n_symbols_covered, 0)::integer as n_symbols_covered,
        coalesce(weighted.missing_symbols, '{}') as missing_symbols,
        factor_settings.run_id as computed_by_run
    from subject_portfolios
    inner join portfolios on subject_portfolios.portfolio_id = portfolios.portfolio_id
    cross join factors
    cross join factor_settings
    left join totals on subject_portfolios.portfolio_id = totals.portfolio_id
    left join weighted
        on
            subject_portfolios.portfolio_id = weighted.portfolio_id
            and factors.factor = weighted.factor
    where factor_settings.as_of_idx >= 0
)

select * from final
