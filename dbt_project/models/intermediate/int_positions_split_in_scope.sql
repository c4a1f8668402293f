-- int_positions_in_scope with each quoted (PUBLIC) position cut at the market's splits of its
-- symbol (market.splits) while it is held: one row per position piece. A position's quantity,
-- entry price and exit price are as entered (the entry's terms for the quantity and the entry
-- price, the exit's for the exit price); stored closes are as-traded. So after a k:1 split
-- the next piece holds k× the units at 1/k of the entry price: value and cost are continuous
-- (docs/semantics.md, "Activities"). A cut is no flow: the piece that starts at a split enters
-- by it (enters_by_split), the one that ends there leaves by it (leaves_by_split). A split on
-- the exit session is in the exit price (sold after it): the last piece's exit price is the
-- price per unit of that piece. Options and PRIVATE positions are not cut.
with positions as not materialized (
    select * from {{ ref('int_positions_in_scope') }}
),

market_splits as not materialized (
    select * from {{ ref('stg_market__splits') }}
),

calendar_dates as not materialized (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

-- the market's splits of the positions' symbols, per session (two ex-dates mapped to one
-- session multiply)
split_sessions as (
    select
        market_splits.symbol,
        calendar_dates.session_idx,
        min(market_splits.ex_date) as ex_date,
        ops.product(market_splits.ratio) as ratio
    from market_splits
    inner join calendar_dates on market_splits.ex_date = calendar_dates.calendar_date
    where
        market_splits.symbol in (
            select positions.symbol from positions
            where positions.investment_class = 'PUBLIC'
        )
    group by market_splits.symbol, calendar_dates.session_idx
),

-- where each position's pieces start: its entry, and each split after its entry session and
-- before its exit session
starts as (
    select
        positions.*,
        positions.entry_idx as start_idx,
        positions.entry_date as start_date,
        null::numeric as start_ratio
    from positions
    union all
    select
        positions.*,
        split_sessions.session_idx,
        split_sessions.ex_date,
        split_sessions.ratio
    from positions
    inner join split_sessions
        on
            positions.symbol = split_sessions.symbol
            and positions.investment_class = 'PUBLIC'
            and positions.entry_idx < split_sessions.session_idx
            and coalesce(positions.exit_idx, 2147483647) > split_sessions.session_idx
),

pieces as (
    select
        starts.*,
        lead(starts.start_idx) over position_pieces as next_start_idx,
        lead(starts.start_date) over position_pieces as next_start_date,
        -- the ratios of the splits so far: units of the piece per unit entered
        ops.product(coalesce(starts.start_ratio, 1)) over (
            position_pieces rows between unbounded preceding and current row
        ) as factor
    from starts
    window position_pieces as (partition by starts.portfolio_id, starts.position_id order by starts.start_idx)
),

final as (
    select
        pieces.portfolio_id,
        pieces.position_id,
        pieces.symbol,
        pieces.investment_class,
        pieces.quantity * pieces.factor as quantity,
        pieces.entry_price / pieces.factor as entry_price,
        case
            when pieces.next_start_idx is null then pieces.exit_price * coalesce(exit_splits.ratio, 1)
        end as exit_price,
        pieces.start_date as entry_date,
        coalesce(pieces.next_start_date, pieces.exit_date) as exit_date,
        pieces.multiplier,
        pieces.start_idx as entry_idx,
        coalesce(pieces.next_start_idx, pieces.exit_idx) as exit_idx,
        pieces.expiry_idx,
        pieces.expiry_value,
        pieces.start_ratio is not null as enters_by_split,
        pieces.next_start_idx is not null as leaves_by_split,
        -- the ratio of the split the piece starts at (its units per unit of the piece before)
        pieces.start_ratio as entry_split_ratio
    from pieces
    left join split_sessions as exit_splits
        on
            pieces.symbol = exit_splits.symbol
            and pieces.investment_class = 'PUBLIC'
            and pieces.next_start_idx is null
            and pieces.exit_idx = exit_splits.session_idx
            and pieces.exit_idx > pieces.entry_idx
)

select * from final
