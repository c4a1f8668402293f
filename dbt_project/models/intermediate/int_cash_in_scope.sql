-- The ledger's cash of the portfolios of the refresh in progress: one row per portfolio per
-- session with activities. What each activity does to cash, to the external flows and to
-- income and costs (docs/semantics.md, "Activities"):
--   BUY −(q·p + fee); SELL +(q·p − fee); DIVIDEND, INTEREST +amount − fee (income);
--   FEE, TAX −amount − fee (costs); DEPOSIT +amount − fee, WITHDRAWAL −amount − fee (flows);
--   TRANSFER_IN/OUT of cash: as a deposit/withdrawal; of securities: no cash, a flow at the
--   stated value q·p; every fee is a cost.
-- A debit with no cash to pay it is funded by an implicit deposit: the cash balance would go
-- below zero, so the running minimum of the cumulative cash change, once below zero, is the
-- total deposited implicitly (an inflow on the session it grows). A ledger of buys alone
-- therefore has no cash and flows equal to its buys: the positions semantics.
with scopes as (
    select * from {{ ref('stg_ops__refresh_scopes') }}
),

activities as not materialized (
    select * from {{ ref('stg_core__activities') }}
    where portfolio_id in (select scopes.portfolio_id from scopes)
),

calendar_dates as not materialized (
    select * from {{ ref('int_calendar_dates_mapped') }}
),

effects as (
    select
        activities.portfolio_id,
        calendar_dates.session_idx,
        case
            when activities.activity_type = 'BUY' then -activities.quantity * activities.unit_price
            when activities.activity_type = 'SELL' then activities.quantity * activities.unit_price
            when activities.activity_type in ('DIVIDEND', 'INTEREST', 'DEPOSIT') then activities.amount
            when activities.activity_type in ('FEE', 'TAX', 'WITHDRAWAL') then -activities.amount
            when activities.activity_type = 'TRANSFER_IN' then coalesce(activities.amount, 0)
            when activities.activity_type = 'TRANSFER_OUT' then -coalesce(activities.amount, 0)
            else 0
        end - activities.fee as cash_change,
        case
            when activities.activity_type in ('DEPOSIT', 'TRANSFER_IN')
                then coalesce(activities.amount, activities.quantity * activities.unit_price)
            else 0
        end as external_inflow,
        case
            when activities.activity_type in ('WITHDRAWAL', 'TRANSFER_OUT')
                then coalesce(activities.amount, activities.quantity * activities.unit_price)
            else 0
        end as external_outflow,
        case when activities.activity_type in ('DIVIDEND', 'INTEREST') then activities.amount else 0 end as income,
        case when activities.activity_type in ('FEE', 'TAX') then activities.amount else 0 end
        + activities.fee as costs
    from activities
    inner join calendar_dates on activities.activity_date = calendar_dates.calendar_date
),

per_session as (
    select
        portfolio_id,
        session_idx,
        sum(cash_change) as cash_change,
        sum(external_inflow) as external_inflow,
        sum(external_outflow) as external_outflow,
        sum(income) as income,
        sum(costs) as costs
    from effects
    group by portfolio_id, session_idx
),

cumulated as (
    select
        per_session.*,
        sum(per_session.cash_change) over (
            partition by per_session.portfolio_id
            order by per_session.session_idx
            rows between unbounded preceding and current row
        ) as cumulative_change
    from per_session
),

-- the total deposited implicitly up to each session: what keeps the balance at or above zero
funded as (
    select
        cumulated.*,
        greatest(
            0,
            -min(cumulated.cumulative_change) over (
                partition by cumulated.portfolio_id
                order by cumulated.session_idx
                rows between unbounded preceding and current row
            )
        ) as implicit_total
    from cumulated
),

final as (
    select
        portfolio_id,
        session_idx,
        implicit_total - coalesce(
            lag(implicit_total) over (partition by portfolio_id order by session_idx), 0
        ) as implicit_deposit,
        cash_change,
        external_inflow,
        external_outflow,
        income,
        costs
    from funded
)

select
    portfolio_id,
    session_idx,
    -- the session's change of the cash balance, implicit deposit included
    cash_change + implicit_deposit as cash_change,
    -- external flows: deposits and transfers in (and the implicit deposit), withdrawals and
    -- transfers out
    external_inflow + implicit_deposit as inflow,
    external_outflow as outflow,
    implicit_deposit,
    income,
    costs
from final
