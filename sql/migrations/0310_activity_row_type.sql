-- A 50,000-activity import (issue 15): core.import_activities parses its JSON array once, into
-- an array of core.activity_row, which the checks (core.activity_problems) and the INSERT
-- both read; it parsed the array three times (checks, symbols, insert). core.activity_rows
-- (sql/routines/50_activities.sql) returns this row type, and core.activity_problems takes
-- the parsed rows instead of the JSON: the routine re-creates both with their new types, so
-- the old versions go (a function's return type cannot be replaced in place).
drop function if exists core.activity_problems(bigint, jsonb, text);
drop function if exists core.activity_rows(jsonb, text);

-- One parsed row of an activities array: the texts as typed (shortened for messages) and the
-- typed values (core.activity_rows).
create type core.activity_row as (
    ord bigint,
    at text,
    is_object boolean,
    unknown_keys text[],
    activity_date_text text,
    activity_date date,
    type_text text,
    activity_type core.activity_type,
    symbol text,
    quantity_text text,
    quantity numeric,
    unit_price_text text,
    unit_price numeric,
    amount_text text,
    amount numeric,
    fee_text text,
    fee numeric,
    currency text,
    notes text,
    source text,
    external_id text,
    has_external_id boolean,
    fx_rate_text text,
    fx_rate numeric
);
