-- How input text is shown in messages and seen by the import checks.
--
-- Messages quote what was typed, but never more than its first 40 characters (with the
-- length): a 10,000-character value must not become a 10 kB error in the client and in the
-- server log. An error with thousands of problems lists the first 50 and counts the rest.

-- A value as a message shows it: whole up to 40 characters, else its head and its length.
-- Two functions so that the planner inlines core.shortened where it is called (an import
-- shows a few texts of every row; a call of a SQL function costs 5-10 us): to_char, which
-- core.shortened_long needs, would keep an immutable function from being inlined.
create or replace function core.shortened_long(p_text text) returns text
language sql immutable
as $$
    select left(p_text, 40) || '… (' || to_char(length(p_text), 'FM999G999G999') || ' characters)'
$$;

create or replace function core.shortened(p_text text) returns text
language sql immutable
as $$
    select case when length(p_text) <= 40 then p_text else core.shortened_long(p_text) end
$$;

-- The first 50 problems, one per line, and how many more there are.
create or replace function core.problem_list(p_problems text[]) returns text
language sql immutable
as $$
    select array_to_string(p_problems[1:50], E'\n')
        || case
            when cardinality(p_problems) > 50
                then E'\n… and ' || to_char(cardinality(p_problems) - 50, 'FM999G999G999') || ' more'
            else ''
        end
$$;

-- The elements of an import's JSON array, as every import reads them: the element (an empty
-- object when it is not one), where it is named in messages ('line N' as the file said, else
-- '<noun> N', its place in the array) and the keys it has besides p_keys and 'line', both
-- shortened for messages. The positions' and the activities' parsers start here.
create or replace function core.input_elements(p_rows jsonb, p_noun text, p_keys text[])
returns table (ord bigint, is_object boolean, obj jsonb, at text, unknown_keys text[])
language sql immutable
as $$
    select
        elements.ord,
        jsonb_typeof(elements.elem) = 'object',
        case when jsonb_typeof(elements.elem) = 'object' then elements.elem else '{}'::jsonb end,
        core.shortened(
            coalesce('line ' || nullif(btrim(elements.elem ->> 'line'), ''), p_noun || ' ' || elements.ord)
        ),
        case
            -- the usual row, only known keys: no query per row (50,000 of them in a large ledger)
            when jsonb_typeof(elements.elem) <> 'object' or elements.elem - (p_keys || 'line'::text) = '{}'
                then '{}'::text[]
            else array(
                select core.shortened(keys.k)
                from jsonb_object_keys(elements.elem) as keys (k)
                where keys.k <> all(p_keys || 'line'::text)
                order by keys.k
            )
        end
    from jsonb_array_elements(p_rows) with ordinality as elements (elem, ord)
$$;

-- The refusals every import and edit function shares, each worded once; p_refused says who
-- refuses ('portfolio import refused', 'positions refused', …).
-- An input that is not a non-empty JSON array of rows.
create or replace function core.refuse_empty_array(p_refused text, p_rows jsonb, p_what text)
returns void
language plpgsql
as $$
begin
    if p_rows is null or jsonb_typeof(p_rows) <> 'array' or jsonb_array_length(p_rows) = 0 then
        raise exception using errcode = '22023',
            message = format('%s: expected a non-empty JSON array of %s', p_refused, p_what);
    end if;
end
$$;

-- Rows with problems (one 'line N (field): problem' each): all listed, nothing written.
create or replace function core.refuse_problems(p_refused text, p_problems text[])
returns void
language plpgsql
as $$
begin
    if cardinality(p_problems) > 0 then
        raise exception using errcode = '22023',
            message = format(
                '%s, nothing written (%s problem%s):%s%s',
                p_refused,
                cardinality(p_problems),
                case when cardinality(p_problems) > 1 then 's' else '' end,
                E'\n', core.problem_list(p_problems)
            );
    end if;
end
$$;
