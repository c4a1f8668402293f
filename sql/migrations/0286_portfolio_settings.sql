-- The activities import takes the base currency of a portfolio it creates (a fourth, optional
-- argument), and its checks take the base currency of a portfolio not created yet: the old
-- signatures go, so one function of each name remains (sql/routines/50_activities.sql).
drop function if exists core.import_activities(text, text, jsonb);
drop function if exists core.activity_problems(bigint, jsonb);
