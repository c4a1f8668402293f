{{
    config(
        materialized='foliodb_refresh',
        unique_key=['portfolio_id', 'block_no'],
        refresh_scope='portfolio_blocks_from_block',
    )
}}
-- One row per portfolio per risk block: the risk piece of the portfolio's history from its
-- first session through the end of the block (the first session on the wealth path, returns
-- from the second on). A period that starts at the portfolio's first session (MAX, and every
-- period longer than the portfolio) is the one row at END's block, however long the history.
-- Chained block by block (macros/risk_pieces.sql, risk_piece_combine) from the row kept before
-- the recomputed blocks (int_risk_block_scopes), or from the portfolio's first block, which is
-- summarized from the snapshots.
with recursive block_scopes as (
    select * from {{ ref('int_risk_block_scopes') }}
),

blocks as not materialized (
    select * from {{ ref('int_portfolio_risk_blocks') }}
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

starts as (
    select
        block_scopes.portfolio_id,
        block_scopes.from_block,
        (
            select min(snapshots.session_idx) from snapshots
            where snapshots.portfolio_id = block_scopes.portfolio_id
        ) as first_idx
    from block_scopes
),

-- the chain's first link: the kept row just before the recomputed blocks, or, when the
-- portfolio's first block is recomputed, that block without its first session's return
seeds as (
    select
        kept.portfolio_id,
        kept.block_no,
        {{ risk_piece_columns('kept') }}
    from {{ this }} as kept
    inner join starts
        on
            kept.portfolio_id = starts.portfolio_id
            and kept.block_no = starts.from_block - 1
    where starts.first_idx / {{ var('risk_block_sessions') }} < starts.from_block
    union all
    select
        starts.portfolio_id,
        starts.first_idx / {{ var('risk_block_sessions') }} as block_no,
        {{ risk_piece_columns('first_block') }}
    from starts
    {{ join_risk_series('starts.portfolio_id') }}
    cross join {{ risk_head_piece('starts.portfolio_id', 'starts.first_idx') }} as first_block
    where starts.first_idx / {{ var('risk_block_sessions') }} >= starts.from_block
),

-- each next block combined onto the history before it
chained as (
    select * from seeds
    union all
    select
        chained.portfolio_id,
        blocks.block_no,
        {{ risk_piece_combine('chained', 'blocks') | indent(8) }}
    from chained
    inner join blocks
        on
            chained.portfolio_id = blocks.portfolio_id
            and chained.block_no + 1 = blocks.block_no
),

final as (
    select
        chained.*,
        factor_settings.run_id as computed_by_run
    from chained
    inner join starts on chained.portfolio_id = starts.portfolio_id
    cross join factor_settings
    where chained.block_no >= starts.from_block
)

select * from final
