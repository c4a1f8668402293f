-- ops.currencies_needed (sql/routines/45_fx.sql) reads the activities whose cash is kept in
-- another currency than USD by this key, not by a scan of every activity.
create index activities_foreign_cash on core.activities (portfolio_id, activity_date)
where fx_rate is null and currency <> 'USD';
