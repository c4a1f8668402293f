-- Memory for the aggregations of a refresh (set locally in each model's refresh function).
insert into ops.settings (key, value, description) values
    ('refresh_work_mem', '1GB', 'work_mem inside each model refresh (a full rebuild hashes millions of rows).');
