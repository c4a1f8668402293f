-- The risk blocks each refresh recomputes (int_portfolio_risk_blocks, int_portfolio_risk_to_date):
-- for every portfolio of the scope, the blocks from the one holding its first recomputed
-- session on. (A corrected risk-free proxy puts every portfolio in the scope from the
-- corrected session: ops.open_window.)
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
)

select
    scopes.portfolio_id,
    scopes.from_idx / {{ var('risk_block_sessions') }} as from_block
from scopes
