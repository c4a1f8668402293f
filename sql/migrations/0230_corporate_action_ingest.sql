-- Corporate actions ingested with the prices (issue 15): a split or dividend row a provider
-- gives that validation refuses goes to market.quarantine like a refused price, saying which
-- action it was (its ex-date in price_date) and the value as given.
alter table market.quarantine
    add column action text constraint action_kind check (action in ('split', 'dividend')),
    add column action_value text;
comment on column market.quarantine.action is
    'split or dividend: a refused corporate action row (ex-date in price_date); null for a price row';
comment on column market.quarantine.action_value is
    'the refused action''s value as given (a split''s ratio, a dividend''s amount per share)';
