-- Activities in a currency other than the portfolio's base (issue 16): core.activity_rows
-- (sql/routines/50_activities.sql) takes the currency of a row that names none (the
-- portfolio's base, not always USD); the routine re-creates it with that argument, so the
-- one-argument version goes (two would make a call with one argument ambiguous).
drop function if exists core.activity_rows(jsonb);

-- A cash activity in another currency (a EUR deposit into a USD ledger) states the rate it was
-- converted at too: the rate no longer needs a security, only money moved (not a SPLIT).
alter table core.activities drop constraint fx_rate_needs_a_security;
alter table core.activities
    add constraint fx_rate_moves_money check (fx_rate is null or activity_type <> 'SPLIT');
comment on column core.activities.fx_rate is
    'The rate the activity was settled at, units of the portfolio''s base currency per unit of a '
    'whole currency: of the activity''s own currency when it is not the base (required then, '
    'except for a subunit of the base such as GBp in a GBP portfolio), else of the symbol''s '
    'trading currency (per GBP for GBp). Null: not stated.';
