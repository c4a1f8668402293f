{{
    config(
        materialized='view',
        schema='app',
        grants={'select': ['folio_reader']},
        post_hook=["alter view {{ this }} set (security_invoker = true)"],
    )
}}
{%- set periods = ['1D', '5D', '1M', '3M', '6M', 'YTD', '1Y', '5Y', 'MAX'] %}
-- Read contract: one row per portfolio, its latest snapshot and every period's return
-- against the benchmark. Read it with `where portfolio_id = $1`: a primary-key lookup of the
-- portfolio, of its nine chart rows and of its latest snapshot.
with portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

chart_caches as (
    select * from {{ ref('fct_chart_caches') }}
),

snapshots as (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

settings as (
    select * from {{ source('ops_ledger', 'settings') }}
),

dirty_portfolios as (
    select * from {{ source('ops_ledger', 'dirty_portfolios') }}
),

-- not materialized: a portfolio's positions and its symbols' closes at END, looked up by key,
-- only for a portfolio whose oldest close is older than the setting
positions as not materialized (
    select * from {{ ref('int_positions_resolved') }}
),

prices_filled as not materialized (
    select * from {{ ref('int_prices_filled_daily') }}
),

-- a holding priced from a close more than this many sessions old is a stale price
stale_limit as (
    select
        coalesce(
            (
                select settings.value::integer from settings
                where settings.key = 'stale_price_sessions'
            ), 5
        ) as stale_price_sessions
),

-- the last session of the calendar that has closed, now (not when the refresh ran)
last_closed as (
    select max(closed.session_date) as session_date
    from settings
    cross join lateral market.last_closed_session(settings.value) as closed
    where settings.key = 'calendar'
),

final as (
    select
        portfolios.portfolio_id,
        portfolios.portfolio_name,
        -- another user's id is not exposed (the row is visible when the portfolio is public).
        -- A private portfolio is visible only to its user and the operator (the policy on
        -- core.portfolios), so its user_id is theirs to see, asking nobody; the acting user
        -- is asked (once per read: InitPlans) only for a public portfolio.
        case
            when
                not portfolios.is_public
                or (select app.acts_for_everyone())
                or portfolios.user_id = (select app.acting_user_id())
                then portfolios.user_id
        end as user_id,
        portfolios.is_public,
        portfolios.benchmark_symbol,
        periods.as_of,
        latest.market_value,
        latest.cost_basis,
        latest.unrealized_pnl,
        latest.positions_held,
        latest.daily_return,
        latest.cum_twr,
        latest.benchmark_cum_return,
        latest.n_close,
        latest.n_stale,
        latest.max_stale_sessions,
        latest.n_entry,
        latest.n_manual,
        -- each period's return against the benchmark, and in parts (docs/semantics.md, "Chart
        -- caches"): local price, currency, income, costs, which sum to twr_<period>; the
        -- benchmark's return in its own currency beside its return in the base
        {%- for period in periods %}
            periods.twr_{{ period | lower }},
            periods.benchmark_{{ period | lower }},
            periods.excess_{{ period | lower }},
            periods.price_return_{{ period | lower }},
            periods.currency_return_{{ period | lower }},
            periods.income_return_{{ period | lower }},
            periods.cost_return_{{ period | lower }},
            periods.benchmark_local_{{ period | lower }},
        {%- endfor %}
        periods.partial_periods,
        periods.as_of is not null as has_analytics,
        -- two facts, two names: the refresh is behind (the last snapshot is before the last
        -- closed session while something is still held), and some holdings are priced from
        -- closes older than stale_price_sessions sessions (how many, and the oldest)
        coalesce(periods.as_of < last_closed.session_date and latest.positions_held > 0, false)
            as is_refresh_behind,
        coalesce(periods.as_of < last_closed.session_date and latest.positions_held > 0, false) as is_stale,
        stale_limit.stale_price_sessions,
        coalesce(stale_prices.n_stale_prices, 0) as n_stale_prices,
        coalesce(stale_prices.n_stale_prices, 0) > 0 as has_stale_prices,
        exists(
            select from dirty_portfolios
            where dirty_portfolios.portfolio_id = portfolios.portfolio_id
        ) as is_refresh_pending,
        last_closed.session_date as last_closed_session,
        periods.computed_by_run,
        -- the ledger's (docs/semantics.md, "Activities"): cash at END, and sums since the first
        -- session (0 for positions)
        latest.cash_balance,
        latest.income_to_date,
        latest.costs_to_date,
        latest.realized_gain_to_date,
        -- currencies (docs/semantics.md, "Currencies"): what the money figures are in, and how
        -- the holdings in other currencies were converted at END
        portfolios.base_currency,
        latest.n_fx_session,
        latest.n_fx_last_rate,
        latest.n_fx_none,
        latest.max_fx_stale_sessions,
        latest.n_fx_activity
    from portfolios
    left join lateral (
        select
            max(chart_caches.end_idx) as end_idx,
            max(chart_caches.as_of) as as_of,
            max(chart_caches.computed_by_run) as computed_by_run,
            {%- for period in periods %}
                max(chart_caches.period_twr) filter (where chart_caches.period = '{{ period }}') as twr_{{ period | lower }},
                max(chart_caches.benchmark_return) filter (
                    where chart_caches.period = '{{ period }}'
                ) as benchmark_{{ period | lower }},
                max(chart_caches.excess_return) filter (
                    where chart_caches.period = '{{ period }}'
                ) as excess_{{ period | lower }},
            {%- endfor %}
            {%- for period in periods %}
                {%- for part in ['price', 'currency', 'income', 'cost'] %}
                    max(chart_caches.{{ part }}_return) filter (
                        where chart_caches.period = '{{ period }}'
                    ) as {{ part }}_return_{{ period | lower }},
                {%- endfor %}
                max(chart_caches.benchmark_return_local) filter (
                    where chart_caches.period = '{{ period }}'
                ) as benchmark_local_{{ period | lower }},
            {%- endfor %}
            array_agg(chart_caches.period order by chart_caches.period_order) filter (
                where chart_caches.is_partial
            ) as partial_periods
        from chart_caches
        where chart_caches.portfolio_id = portfolios.portfolio_id
    ) as periods on true
    left join snapshots as latest
        on
            portfolios.portfolio_id = latest.portfolio_id
            and periods.end_idx = latest.session_idx
    cross join last_closed
    cross join stale_limit
    -- the held PUBLIC and OPTIONS positions valued at END from a close older than the limit
    -- (the snapshot's stale rule: its symbol's close at END is carried forward). Read only
    -- when the snapshot says its oldest close is older than the limit: the test on the
    -- snapshot is a one-time filter of the lateral, so a portfolio with fresh prices reads
    -- no positions at all (a join condition would count them first, then drop the count).
    left join lateral (
        select count(*)::integer as n_stale_prices
        from positions
        inner join prices_filled
            on
                positions.symbol = prices_filled.symbol
                and periods.end_idx = prices_filled.session_idx
        where
            latest.max_stale_sessions > stale_limit.stale_price_sessions
            and positions.portfolio_id = portfolios.portfolio_id
            and positions.investment_class <> 'PRIVATE'
            and positions.entry_idx <= periods.end_idx
            and coalesce(positions.exit_idx, 2147483647) > periods.end_idx
            and prices_filled.stale_sessions > stale_limit.stale_price_sessions
    ) as stale_prices on true
)

select * from final
