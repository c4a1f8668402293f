-- fct_chart_series is keyed by (portfolio_id, end_idx) now (a night appends a new row built from
-- the latest one: dbt_project/models/marts/serving/fct_chart_series.sql). The foliodb_refresh
-- materialization recreates a table only when its columns change, not its key: drop the table
-- keyed by portfolio_id alone (and app.chart_points, built on it), so the next `dbt run`
-- creates it with the new key and the view again, and the next refresh is a full one (a table
-- created in a database refreshed before makes it so).
drop table if exists analytics.fct_chart_series cascade;
