-- A portfolio refresh (onboarding) recomputes the series of its symbols that are queued (their
-- filled closes, returns and conversions from the queued date) and leaves the entries queued:
-- the next incremental refresh still recomputes every other holder. Until then, every further
-- portfolio refresh of a holder recomputed the same series again, unchanged (at 1,000
-- portfolios, 60 ms of an onboarding's 240). series_current marks an entry whose series a
-- portfolio refresh has recomputed since it was queued; portfolio refreshes skip such entries,
-- incremental ones read every entry as before (ops.open_window).
alter table ops.dirty_symbols add column series_current boolean not null default false;
