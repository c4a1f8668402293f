-- The finance conventions' thresholds, each defined once here and read by the dbt models and
-- the baselines (docs/semantics.md, "Leaderboards" and "Staleness"; docs/factors.md, "Risk").
insert into ops.settings (key, value, description) values
    ('rank_tie_tolerance', '1e-10',
        'Period returns closer than this (absolute) share a leaderboard rank: float noise never orders equal portfolios.'),
    ('stale_price_sessions', '5',
        'A holding priced from a close more than this many sessions old counts as a stale price on the dashboard.'),
    ('sharpe_min_excess_volatility', '0.0001',
        'Sharpe ratios are null below this annualized spread (sample stdev × √252) of daily excess returns.'),
    ('risk_min_quoted_share', '0.5',
        'Sharpe ratios are null when fewer than this share of a period''s returns have a real quote on both days.')
on conflict (key) do nothing;
