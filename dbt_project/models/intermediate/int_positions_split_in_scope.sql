-- int_positions_in_scope with each quoted (PUBLIC) position cut at the market's splits of its
-- symbol (market.splits) while it is held: one row per position piece. A position's quantity,
-- entry price and exit price are as entered (the entry's terms for the quantity and the entry
-- price, the exit's for the exit price); stored closes are as-traded. So after a k:1 split
-- the next piece holds k× the units at 1/k of the entry price: value and cost are continuous
-- (docs/semantics.md, "Activities"). A cut is no flow: the piece that starts at a split enters
-- by it (enters_by_split), the one that ends there leaves by it (leaves_by_split). A split on
-- the exit session is in the exit price (sold after it): the last piece's exit price is the
-- price per unit of that piece. An entry or exit dated before an ex-date that counts on the
-- ex-date's session (a weekend, a closure) was made before the split, in the terms before it.
-- Options and PRIVATE positions are not cut.
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

-- an entry dated before an ex-date that counts on the ex-date's session (dated on a weekend
-- or a closure before it) was made in the terms before the split: its units are split from
-- the start (the entry piece's own ratio, no cut)
entry_splits as (
    select
        positions.portfolio_id,
        positions.position_id,
        ops.product(market_splits.ratio) as ratio
    from positions
    inner join market_splits
        on
            positions.symbol = market_splits.symbol
            and positions.entry_date < market_splits.ex_date
    inner join calendar_dates
        on
            market_splits.ex_date = calendar_dates.calendar_date
            and positions.entry_idx = calendar_dates.session_idx
    where positions.investment_class = 'PUBLIC'
    group by positions.portfolio_id, positions.position_id
),

-- where each position's pieces start: its entry, and each split after its entry session and
-- before its exit session
starts as (
    select
        positions.*,
        positions.entry_idx as start_idx,
        positions.entry_date as start_date,
        null::numeric as start_ratio,
        entry_splits.ratio as entry_ratio
    from positions
    left join entry_splits
        on
            positions.portfolio_id = entry_splits.portfolio_id
            and positions.position_id = entry_splits.position_id
    union all
    select
        positions.*,
        split_sessions.session_idx,
        split_sessions.ex_date,
        split_sessions.ratio,
        null::numeric as entry_ratio
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
        ops.product(coalesce(starts.start_ratio, starts.entry_ratio, 1)) over (
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
            -- an exit dated before the ex-date (counting on its session) sold before the split
            and pieces.exit_date >= exit_splits.ex_date
)

select * from final
