-- The last closed session of a calendar at an instant (by default the project's clock,
-- ops.now(), see migration 0045): the one definition the refresh, the ingester, the status
-- and the views use.
create or replace function market.last_closed_session(
    p_calendar text, p_at timestamptz default ops.now()
)
returns table (session_date date, session_idx integer)
-- as its owner: the app views (security_invoker, read by folio_reader, who has no access to
-- schema market) call it for their freshness; it reads the public exchange calendar only
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select days.session_date, days.session_idx
    from market.trading_days as days
    where days.calendar = p_calendar and days.close_at <= p_at
    order by days.session_date desc
    limit 1
$$;
