-- Statement-level triggers on every write of a table, each with the transition tables its event
-- has (new_rows for insert, old_rows and new_rows for update, old_rows for delete): the shape
-- of foliodb's set-based triggers (queues, the acting-user rule). Named <table>_<name>_<event>.
--
--   select ops.create_write_triggers('core', array['positions'], 'acting_user',
--                                    'core.refuse_writes_for_others');
create or replace function ops.create_write_triggers(
    p_schema text, p_tables text[], p_name text, p_function text
) returns void
language plpgsql
as $$
declare
    v_table text;
    v_event text;
begin
    foreach v_table in array p_tables loop
        foreach v_event in array array['insert', 'update', 'delete'] loop
            execute format(
                'create or replace trigger %1$I after %2$s on %3$I.%4$I referencing %5$s'
                ' for each statement execute function %6$s()',
                v_table || '_' || p_name || '_' || v_event, v_event, p_schema, v_table,
                case v_event
                    when 'insert' then 'new table as new_rows'
                    when 'update' then 'old table as old_rows new table as new_rows'
                    else 'old table as old_rows'
                end,
                p_function::regproc
            );
        end loop;
    end loop;
end
$$;
