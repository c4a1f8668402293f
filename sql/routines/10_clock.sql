-- The last closed session of a calendar at an instant (by default the project's clock,
-- ops.now(), see migration 0045): the one definition the refresh, the ingester, the status
-- and the views use.
create or replace function market.last_closed_session(
    p_calendar text, p_at timestamptz default ops.now()
)
returns table (session_date date, session_idx integer)
language sql stable as $$
    select days.session_date, days.session_idx
    from market.trading_days as days
    where days.calendar = p_calendar and days.close_at <= p_at
    order by days.session_date desc
    limit 1
$$;
