-- FX rates' "not in the future" rule reads the same clock as every other rule (ops.today(), see
-- migration 0045), not the wall clock: migration 0240 wrote it with current_date, so a database
-- pinned to an earlier "today" accepted a rate dated after it.
alter table market.fx_rates drop constraint rate_not_in_future;
alter table market.fx_rates
    add constraint rate_not_in_future check (rate_date <= ops.today());
