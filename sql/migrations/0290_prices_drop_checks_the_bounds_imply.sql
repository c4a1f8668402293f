-- close_positive (close > 0), adj_close_positive (adj_close > 0) and volume_not_negative
-- (volume >= 0) are implied by the bounds' checks generated from ops.input_bounds (migration
-- 0050): close_within_bounds and adj_close_within_bounds need at least the price bound's
-- min_value, which ops.input_bounds keeps above 0 (its check min_positive), and
-- volume_within_bounds needs at least 0. Each was evaluated for every row written, about 0.15 s
-- of a million-row load, for nothing. A negative close is now refused naming
-- close_within_bounds, which says what is allowed (ops.input_bounds 'price').
alter table market.prices
    drop constraint close_positive,
    drop constraint adj_close_positive,
    drop constraint volume_not_negative;
