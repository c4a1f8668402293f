-- The one definition of which currencies a portfolio needs converted into its base
-- (ops.currencies_needed, sql/routines/45_fx.sql): the ingester fetches the same pairs.
select
    portfolio_id,
    base_currency,
    currency,
    needed_from
from ops.currencies_needed()
