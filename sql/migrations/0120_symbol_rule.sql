-- The symbol rule, defined once: what text may be a symbol, and why a text is not one.
--
-- A symbol is 1 to 32 characters of A-Z, 0-9 and ^ . _ = / -, starting with a letter, a digit
-- or ^ ('^GSPC', 'BRK.B', 'EURUSD=X'). market.symbols enforces it; every other symbol column
-- refers to market.symbols. The import (core.import_problems), the price loader and the
-- `folio ingest prices --symbols` check call market.symbol_problem instead of repeating the
-- pattern; callers phrase the message around the reason it returns.

-- Why a text is not a symbol ("it is longer than 32 characters", "it contains ' ' at
-- character 3", ...), or null when it is one.
create or replace function market.symbol_problem(p_symbol text) returns text
language sql immutable parallel safe
as $$
    with first_odd as (
        select
            char_position,
            char_text,
            ascii(char_text) as code
        from regexp_split_to_table(coalesce(p_symbol, ''), '') with ordinality as chars (char_text, char_position)
        where char_text !~ '^[A-Z0-9._=^/-]$'
        order by char_position
        limit 1
    )

    select case
        when coalesce(p_symbol, '') = '' then 'it is empty'
        when p_symbol ~ '^[A-Z0-9^][A-Z0-9._=^/-]{0,31}$' then null
        when length(p_symbol) > 32 then 'it is longer than 32 characters'
        when p_symbol !~ '^[A-Z0-9._=^/-]*$' then (
            select format(
                'it contains %s (U+%s) at character %s',
                case
                    when first_odd.code = 0 then 'NUL'
                    when first_odd.code < 32 or first_odd.code = 127 then 'a control character'
                    when first_odd.code > 126 then format('the non-ASCII character %L', first_odd.char_text)
                    when first_odd.char_text = ' ' then 'a space'
                    else format('%L', first_odd.char_text)
                end,
                lpad(upper(to_hex(first_odd.code)), 4, '0'),
                first_odd.char_position
            )
            from first_odd
        )
        else format('it starts with %L', left(p_symbol, 1))
    end
$$;

comment on function market.symbol_problem(text) is
    'Why a text is not a symbol (1-32 characters of A-Z, 0-9 and ^ . _ = / -, not starting with '
    '. _ = / -), or null when it is one. The one definition of the symbol rule.';

alter table market.symbols drop constraint symbol_format;
alter table market.symbols
    add constraint symbol_format check (market.symbol_problem(symbol) is null);
