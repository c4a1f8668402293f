{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'block_no'],
        refresh_scope='portfolio_blocks_from_block',
    )
}}
-- One row per portfolio per block of risk_block_sessions consecutive sessions (block_no =
-- session_idx / risk_block_sessions): the risk piece of the portfolio's sessions in the block
-- (macros/risk_pieces.sql). fct_portfolio_risk combines a period's whole blocks with the few
-- sessions at its start, so no period reads its whole history again, and a night's new session
-- rewrites one block per portfolio. Recomputed per portfolio from the block of its first
-- recomputed session on (int_risk_block_scopes).
with block_scopes as (
    select * from {{ ref('int_risk_block_scopes') }}
),

portfolios as (
    select * from {{ ref('stg_core__portfolios') }}
),

factor_settings as (
    select * from {{ ref('int_factor_settings_pivoted') }}
),

symbol_returns as materialized (
    select * from {{ ref('int_risk_symbol_returns') }}
),

-- not materialized: read through its (portfolio_id, session_idx) key, one portfolio at a time
snapshots as not materialized (
    select * from {{ ref('fct_portfolio_snapshots') }}
),

final as (
    select
        block_scopes.portfolio_id,
        blocks.block_no,
        {{ risk_piece_columns('blocks') }},
        factor_settings.run_id as computed_by_run
    from block_scopes
    {{ join_risk_series('block_scopes.portfolio_id') }}
    cross join lateral ( -- noqa: ST05
        select
            path.piece as block_no,
            {{ risk_piece_aggregates('path') }}
        from (
            {{ risk_path(
                portfolio='block_scopes.portfolio_id',
                from_idx='block_scopes.from_block * ' ~ var('risk_block_sessions'),
                through_idx='factor_settings.as_of_idx',
                counted_from='block_scopes.from_block * ' ~ var('risk_block_sessions'),
                piece='snapshots.session_idx / ' ~ var('risk_block_sessions'),
            ) | indent(12) }}
        ) as path
        group by path.piece
    ) as blocks
)

select * from final
