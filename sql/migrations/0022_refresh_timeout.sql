-- A full rebuild at 10k portfolios × 5 years runs one statement for minutes on 2 cores:
-- 10 minutes was too tight a ceiling for it. statement_timeout stays, as the guard against a
-- statement that hangs.
update ops.settings
set value = '45min'
where key = 'refresh_statement_timeout' and value = '10min';
