{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'piece_no'],
        refresh_scope='portfolios',
        chunk_by_portfolio=true,
        refresh_keep='lot_inputs_unchanged',
        refresh_empty_without=['int_activities_in_base'],
    )
}}
-- The ledger's lots: one row per lot piece of every ledger, shaped like
-- int_positions_in_scope (what the snapshot engine values), flagged is_ledger: their flows are
-- the cash model's (int_cash_daily), not the lots'. Recomputed whole for each portfolio in the
-- refresh's scope (a FIFO match depends on every trade of the symbol), once per refresh: the
-- snapshots, the cash and the holdings read the stored pieces by portfolio_id. A portfolio
-- whose lot inputs did not change (lot_inputs_digests: its activities naming a symbol, its
-- cost method, its symbols' market splits, this SQL) keeps its pieces: the refresh's delete
-- leaves them (refresh_keep) and they are not computed again.
--
-- FIFO (cost_method 'fifo', the default), set-based: per portfolio and symbol, buys (and transfers in) cover the intervals of
-- cumulative units [from, to); sells (and transfers out) too; a lot piece is the overlap of a
-- buy's interval with a sell's (sold on the sell's session at its price), and what is left of a
-- buy past the total sold is open. Units are counted in the symbol's latest terms (times the
-- ratios of the later splits, the ledger's and the market's: exact), so splits do not break
-- the matching.
-- Prices are in the base currency: a trade paid from cash in another currency (no fx_rate)
-- at its session's factor into the base (foreign_cash_trades), so costs and realized gains
-- are in the base; with no rate at all its price is unknown (null): the piece's cost, and the
-- gain a sale of it realizes, are left out downstream.
-- Average cost ('average'): per symbol, the units held after each trade are one pool at its
-- moving average cost; a piece is the pool between two trades. The pool's cost is a running
-- product and sum (no loop): after trade k, cost(k) = M(k) × Σ over buys j ≤ k of q·p / M(j),
-- where M is the running product of (units after / units before) over the sells, counted per
-- episode (from the first buy to the sell that empties the pool).
-- A piece is cut at each split while held: after a 4:1 split it holds 4x the units at 1/4 of
-- the price, so value and cost are continuous (docs/semantics.md, "Activities").
-- the chunk's portfolios whose pieces the delete did not keep
with scopes as (
    select chunks.*
    from {{ ref('stg_ops__refresh_scope_chunks') }} as chunks
    where not exists (
        select from {{ this }} as kept
        where kept.portfolio_id = chunks.portfolio_id
    )
),

-- (materialized: inlined into the join with the pieces, the digest's subqueries ran per piece)
digests as materialized (
    select * from {{ lot_inputs_digests('scopes') }} as digests
),

activities as not materialized (
    select * from {{ ref('int_activities_in_base') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

calendar_dates as not materialized (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

mapped as (
    select
        activities.*,
        calendar_dates.session_idx
    from activities
    inner join calendar_dates on activities.activity_date = calendar_dates.calendar_date
),

-- the trades paid from cash in another currency, with the factor of their session into the
-- base (docs/semantics.md, "A trade paid from cash in another currency"): their prices in the
-- base are their price times it; without a rate, unknown (null), never at 1.0
trades_fx as materialized (
    select * from {{ foreign_cash_trades('scopes') }} as trades_fx
),

market_splits as not materialized (
    select * from {{ ref('stg_market__splits') }}
),

ledger_splits as (
    select
        portfolio_id,
        symbol,
        activity_date,
        session_idx,
        quantity as ratio
    from mapped
    where activity_type = 'SPLIT'
),

traded_symbols as (
    select distinct
        portfolio_id,
        symbol
    from mapped
    where symbol is not null
),

-- the ledger's splits, and the market's for every symbol it trades; a SPLIT activity dated on
-- the market split's ex-date is that split (counted once)
splits as (
    select * from ledger_splits
    union all
    select
        traded_symbols.portfolio_id,
        traded_symbols.symbol,
        market_splits.ex_date,
        calendar_dates.session_idx,
        market_splits.ratio
    from traded_symbols
    inner join market_splits on traded_symbols.symbol = market_splits.symbol
    inner join calendar_dates on market_splits.ex_date = calendar_dates.calendar_date
    where not exists (
        select from ledger_splits
        where
            ledger_splits.portfolio_id = traded_symbols.portfolio_id
            and ledger_splits.symbol = market_splits.symbol
            and ledger_splits.activity_date = market_splits.ex_date
    )
),

-- each trade with the product of the ratios of the splits after its date
trades as (
    select
        mapped.portfolio_id,
        mapped.activity_id,
        mapped.activity_type,
        mapped.symbol,
        mapped.activity_date,
        mapped.session_idx,
        mapped.quantity * coalesce(later.factor, 1) as latest_units,
        -- in the base: a trade paid from cash in another currency at its session's factor
        mapped.unit_price * case when trades_fx.activity_id is null then 1 else trades_fx.fx_rate end
        / coalesce(later.factor, 1) as latest_price,
        mapped.activity_type in ('BUY', 'TRANSFER_IN') as is_opening,
        -- on one date, buys and transfers in count before sells and transfers out
        case when mapped.activity_type in ('BUY', 'TRANSFER_IN') then 0 else 1 end as day_order,
        portfolios.cost_method
    from mapped
    inner join portfolios on mapped.portfolio_id = portfolios.portfolio_id
    left join trades_fx on mapped.activity_id = trades_fx.activity_id
    left join lateral (
        select ops.product(splits.ratio) as factor
        from splits
        where
            splits.portfolio_id = mapped.portfolio_id
            and splits.symbol = mapped.symbol
            and splits.activity_date > mapped.activity_date
    ) as later on true
    where mapped.activity_type in ('BUY', 'SELL', 'TRANSFER_IN', 'TRANSFER_OUT') and mapped.symbol is not null
),

cumulative as (
    select
        trades.*,
        sum(trades.latest_units) over (
            partition by trades.portfolio_id, trades.symbol, trades.is_opening
            order by trades.activity_date, trades.activity_id
            rows between unbounded preceding and current row
        ) as units_to
    from trades
),

buys as (
    select
        *,
        units_to - latest_units as units_from
    from cumulative
    where is_opening and cost_method = 'fifo'
),

sells as (
    select
        *,
        units_to - latest_units as units_from
    from cumulative
    where not is_opening and cost_method = 'fifo'
),

-- average cost: the pool after each trade, in date order (on one date buys first)
pooled as (
    select
        trades.*,
        sum(case when trades.is_opening then trades.latest_units else -trades.latest_units end) over (
            partition by trades.portfolio_id, trades.symbol
            order by trades.activity_date, trades.day_order, trades.activity_id
            rows between unbounded preceding and current row
        ) as units_after,
        row_number() over (
            partition by trades.portfolio_id, trades.symbol
            order by trades.activity_date, trades.day_order, trades.activity_id
        ) as trade_number
    from trades
    where trades.cost_method = 'average'
),

-- an episode ends with the trade that empties the pool
episodes as (
    select
        pooled.*,
        pooled.units_after + case when pooled.is_opening then -pooled.latest_units else pooled.latest_units end
            as units_before,
        coalesce(
            count(*) filter (where pooled.units_after <= 0) over (
                partition by pooled.portfolio_id, pooled.symbol
                order by pooled.trade_number
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as episode
    from pooled
),

-- M: the running product of the sells' kept shares of the pool (a sell of more than is held
-- keeps nothing); a buy adds its cost divided by M, so M × the sum is the pool's cost
scaled as (
    select
        episodes.*,
        ops.product(
            case
                when episodes.is_opening then 1
                when episodes.units_before > 0 then greatest(episodes.units_after, 0) / episodes.units_before
            end
        ) over episode_so_far as kept
    from episodes
    window episode_so_far as (
        partition by episodes.portfolio_id, episodes.symbol, episodes.episode
        order by episodes.trade_number
        rows between unbounded preceding and current row
    )
),

-- (a buy of unknown cost, paid from cash in another currency with no rate, leaves the pool's
-- cost unknown until the pool empties)
costed as (
    select
        scaled.*,
        case
            when not bool_or(scaled.is_opening and scaled.latest_price is null) over episode_so_far
                then scaled.kept * sum(
                    case when scaled.is_opening then scaled.latest_units * scaled.latest_price / scaled.kept end
                ) over episode_so_far
        end as pool_cost
    from scaled
    window episode_so_far as (
        partition by scaled.portfolio_id, scaled.symbol, scaled.episode
        order by scaled.trade_number
        rows between unbounded preceding and current row
    )
),

averaged as (
    select
        costed.*,
        case when costed.units_after > 0 then costed.pool_cost / costed.units_after end as average_cost,
        lead(costed.activity_id) over symbol_trades as next_activity_id,
        lead(costed.activity_type) over symbol_trades as next_type,
        lead(costed.activity_date) over symbol_trades as next_date,
        lead(costed.session_idx) over symbol_trades as next_idx,
        lead(costed.latest_price) over symbol_trades as next_price,
        lead(costed.latest_units) over symbol_trades as next_units,
        lead(costed.is_opening) over symbol_trades as next_is_opening
    from costed
    window symbol_trades as (partition by costed.portfolio_id, costed.symbol order by costed.trade_number)
),

-- a piece per pool between two trades; the next trade, when a sale, realizes
-- (sell price − average cost) × units sold (at most what the pool holds)
average_segments as (
    select
        portfolio_id,
        activity_id as opened_by,
        next_activity_id as closed_by,
        symbol,
        activity_date as entry_date,
        session_idx as entry_idx,
        average_cost as entry_latest_price,
        next_date as exit_date,
        next_idx as exit_idx,
        next_price as exit_latest_price,
        units_after as latest_units,
        case
            when next_type = 'SELL'
                then least(next_units, units_after) * (next_price - average_cost)
        end as realized_gain
    from averaged
    where units_after > 0
),

-- FIFO matching without a pairwise join: the ends of the buys' and of the sells' cumulative
-- intervals, in order. Between two consecutive ends the units belong to exactly one buy (the
-- one whose interval ends at the next end at or above) and to at most one sell (none past
-- everything sold: still open). Counting the buys' (and the sells') ends from the top gives
-- each stretch its owners.
fifo_ends as (
    select
        portfolio_id,
        symbol,
        units_to as point,
        activity_id as buy_id,
        activity_date as buy_date,
        session_idx as buy_idx,
        latest_price as buy_price,
        null::bigint as sell_id,
        null::date as sell_date,
        null::integer as sell_idx,
        null::numeric as sell_price,
        null::boolean as is_sale
    from buys
    union all
    select
        portfolio_id,
        symbol,
        units_to,
        null,
        null,
        null,
        null,
        activity_id,
        activity_date,
        session_idx,
        latest_price,
        activity_type = 'SELL'
    from sells
),

fifo_groups as (
    select
        fifo_ends.*,
        count(fifo_ends.buy_id) over from_top as buy_group,
        count(fifo_ends.sell_id) over from_top as sell_group
    from fifo_ends
    window from_top as (
        partition by fifo_ends.portfolio_id, fifo_ends.symbol
        order by fifo_ends.point desc
        range between unbounded preceding and current row
    )
),

-- each end with its stretch's buy and sell (the one end of each group that names it)
fifo_owners as (
    select
        portfolio_id,
        symbol,
        point,
        max(buy_id) over buy_stretch as buy_id,
        max(buy_date) over buy_stretch as buy_date,
        max(buy_idx) over buy_stretch as buy_idx,
        max(buy_price) over buy_stretch as buy_price,
        case when sell_group > 0 then max(sell_id) over sell_stretch end as sell_id,
        case when sell_group > 0 then max(sell_date) over sell_stretch end as sell_date,
        case when sell_group > 0 then max(sell_idx) over sell_stretch end as sell_idx,
        case when sell_group > 0 then max(sell_price) over sell_stretch end as sell_price,
        case when sell_group > 0 then bool_or(is_sale) over sell_stretch end as is_sale
    from fifo_groups
    window
        buy_stretch as (partition by portfolio_id, symbol, buy_group),
        sell_stretch as (partition by portfolio_id, symbol, sell_group)
),

fifo_points as (
    select distinct *
    from fifo_owners
),

fifo_stretches as (
    select
        *,
        point - coalesce(lag(point) over (partition by portfolio_id, symbol order by point), 0) as units
    from fifo_points
),

-- a sell consumes only lots bought on or before it (a sell of more than held is refused at
-- import; a stored one matches nothing past the lots it has)
segments as (
    select
        portfolio_id,
        buy_id as opened_by,
        sell_id as closed_by,
        symbol,
        buy_date as entry_date,
        buy_idx as entry_idx,
        buy_price as entry_latest_price,
        sell_date as exit_date,
        sell_idx as exit_idx,
        sell_price as exit_latest_price,
        sum(units) as latest_units,
        -- realized by a sale (a transfer out realizes nothing): (sell price − cost) × units
        case when bool_or(is_sale) then sum(units) * (sell_price - buy_price) end as realized_gain
    from fifo_stretches
    where units > 0 and buy_id is not null and (sell_id is null or buy_date <= sell_date)
    group by
        portfolio_id, buy_id, sell_id, symbol, buy_date, buy_idx, buy_price, sell_date, sell_idx, sell_price
    union all
    select
        portfolio_id,
        opened_by,
        closed_by,
        symbol,
        entry_date,
        entry_idx,
        entry_latest_price,
        exit_date,
        exit_idx,
        exit_latest_price,
        latest_units,
        realized_gain
    from average_segments
),

-- where each segment's pieces start: its entry, and each split of its symbol while it is held;
-- a piece holds the latest units divided by the ratios of the splits after its start
cuts as (
    select
        segments.*,
        cut.cut_idx,
        cut.cut_date
    from segments
    cross join lateral (
        select
            segments.entry_idx as cut_idx,
            segments.entry_date as cut_date
        union all
        select
            splits.session_idx,
            splits.activity_date
        from splits
        where
            splits.portfolio_id = segments.portfolio_id
            and splits.symbol = segments.symbol
            and splits.activity_date > segments.entry_date
            and splits.session_idx < coalesce(segments.exit_idx, 2147483647)
    ) as cut
),

pieces as (
    select
        cuts.*,
        lead(cuts.cut_idx) over (
            partition by cuts.portfolio_id, cuts.opened_by, cuts.closed_by order by cuts.cut_idx
        ) as next_cut_idx,
        coalesce(later.factor, 1) as later_factor
    from cuts
    left join lateral (
        select ops.product(splits.ratio) as factor
        from splits
        where
            splits.portfolio_id = cuts.portfolio_id
            and splits.symbol = cuts.symbol
            and splits.activity_date > cuts.cut_date
    ) as later on true
    where cuts.latest_units > 0
),

final as (
    select
        pieces.portfolio_id,
        -- a stable key per portfolio: the lot, the trade that closes it, the cut
        row_number() over (
            partition by pieces.portfolio_id
            order by pieces.opened_by, pieces.closed_by nulls last, pieces.cut_idx
        )::integer as piece_no,
        null::bigint as position_id,
        pieces.symbol,
        'PUBLIC'::text as investment_class,
        pieces.latest_units / pieces.later_factor as quantity,
        pieces.entry_latest_price * pieces.later_factor as entry_price,
        case
            when pieces.next_cut_idx is null then pieces.exit_latest_price * pieces.later_factor
        end as exit_price,
        pieces.cut_date as entry_date,
        case when pieces.next_cut_idx is null then pieces.exit_date end as exit_date,
        1 as multiplier,
        pieces.cut_idx as entry_idx,
        coalesce(pieces.next_cut_idx, pieces.exit_idx) as exit_idx,
        null::integer as expiry_idx,
        null::numeric as expiry_value,
        true as is_ledger,
        pieces.opened_by,
        pieces.closed_by,
        -- realized by the trade that closes the piece (on its last cut)
        case when pieces.next_cut_idx is null then pieces.realized_gain end as realized_gain,
        digests.inputs_digest
    from pieces
    inner join digests on pieces.portfolio_id = digests.portfolio_id
)

select * from final
