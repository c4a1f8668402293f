-- fct_chart_series is keyed by (portfolio_id, end_idx) now (a night appends a new row built from
-- the latest one: dbt_project/models/marts/serving/fct_chart_series.sql). The foliodb_refresh
-- materialization recreates a table only when its columns change, not its key: change the key
-- of an existing table here. Its rows (one per portfolio) stay valid under the new key, and the
-- previous models' refresh and app.chart_points keep working until dbt installs the new ones.
do $$
begin
    if to_regclass('analytics.fct_chart_series') is not null then
        alter table analytics.fct_chart_series
            drop constraint fct_chart_series_pkey,
            add primary key (portfolio_id, end_idx);
    end if;
end
$$;
