-- the risk_piece_combine macro on given pieces a and b (unit tests only, never built);
-- computed in the given types (numeric: exact), shown as float8 to compare by value
with risk_pieces as (
    select * from {{ source('macro_checks', 'risk_pieces') }}
),

combined as (
    select
        first_piece.case_id,
        pieces.*
    from risk_pieces as first_piece
    inner join risk_pieces as second_piece
        on
            first_piece.case_id = second_piece.case_id
            and first_piece.piece = 'a'
            and second_piece.piece = 'b'
    cross join lateral ( -- noqa: ST05
        select {{ risk_piece_combine('first_piece', 'second_piece') }}
    ) as pieces (
        first_idx, last_idx, n_returns, mean_return, m2_return, n_quoted, mean_excess, m2_excess,
        mean_risk_free, n_pairs, mean_pair_return, mean_benchmark, m2_pair_return,
        m2_benchmark, co_moment, best_day, worst_day, high_point, low_point, deepest
    )
),

final as (
    select
        combined.case_id,
        combined.first_idx,
        combined.last_idx,
        combined.n_returns,
        combined.mean_return::float8 as mean_return,
        combined.m2_return::float8 as m2_return,
        combined.n_pairs,
        combined.co_moment::float8 as co_moment,
        combined.best_day[1]::float8 as best_return,
        (-combined.best_day[2])::integer as best_idx,
        combined.worst_day[1]::float8 as worst_return,
        combined.worst_day[2]::integer as worst_idx,
        combined.deepest[1]::float8 as max_drawdown,
        combined.deepest[2]::integer as trough_idx,
        (-combined.deepest[3])::integer as peak_idx
    from combined
)

select * from final
