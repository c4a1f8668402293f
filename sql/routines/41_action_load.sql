-- Corporate actions from a price provider (yfinance's 'Dividends' and 'Stock Splits'),
-- validated and written set-based, in the price load's transaction and run (ingest/load.py
-- load_actions). Rows are stored as-traded (migration 0141): a split's ratio is new shares per
-- old share, a dividend's amount is per share as paid on its ex-date. The provider un-adjusts
-- before it hands them over (ingest/providers/yahoo.py).
--
-- The rows with their first problem: null when the row may be written.
create or replace function market.checked_actions(p_actions jsonb, p_last_closed date)
returns table (
    symbol text, ex_date date, action text, value numeric, value_text text, problem text
)
language sql stable as $$
    with given as (
        select
            elements.item ->> 'symbol' as symbol,
            (elements.item ->> 'ex_date')::date as ex_date,
            elements.item ->> 'action' as action,
            elements.item ->> 'value' as value_text,
            (elements.item ->> 'value')::numeric as value
        from jsonb_array_elements(p_actions) as elements (item)
    ),

    keyed as (
        select
            given.*,
            count(*) over (partition by given.symbol, given.ex_date, given.action) as copies
        from given
    )

    select
        keyed.symbol,
        keyed.ex_date,
        keyed.action,
        keyed.value,
        keyed.value_text,
        case
            when keyed.symbol is null then 'symbol: missing'
            when market.symbol_problem(keyed.symbol) is not null
                then 'symbol: ' || market.symbol_problem(keyed.symbol)
            when not exists (select from market.symbols where symbols.symbol = keyed.symbol)
                then 'symbol: unknown symbol ' || keyed.symbol
            when keyed.action is null or keyed.action not in ('split', 'dividend')
                then format('action: expected split or dividend, got %s', coalesce(keyed.action, 'nothing'))
            when keyed.ex_date is null then 'ex_date: missing'
            when keyed.ex_date < market.calendar_start()
                then format('ex_date: %s is before the calendar''s start %s', keyed.ex_date, market.calendar_start())
            when keyed.ex_date > p_last_closed
                then format('ex_date: %s is after the last closed session %s', keyed.ex_date, p_last_closed)
            when not exists (select from market.trading_days where trading_days.session_date = keyed.ex_date)
                then format('ex_date: %s is not a trading day', keyed.ex_date)
            when keyed.copies > 1 then format('the %s of %s on %s is given twice', keyed.action, keyed.symbol, keyed.ex_date)
            when keyed.value is null or keyed.value in ('NaN', 'Infinity', '-Infinity')
                then format('value: expected a finite number, got %s', coalesce(keyed.value_text, 'nothing'))
            when keyed.action = 'split' and (keyed.value <= 0 or keyed.value = 1)
                then format('value: a split ratio is positive and not 1 (4 for 4:1), got %s', keyed.value_text)
            when keyed.action = 'dividend' and keyed.value <= 0
                then format('value: a dividend is a positive amount per share, got %s', keyed.value_text)
            when not exists (
                select from ops.input_bounds as bounds
                where
                    bounds.kind = case when keyed.action = 'split' then 'quantity' else 'price' end
                    and keyed.value between bounds.min_value and bounds.max_value
            )
                then format('value: %s is outside the accepted bounds', keyed.value_text)
        end as problem
    from keyed
$$;

-- Writes the valid rows (a changed value replaces the stored one; the same value changes
-- nothing) and quarantines the others with their reason. The triggers of market.splits and
-- market.dividends queue the portfolios holding the symbol from the ex-date. Returns what was
-- written and refused.
create or replace function market.load_actions(
    p_actions jsonb, p_source text, p_run_id bigint, p_last_closed date
) returns table (splits_written bigint, dividends_written bigint, actions_quarantined bigint)
language sql as $$
    with checked as materialized (
        select * from market.checked_actions(p_actions, p_last_closed)
    ),

    refused as (
        insert into market.quarantine (run_id, symbol, price_date, source, reason, action, action_value)
        select p_run_id, checked.symbol, checked.ex_date, p_source, checked.problem, checked.action, checked.value_text
        from checked
        where checked.problem is not null
        returning 1
    ),

    splits_written as (
        insert into market.splits as splits (symbol, ex_date, ratio, source)
        select checked.symbol, checked.ex_date, checked.value, p_source
        from checked
        where checked.problem is null and checked.action = 'split'
        on conflict (symbol, ex_date) do update
            set ratio = excluded.ratio, source = excluded.source, loaded_at = now()
            where splits.ratio <> excluded.ratio
        returning 1
    ),

    dividends_written as (
        insert into market.dividends as dividends (symbol, ex_date, amount_per_share, source)
        select checked.symbol, checked.ex_date, checked.value, p_source
        from checked
        where checked.problem is null and checked.action = 'dividend'
        on conflict (symbol, ex_date) do update
            set amount_per_share = excluded.amount_per_share, source = excluded.source, loaded_at = now()
            where dividends.amount_per_share <> excluded.amount_per_share
        returning 1
    )

    select
        (select count(*) from splits_written),
        (select count(*) from dividends_written),
        (select count(*) from refused)
$$;
