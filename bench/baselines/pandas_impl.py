"""An independent, vectorized pandas/numpy implementation of docs/semantics.md.

Two uses: the oracle the tests compare foliodb's SQL models with, and the "capable Python
developer" baseline of the benchmarks (load everything, compute in memory, write back with COPY).
It is written from docs/semantics.md alone, not from any SQL.

Pipeline::

    inputs = load(url)
    snapshots = compute_snapshots(inputs)
    charts, points = compute_charts(snapshots, inputs.sessions)
    ranked, excluded = compute_leaderboards(charts, inputs.portfolios)
    write_back(url, snapshots, charts, points, ranked, excluded)   # schema bench_pandas

Currencies (docs/semantics.md, "Currencies"): a quoted position whose symbol trades in another
currency than its portfolio's base is valued at its close times the session's rate into the base
(the rate on the session, else the last rate before it, its age in sessions counted; a cross
through USD; a pair stored without USD where it is no older), its cost and inflow at its entry
session's rate, its outflow at its exit session's rate; with no rate on or before a session the
value is left out of the total and counted, unless the portfolio's own activities of that
session state a rate for securities in that currency (``fx_rate``: rule ``activity``, Σ base
amounts / Σ local amounts, that portfolio and session only). The benchmark is converted the
same way, never at an activity's rate. Without a
position or benchmark in another currency than its base, none of this runs: the USD-only
computation is the one it always was.

Corporate actions and ledgers (docs/semantics.md, "Activities"): a quoted position follows the
market's splits (from its entry on it holds the ratios times its units at its entry price
divided by them; a split on its exit session is in the exit price) and receives the market's
dividends on the units held at the close before the ex-date, into the portfolio's cash (which
stays: the portfolio then runs to S*). A ledger (core.activities) is reduced to holding segments
per symbol — the stretches between its trade and split sessions, with the units then held and
their cost (FIFO as overlaps of cumulative-unit intervals in the latest terms, found with
``merge_asof``; average cost by the running-product formula) — valued like positions (before its
symbol's first close at its cost, not converted), plus its cash: the activities' cash effects,
the market's dividends on its segments unless it records them, and the implicit deposits that
keep the balance at or above zero (a running minimum). Its flows are its external ones. No
per-row loop: every step is a vectorized numpy/pandas operation.

Numbers are float64 throughout. Snapshots are computed in chunks of portfolios so memory stays
bounded at 10k+ portfolios; each chunk is fully vectorized (positions exploded over their held
sessions, prices looked up in a dense symbol × session matrix).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import psycopg

SCHEMA = "bench_pandas"
# Portfolios valued per batch (snapshot_batches, run). Measured on the bench's 1,000-portfolio
# foreign-currency ledger dataset (P.run with write-back): batches of 100, 0.75 GB peak and
# 7-9 s; 500, 2.3 GB and 10-12 s; the whole book at once, 4.3 GB and 19 s (smaller batches
# stay in the caches).
BATCH_PORTFOLIOS = 100
PERIODS: tuple[str, ...] = ("1D", "5D", "1M", "3M", "6M", "YTD", "1Y", "5Y", "MAX")
MONTHS = {"1M": 1, "3M": 3, "6M": 6, "1Y": 12, "5Y": 60}
MAX_POINTS = 260
MIN_MAX_SESSIONS = 21
EXCLUDED_REASON = "history shorter than period"
MULTIPLIER = {"PUBLIC": 1.0, "PRIVATE": 1.0, "OPTIONS": 100.0}

# Valuation methods, in the order of docs/semantics.md.
M_CLOSE, M_STALE, M_ENTRY, M_MANUAL = 0, 1, 2, 3

SNAPSHOT_COLUMNS = [
    "portfolio_id",
    "session_date",
    "session_idx",
    "market_value",
    "cost_basis",
    "unrealized_pnl",
    "positions_held",
    "n_close",
    "n_stale",
    "max_stale_sessions",
    "n_entry",
    "n_manual",
    "inflow",
    "outflow",
    "daily_return",
    "cum_twr",
    "benchmark_close",
    "benchmark_cum_return",
]
CHART_COLUMNS = [
    "portfolio_id",
    "period",
    "start_session_idx",
    "end_session_idx",
    "start_date",
    "end_date",
    "start_value",
    "end_value",
    "period_twr",
    "benchmark_return",
    "excess_return",
    "is_partial",
    "n_sessions",
    "n_points",
]
POINT_COLUMNS = [
    "portfolio_id",
    "period",
    "session_date",
    "value",
    "cum_return",
    "benchmark_cum_return",
]
RANKED_COLUMNS = [
    "period",
    "portfolio_id",
    "rank",
    "percentile",
    "period_twr",
    "benchmark_return",
    "relative_return",
    "n_ranked",
]
EXCLUDED_COLUMNS = ["period", "portfolio_id", "reason"]
# Added to the snapshots when some position or benchmark is in another currency than its base:
# the positions converted by each rule (session, last_rate, none), the oldest rate's age, and
# those converted at the rate the portfolio's own activities of the session state (activity).
FX_SNAPSHOT_COLUMNS = [
    "n_fx_session",
    "n_fx_last_rate",
    "n_fx_none",
    "max_fx_stale_sessions",
    "n_fx_activity",
]
# Added when a portfolio has cash (a ledger's activities, the market's dividends): the cash
# balance, the session's income (dividends, interest), costs (fees, taxes), realized gain, and
# the income and cost parts of the daily return (docs/semantics.md, "Activities").
LEDGER_SNAPSHOT_COLUMNS = [
    "cash_balance",
    "income",
    "costs",
    "realized_gain",
    "income_return",
    "cost_return",
]
LEDGER_EVENT_COLUMNS = ["cash_change", "inflow", "outflow", "income", "costs", "realized_gain"]
RECORDED_DIVIDEND_DAYS = 45  # a DIVIDEND activity is the payment of a market dividend this recent
OPENS = ("BUY", "TRANSFER_IN")  # of securities: open lots
CLOSES = ("SELL", "TRANSFER_OUT")  # of securities: consume lots


@dataclass
class Inputs:
    """Everything the computation reads, as loaded from the database (or built by a test).

    - positions: portfolio_id, position_id, symbol, investment_class, quantity, entry_date,
      entry_price, exit_date, exit_price (soft-deleted rows already removed)
    - portfolios: portfolio_id, user_id, name, is_public, benchmark_symbol
    - prices: symbol, price_date, close
    - valuations: portfolio_id, position_id, valuation_date, value
    - sessions: session_date, session_idx (the calendar's sessions, in order)
    - as_of: S*, the latest session on or before the last closed session with any price
    Dates are ``datetime64[ns]`` columns; numbers float64.
    """

    positions: pd.DataFrame
    portfolios: pd.DataFrame
    prices: pd.DataFrame
    valuations: pd.DataFrame
    sessions: pd.DataFrame
    as_of: pd.Timestamp | None
    rank_tie_tolerance: float = 1e-10  # ops.settings.rank_tie_tolerance as shipped (migration 0090)
    # Currencies (None: everything in USD). symbol_currencies: symbol, currency (its trading
    # currency as stored, GBp for pence); currency_units: currency, whole_currency, units_per
    # (GBp: GBP, 100; a whole currency: itself, 1); fx_rates: base_currency, quote_currency,
    # rate_date, rate (1 base in quote). A portfolio's base is its ``base_currency`` column
    # (USD when the column is missing).
    symbol_currencies: pd.DataFrame | None = None
    currency_units: pd.DataFrame | None = None
    fx_rates: pd.DataFrame | None = None
    # Corporate actions and ledgers (None: none). splits: symbol, ex_date, ratio; dividends:
    # symbol, ex_date, amount_per_share (as paid); activities: portfolio_id, activity_id,
    # activity_date, activity_type, symbol, quantity, unit_price, amount, fee (0 when none),
    # currency, fx_rate. A portfolio's cost method is its ``cost_method`` column (fifo when
    # the column is missing).
    splits: pd.DataFrame | None = None
    dividends: pd.DataFrame | None = None
    activities: pd.DataFrame | None = None


# --------------------------------------------------------------------------------------------
# Loading


def _frame(conn: psycopg.Connection, query: str, params: Iterable | None = None) -> pd.DataFrame:
    cur = conn.execute(query, params)
    cols = [c.name for c in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=cols)


def _dates(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for col in cols:
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return frame


def load(url: str) -> Inputs:
    """Read positions, portfolios, prices, valuations and sessions (numbers as float64)."""
    with psycopg.connect(url) as conn:
        calendar = conn.execute(
            "select coalesce((select value from ops.settings where key = 'calendar'), 'XNYS')"
        ).fetchone()[0]
        default_bench = conn.execute(
            "select coalesce((select value from ops.settings where key = 'default_benchmark'),"
            " '^GSPC')"
        ).fetchone()[0]
        tolerance = conn.execute(
            "select value from ops.settings where key = 'rank_tie_tolerance'"
        ).fetchone()
        sessions = _frame(
            conn,
            "select session_date, session_idx from market.trading_days"
            " where calendar = %s order by session_date",
            [calendar],
        )
        as_of = conn.execute(
            "select max(p.price_date) from market.prices as p"
            " inner join market.trading_days as td"
            " on td.calendar = %s and td.session_date = p.price_date"
            " where td.close_at <= ops.now()",
            [calendar],
        ).fetchone()[0]
        positions = _frame(
            conn,
            "select portfolio_id, position_id, symbol, investment_class::text as investment_class,"
            " quantity::float8 as quantity, entry_date, entry_price::float8 as entry_price,"
            " exit_date, exit_price::float8 as exit_price"
            " from core.positions where deleted_at is null order by portfolio_id, position_id",
        )
        portfolios = _frame(
            conn,
            "select portfolio_id, user_id, name, is_public,"
            " coalesce(benchmark_symbol, %s) as benchmark_symbol, base_currency,"
            " cost_method::text as cost_method"
            " from core.portfolios order by portfolio_id",
            [default_bench],
        )
        activities = _frame(
            conn,
            "select portfolio_id, activity_id, activity_date, activity_type::text as activity_type,"
            " symbol, quantity::float8 as quantity, unit_price::float8 as unit_price,"
            " amount::float8 as amount, fee::float8 as fee, currency, fx_rate::float8 as fx_rate"
            " from core.activities order by portfolio_id, activity_id",
        )
        symbols = sorted(
            set(positions["symbol"])
            | set(activities["symbol"].dropna())
            | set(portfolios["benchmark_symbol"])
            | {default_bench}
        )
        splits = _frame(
            conn,
            "select symbol, ex_date, ratio::float8 as ratio from market.splits"
            " where symbol = any(%s) order by symbol, ex_date",
            [symbols],
        )
        dividends = _frame(
            conn,
            "select symbol, ex_date, amount_per_share::float8 as amount_per_share"
            " from market.dividends where symbol = any(%s) order by symbol, ex_date",
            [symbols],
        )
        prices = _frame(
            conn,
            "select symbol, price_date, close::float8 as close from market.prices"
            " where symbol = any(%s) order by symbol, price_date",
            [symbols],
        )
        valuations = _frame(
            conn,
            "select v.portfolio_id, v.position_id, v.valuation_date, v.value::float8 as value"
            " from core.valuations as v inner join core.positions as p using (portfolio_id, position_id)"
            " where p.deleted_at is null order by v.position_id, v.valuation_date",
        )
        symbol_currencies = _frame(
            conn,
            "select symbol, currency from market.symbols where symbol = any(%s) order by symbol",
            [symbols],
        )
        currency_units = _frame(
            conn,
            "select currency, coalesce(unit_of, currency) as whole_currency,"
            " coalesce(units_per, 1)::float8 as units_per from market.currencies",
        )
        fx_rates = _frame(
            conn,
            "select base_currency, quote_currency, rate_date, rate::float8 as rate"
            " from market.fx_rates order by base_currency, quote_currency, rate_date",
        )
    if positions.empty:
        positions = positions.astype({"quantity": float, "entry_price": float, "exit_price": float})
    positions["exit_price"] = positions["exit_price"].astype(float)
    return Inputs(
        positions=_dates(positions, "entry_date", "exit_date"),
        portfolios=portfolios,
        prices=_dates(prices, "price_date").astype({"close": float}),
        valuations=_dates(valuations, "valuation_date").astype({"value": float}),
        sessions=_dates(sessions, "session_date"),
        as_of=None if as_of is None else pd.Timestamp(as_of),
        **({} if tolerance is None else {"rank_tie_tolerance": float(tolerance[0])}),
        symbol_currencies=symbol_currencies,
        currency_units=currency_units,
        fx_rates=_dates(fx_rates, "rate_date").astype({"rate": float}),
        splits=_dates(splits, "ex_date").astype({"ratio": float}),
        dividends=_dates(dividends, "ex_date").astype({"amount_per_share": float}),
        activities=_dates(activities, "activity_date").astype(
            {c: float for c in ("quantity", "unit_price", "amount", "fee", "fx_rate")}
        ),
    )


# --------------------------------------------------------------------------------------------
# Snapshots


def _session_pos(sess_dates: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Position of the first session on or after each date (len(sess_dates) if none)."""
    return np.searchsorted(sess_dates, dates, side="left")


class _Market:
    """Dense symbol × session price matrix up to S*, with last-close positions for fallbacks."""

    def __init__(self, prices: pd.DataFrame, sess_dates: np.ndarray) -> None:
        n = len(sess_dates)
        pr = prices[prices["price_date"] <= (sess_dates[-1] if n else np.datetime64("NaT"))]
        pos = np.searchsorted(sess_dates, pr["price_date"].to_numpy())
        on_session = (pos < n) & (sess_dates[np.minimum(pos, n - 1)] == pr["price_date"].to_numpy())
        # Prices dated on a non-session day are not a session's close: they are ignored.
        pr = pr[on_session]
        pos = pos[on_session]
        self.codes = {s: i for i, s in enumerate(pd.unique(pr["symbol"]))}
        k = len(self.codes)
        rows = pr["symbol"].map(self.codes).to_numpy()
        self.close = np.full((k, n), np.nan)
        self.close[rows, pos] = pr["close"].to_numpy()
        has = ~np.isnan(self.close)
        # last_pos[s, d]: position of the last session <= d with a close of s (-1: none).
        self.last_pos = np.maximum.accumulate(np.where(has, np.arange(n), -1), axis=1)
        self.filled = np.where(
            self.last_pos >= 0,
            np.take_along_axis(self.close, np.maximum(self.last_pos, 0), axis=1),
            np.nan,
        )

    def code(self, symbols: np.ndarray) -> np.ndarray:
        return np.array([self.codes.get(s, -1) for s in symbols], dtype=np.int64)


class _Valuations:
    """Last manual valuation on or before a session, per position, by binary search."""

    def __init__(self, valuations: pd.DataFrame, pos_index: pd.Index, sess_dates: np.ndarray):
        self.width = len(sess_dates) + 1
        v = valuations[valuations["position_id"].isin(pos_index)]
        gpos = pos_index.get_indexer(v["position_id"])
        vpos = _session_pos(sess_dates, v["valuation_date"].to_numpy())
        key = gpos.astype(np.int64) * self.width + vpos
        order = np.lexsort((v["valuation_date"].to_numpy(), key))
        key, values = key[order], v["value"].to_numpy()[order]
        # Several valuations mapping to one session: the latest date wins (last after sorting).
        last = np.r_[key[1:] != key[:-1], True] if len(key) else np.array([], dtype=bool)
        self.keys, self.values = key[last], values[last]

    def lookup(self, gpos: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, value) of the last valuation with session position <= d."""
        if len(self.keys) == 0:
            return np.zeros(len(gpos), dtype=bool), np.full(len(gpos), np.nan)
        q = gpos.astype(np.int64) * self.width + d
        j = np.searchsorted(self.keys, q, side="right") - 1
        jj = np.maximum(j, 0)
        found = (j >= 0) & (self.keys[jj] // self.width == gpos)
        return found, np.where(found, self.values[jj], np.nan)


def _filled(values: np.ndarray, sess_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The value on each session, else the last one before it, and its age in sessions
    (NaN and -1 where there is none on or before the session)."""
    n = len(values)
    last = np.maximum.accumulate(np.where(~np.isnan(values), np.arange(n), -1))
    found = last >= 0
    out = np.where(found, values[np.maximum(last, 0)], np.nan)
    age = np.where(found, sess_idx - sess_idx[np.maximum(last, 0)], -1)
    return out, age


class _FX:
    """Factors from a position's (or benchmark's) trading currency into its portfolio's base.

    docs/semantics.md, "Currencies": each currency's value in USD on a session is a stored
    XXXUSD rate, else the inverse of a stored USDXXX one, else the last such rate before it
    (rates dated on a day without a session are not a session's); a currency into a base is
    the ratio of their USD values (the older leg's age), replaced by a pair stored without USD
    (c/b as is, b/c inverted; c/b first on one session) where that is no older. No rate on or
    before the session: NaN, rule none. A quote unit (GBp) is its whole currency / units_per.
    """

    NOT_CONVERTED, NONE, ACTIVITY = -2, -1, -3

    def __init__(
        self,
        factor: np.ndarray,
        age: np.ndarray,
        unit: np.ndarray,
        code: np.ndarray,
        pairs: list[tuple[str, str]] | None = None,
    ):
        self.rate, self.age, self.unit, self.code = factor, age, unit, code
        self.pairs = pairs or []
        self.n = factor.shape[1] if factor.ndim == 2 else 0
        # rule 'activity' (with_activity_rates): subject -> its portfolio (-1: a benchmark),
        # and the sorted keys (portfolio, pair, session) of the rates activities imply
        self.owner: np.ndarray | None = None
        self.implied_keys = np.zeros(0, dtype=np.int64)
        self.implied_rates = np.zeros(0)

    def _key(self, owner: np.ndarray, pair: np.ndarray, d: np.ndarray) -> np.ndarray:
        return (owner.astype(np.int64) * len(self.pairs) + pair) * self.n + d

    def with_activity_rates(self, owner: np.ndarray, implied: pd.DataFrame) -> None:
        """The third rule of a conversion (docs/semantics.md, "Currencies", 5): where the
        market has no rate on or before a session, a subject of a portfolio whose activities
        of that session state a rate for its currency is converted at it. ``owner``: each
        subject's portfolio id (-1: a benchmark, never converted so); ``implied``:
        portfolio_id, currency (whole), base_currency, session, rate (_ledgers)."""
        self.owner = owner
        lookup = {p: i for i, p in enumerate(self.pairs)}
        pair = np.array(
            [
                lookup.get((c, b), -1)
                for c, b in zip(implied["currency"], implied["base_currency"], strict=True)
            ],
            dtype=np.int64,
        )
        ok = pair >= 0
        if not ok.any():
            return
        keys = self._key(
            implied["portfolio_id"].to_numpy(dtype=np.int64)[ok],
            pair[ok],
            implied["session"].to_numpy(dtype=np.int64)[ok],
        )
        order = np.argsort(keys)
        self.implied_keys = keys[order]
        self.implied_rates = implied["rate"].to_numpy(dtype=float)[ok][order]

    @classmethod
    def build(
        cls,
        inputs: Inputs,
        sess_dates: np.ndarray,
        sess_idx: np.ndarray,
        symbols: np.ndarray,
        bases: np.ndarray,
        quoted: np.ndarray,
    ) -> _FX | None:
        """Per subject (a position or a portfolio's benchmark; ``quoted``: not PRIVATE), or
        None when no quoted subject is in another currency than its base."""
        if inputs.symbol_currencies is None or inputs.currency_units is None:
            return None
        units = inputs.currency_units.set_index("currency")
        trading = inputs.symbol_currencies.set_index("symbol")["currency"]
        currency = pd.Series(symbols).map(trading).fillna("USD").to_numpy()
        whole = pd.Series(currency).map(units["whole_currency"]).fillna(pd.Series(currency))
        unit = 1.0 / pd.Series(currency).map(units["units_per"]).fillna(1.0).to_numpy(dtype=float)
        whole = whole.to_numpy()
        unit = np.where(quoted, unit, 1.0)  # PRIVATE values are in the base
        foreign = quoted & (whole != bases)
        if not foreign.any():
            return None
        pairs = sorted(set(zip(whole[foreign], bases[foreign], strict=True)))
        code = np.full(len(symbols), -1, dtype=np.int64)
        lookup = {p: i for i, p in enumerate(pairs)}
        code[foreign] = [
            lookup[(c, b)] for c, b in zip(whole[foreign], bases[foreign], strict=True)
        ]

        n = len(sess_dates)
        rates = inputs.fx_rates if inputs.fx_rates is not None else pd.DataFrame()
        if len(rates):
            pos = np.searchsorted(sess_dates, rates["rate_date"].to_numpy())
            ok = (pos < n) & (sess_dates[np.minimum(pos, n - 1)] == rates["rate_date"].to_numpy())
            rates = rates[ok].assign(pos=pos[ok])

        def stored(a: str, b: str) -> np.ndarray:
            """The rate of 1 ``a`` in ``b`` on each session where a pair of the two is stored:
            a/b as is, else b/a inverted."""
            out = np.full(n, np.nan)
            if not len(rates):
                return out
            inv = rates[(rates["base_currency"] == b) & (rates["quote_currency"] == a)]
            out[inv["pos"].to_numpy()] = 1.0 / inv["rate"].to_numpy()
            fwd = rates[(rates["base_currency"] == a) & (rates["quote_currency"] == b)]
            out[fwd["pos"].to_numpy()] = fwd["rate"].to_numpy()
            return out

        legs: dict[str, tuple[np.ndarray, np.ndarray]] = {
            "USD": (np.ones(n), np.zeros(n, np.int64))
        }
        for c in {x for p in pairs for x in p} - {"USD"}:
            legs[c] = _filled(stored(c, "USD"), sess_idx)
        factor = np.full((len(pairs), n), np.nan)
        age = np.full((len(pairs), n), cls.NONE, dtype=np.int64)
        for i, (c, b) in enumerate(pairs):
            (uc, ac), (ub, ab) = legs[c], legs[b]
            cross_ok = (ac >= 0) & (ab >= 0)
            rate = np.where(cross_ok, uc / ub, np.nan)
            rage = np.where(cross_ok, np.maximum(ac, ab), cls.NONE)
            if "USD" not in (c, b):
                direct, dage = _filled(stored(c, b), sess_idx)
                use = (dage >= 0) & (~cross_ok | (dage <= rage))
                rate = np.where(use, direct, rate)
                rage = np.where(use, dage, rage)
            factor[i], age[i] = rate, rage
        return cls(factor, age, unit, code, pairs)

    def at(self, subject: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(factor, rule) of subjects on session positions d: the factor into the base (NaN:
        no rate) and the rate's age (NOT_CONVERTED: in the base, NONE: no rate, ACTIVITY:
        the rate the portfolio's activities of the session state)."""
        code = self.code[subject]
        conv = code >= 0
        factor = self.unit[subject].copy()
        rule = np.full(len(subject), self.NOT_CONVERTED, dtype=np.int64)
        if conv.any():
            factor[conv] *= self.rate[code[conv], d[conv]]
            rule[conv] = self.age[code[conv], d[conv]]
        if self.owner is not None and len(self.implied_keys):
            miss = np.flatnonzero((rule == self.NONE) & (self.owner[subject] >= 0))
            if len(miss):
                keys = self._key(self.owner[subject[miss]], code[miss], d[miss])
                j = np.minimum(np.searchsorted(self.implied_keys, keys), len(self.implied_keys) - 1)
                hit = self.implied_keys[j] == keys
                factor[miss[hit]] = self.unit[subject[miss[hit]]] * self.implied_rates[j[hit]]
                rule[miss[hit]] = self.ACTIVITY
        return factor, rule


def _value(
    market: _Market,
    vals: _Valuations,
    gpos: np.ndarray,
    code: np.ndarray,
    is_private: np.ndarray,
    units: np.ndarray,
    pe: np.ndarray,
    d: np.ndarray,
    sess_idx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, method and stale age of positions (arrays, one per row) on session positions d."""
    n = len(d)
    value = np.empty(n)
    method = np.full(n, M_ENTRY, dtype=np.int8)
    age = np.zeros(n, dtype=np.int64)
    priced = (code >= 0) & ~is_private
    c = np.full(n, np.nan)
    last = np.full(n, -1, dtype=np.int64)
    if priced.any():
        c[priced] = market.close[code[priced], d[priced]]
        last[priced] = market.last_pos[code[priced], d[priced]]
    on_day = priced & ~np.isnan(c)
    stale = priced & ~on_day & (last >= 0)
    method[on_day] = M_CLOSE
    method[stale] = M_STALE
    unit = np.where(on_day, c, pe)
    if stale.any():
        unit[stale] = market.filled[code[stale], d[stale]]
        age[stale] = sess_idx[d[stale]] - sess_idx[last[stale]]
    value[:] = units * unit
    if is_private.any():
        found, v = vals.lookup(gpos[is_private], d[is_private])
        pv = np.where(found, v, units[is_private] * pe[is_private])
        value[is_private] = pv
        method[is_private] = np.where(found, M_MANUAL, M_ENTRY)
    return value, method, age


class _Splits:
    """The market's splits per symbol × session: ``cum[s, d]``, the product of the ratios of
    its splits with an ex-date session on or before d (an ex-date that is not a session counts
    on the next session; a split after S* is not yet)."""

    def __init__(self, splits: pd.DataFrame | None, sess_dates: np.ndarray) -> None:
        n = len(sess_dates)
        self.codes: dict[str, int] = {}
        self.cum = np.ones((0, n))
        # each split: (symbol code, ex-date session, ex-date, ratio)
        self.rows: list[tuple[int, int, np.datetime64, float]] = []
        if splits is None or splits.empty or n == 0:
            return
        pos = _session_pos(sess_dates, splits["ex_date"].to_numpy())
        sp, pos = splits[pos < n], pos[pos < n]
        self.codes = {s: i for i, s in enumerate(pd.unique(sp["symbol"]))}
        self.rows = [
            (self.codes[sym], int(p), np.datetime64(ex, "ns"), float(r))
            for sym, p, ex, r in zip(sp["symbol"], pos, sp["ex_date"], sp["ratio"], strict=True)
        ]
        ratio = np.ones((len(self.codes), n))
        np.multiply.at(
            ratio, (sp["symbol"].map(self.codes).to_numpy(), pos), sp["ratio"].to_numpy(float)
        )
        self.cum = np.cumprod(ratio, axis=1)

    def code(self, symbols: np.ndarray) -> np.ndarray:
        return np.array([self.codes.get(s, -1) for s in symbols], dtype=np.int64)

    def factor(self, code: np.ndarray, d: np.ndarray) -> np.ndarray:
        """cum[code, d] (1 for a symbol without splits)."""
        out = np.ones(len(code))
        has = code >= 0
        if has.any():
            out[has] = self.cum[code[has], d[has]]
        return out

    def later(self, code: np.ndarray, d: np.ndarray) -> np.ndarray:
        """The product of the ratios of the splits after session d: a unit on d is that many
        units in the latest terms."""
        out = np.ones(len(code))
        has = code >= 0
        if has.any():
            out[has] = self.cum[code[has], -1] / self.cum[code[has], d[has]]
        return out

    def on_session_after(self, code: np.ndarray, d: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The ratios of the splits on session d dated after ``day``: a trade, entry or exit
        dated on a weekend or a closure before an ex-date counts on the ex-date's session, but
        was made before the split, in the terms before it (docs/semantics.md, "Splits")."""
        out = np.ones(len(code))
        day = day.astype("datetime64[ns]")
        for c, pos, ex, ratio in self.rows:  # the market's splits: a handful
            out[(code == c) & (d == pos) & (day < ex)] *= ratio
        return out

    def later_than(self, code: np.ndarray, d: np.ndarray, day: np.ndarray) -> np.ndarray:
        """What a unit traded on date ``day``, counting on session d, is in the latest terms:
        the splits after d, and those on d dated after ``day``."""
        return self.later(code, d) * self.on_session_after(code, d, day)


_EPS = 1e-9  # units (in the latest terms) below this are nothing held


def _lots(
    inputs: Inputs,
    acts: pd.DataFrame,
    trade: np.ndarray,
    q: np.ndarray,
    qp: np.ndarray,
    sess_dates: np.ndarray,
    splits: _Splits,
    events: pd.DataFrame,
) -> pd.DataFrame:
    """The ledgers' holding segments (see _ledgers); writes each sell's realized gain into
    ``events``."""
    n = len(sess_dates)
    kind = acts["activity_type"].to_numpy()
    # ---- lots: the trades of securities, per holding (portfolio, symbol)
    t = pd.DataFrame(
        {
            "row": np.flatnonzero(trade),
            "portfolio_id": acts["portfolio_id"].to_numpy()[trade],
            "symbol": acts["symbol"].to_numpy()[trade],
            "session": acts["session"].to_numpy()[trade],
            "activity_date": acts["activity_date"].to_numpy()[trade],
            "closes": np.isin(kind[trade], CLOSES),
            "is_sell": kind[trade] == "SELL",
            "activity_id": acts["activity_id"].to_numpy()[trade],
            "value": qp[trade],
        }
    ).sort_values(["portfolio_id", "symbol", "session", "closes", "activity_id"])
    t = t.reset_index(drop=True)
    h = t.groupby(["portfolio_id", "symbol"], sort=False).ngroup().to_numpy()
    sc = splits.code(t["symbol"].to_numpy())
    session = t["session"].to_numpy()
    # in the latest terms
    u = q[t["row"].to_numpy()] * splits.later_than(sc, session, t["activity_date"].to_numpy())
    value = t["value"].to_numpy()
    opens = ~t["closes"].to_numpy()

    def cum(x: np.ndarray, keys: np.ndarray = h) -> np.ndarray:
        return pd.Series(x).groupby(keys).cumsum().to_numpy()

    bought = cum(np.where(opens, u, 0.0))
    sold = cum(np.where(opens, 0.0, u))
    paid = cum(np.where(opens, value, 0.0))
    method = (
        (
            t["portfolio_id"].map(inputs.portfolios.set_index("portfolio_id")["cost_method"])
            if "cost_method" in inputs.portfolios.columns
            else pd.Series("fifo", index=t.index)
        )
        .fillna("fifo")
        .to_numpy()
    )

    # FIFO: C(sold) at each close, from the buy whose interval holds it
    buys = pd.DataFrame(
        {
            "h": h[opens],
            "b_start": bought[opens] - u[opens],
            "c_start": paid[opens] - value[opens],
            "b_units": u[opens],
            "b_price": value[opens] / u[opens],
        }
    ).sort_values("b_start")
    sells = pd.DataFrame({"h": h[~opens], "s": sold[~opens], "at": np.flatnonzero(~opens)})
    matched = pd.merge_asof(sells.sort_values("s"), buys, left_on="s", right_on="b_start", by="h")
    c_sold = np.full(len(t), np.nan)
    c_sold[matched["at"].to_numpy()] = np.nan_to_num(
        matched["c_start"].to_numpy()
        + np.clip(matched["s"] - matched["b_start"], 0, matched["b_units"]).to_numpy()
        * matched["b_price"].to_numpy()
    )
    c_sold = pd.Series(c_sold).groupby(h).ffill().fillna(0.0).to_numpy()
    c_sold_before = pd.Series(c_sold).groupby(h).shift(1).fillna(0.0).to_numpy()
    fifo_cost = paid - c_sold
    fifo_realized = value - (c_sold - c_sold_before)

    # average cost: one pool per holding, a new one after a sell that empties it
    held = bought - sold
    before = held - np.where(opens, u, -u)
    emptied = held <= _EPS
    first_in_pool = pd.Series(emptied).groupby(h).shift(1, fill_value=False).to_numpy()
    pool = cum(first_in_pool.astype(float)).astype(np.int64)
    pool_key = h.astype(np.int64) * (len(t) + 1) + pool
    ratio = np.where(opens, 1.0, np.divide(held, before, out=np.zeros(len(t)), where=before > _EPS))
    grown = pd.Series(ratio).groupby(pool_key).cumprod().to_numpy()
    added = np.divide(value, grown, out=np.zeros(len(t)), where=opens & (grown > 0))
    avg_cost = np.where(emptied, 0.0, grown * cum(added, pool_key))
    avg_before = pd.Series(avg_cost).groupby(pool_key).shift(1).fillna(0.0).to_numpy()
    avg_realized = value - u * np.divide(
        avg_before, before, out=np.zeros(len(t)), where=before > _EPS
    )
    average = method == "average"
    cost = np.where(average, avg_cost, fifo_cost)
    realized = np.where(
        t["is_sell"].to_numpy(), np.where(average, avg_realized, fifo_realized), 0.0
    )
    events.loc[t["row"].to_numpy(), "realized_gain"] = realized

    # ---- segments: the state after each session's trades, cut at the symbol's splits
    last = np.r_[(h[1:] != h[:-1]) | (session[1:] != session[:-1]), True]
    states = pd.DataFrame(
        {"h": h[last], "session": session[last], "held": held[last], "cost": cost[last], "cut": 0}
    )
    holdings = t.loc[np.r_[True, h[1:] != h[:-1]], ["portfolio_id", "symbol", "session"]]
    holdings = holdings.assign(h=h[np.r_[True, h[1:] != h[:-1]]])
    if splits.codes:
        ex = inputs.splits.assign(
            session=_session_pos(sess_dates, inputs.splits["ex_date"].to_numpy())
        )
        cuts = holdings.merge(ex[["symbol", "session"]], on="symbol", suffixes=("_first", ""))
        cuts = cuts[(cuts["session"] > cuts["session_first"]) & (cuts["session"] < n)]
        states = pd.concat(
            [states, pd.DataFrame({"h": cuts["h"], "session": cuts["session"], "cut": 1})],
            ignore_index=True,
        )
        states = states.sort_values(["h", "session", "cut"]).drop_duplicates(["h", "session"])
        states[["held", "cost"]] = states.groupby("h")[["held", "cost"]].ffill()
    states = states.reset_index(drop=True)
    state_h = states["h"].to_numpy()
    start = states["session"].to_numpy()
    stop = states.groupby("h")["session"].shift(-1).fillna(n).to_numpy(dtype=np.int64)
    info = holdings.set_index("h")
    seg_symbol = info["symbol"].reindex(state_h).to_numpy()
    units_held = states["held"].to_numpy(dtype=float) / splits.later(splits.code(seg_symbol), start)
    keep = states["held"].to_numpy(dtype=float) > _EPS
    segments = pd.DataFrame(
        {
            "portfolio_id": info["portfolio_id"].reindex(state_h).to_numpy()[keep],
            "symbol": seg_symbol[keep],
            "start": start[keep],
            "stop": stop[keep],
            "units": units_held[keep],
            "cost": states["cost"].to_numpy(dtype=float)[keep],
        }
    )

    return segments


def _ledgers(
    inputs: Inputs, sess_dates: np.ndarray, splits: _Splits, base_of: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The ledgers' holdings and cash events (docs/semantics.md, "Activities"), vectorized.

    Returns ``(segments, events, recorded, implied)``:

    - segments: portfolio_id, symbol, start, stop (session positions; stop exclusive, n while
      still held), units (as held then: splits applied), cost (of those units, in the base):
      per symbol, the stretches between its trade and split sessions with units held;
    - events: portfolio_id, session, cash_change, inflow, outflow, income, costs,
      realized_gain: each activity's (before the implicit deposits and the market's dividends);
    - recorded: portfolio_id, symbol, ex_date of the market dividends the ledger records
      itself (a DIVIDEND naming the symbol pays the latest ex-date on or before it, at most
      45 days before): not paid again;
    - implied: portfolio_id, currency, base_currency, session, rate: the rate the portfolio's
      activities of a session state for securities in ``currency`` (a whole currency other
      than the base), ``Σ base amounts / Σ local amounts`` over those naming such a security
      with an ``fx_rate`` (a base amount: quantity × unit price, else the amount, in the
      base; its local amount: that / fx_rate), docs/semantics.md, "Currencies", rule 5.

    Units are counted in the latest terms (times the ratios of the splits after the trade),
    so FIFO is the overlap of cumulative-unit intervals: with ``C`` the cost of the first
    ``x`` units bought (piecewise linear over the buys), a holding that bought ``B`` and sold
    ``S`` units costs ``C(B) - C(S)``, and a sell realizes its proceeds less ``C(S_after) -
    C(S_before)``. Average cost: after trade k, ``cost(k) = M(k) × Σ_{buys j <= k} q_j·p_j /
    M(j)`` with ``M`` the running product of units after / units before over the sells since
    the pool began (a sell that empties it ends it). On a session buys and transfers in count
    before sells and transfers out.
    """
    n = len(sess_dates)
    acts = inputs.activities
    acts = acts.assign(session=_session_pos(sess_dates, acts["activity_date"].to_numpy()))
    acts = acts[acts["session"] < n].reset_index(drop=True)  # after S*: not yet
    kind = acts["activity_type"].to_numpy()
    if (kind == "SPLIT").any():
        raise NotImplementedError(
            "the pandas baseline applies the market's splits (market.splits), not a ledger's"
            " own SPLIT activities"
        )
    # money in the base currency: an activity in another currency times its fx_rate (base per
    # unit of its whole currency), a subunit of the base divided by its units
    base = acts["portfolio_id"].map(base_of).fillna("USD").to_numpy(dtype=object)
    cur = acts["currency"].fillna(pd.Series(base)).to_numpy(dtype=object)
    if inputs.currency_units is not None:
        units = inputs.currency_units.set_index("currency")
        whole = pd.Series(cur).map(units["whole_currency"]).fillna(pd.Series(cur)).to_numpy()
        per = pd.Series(cur).map(units["units_per"]).fillna(1.0).to_numpy(dtype=float)
    else:
        whole, per = cur, np.ones(len(cur))
    money = np.where(
        cur == base,
        1.0,
        np.where(whole == base, 1.0 / per, acts["fx_rate"].to_numpy(dtype=float) / per),
    )
    q = acts["quantity"].to_numpy(dtype=float)
    p = acts["unit_price"].to_numpy(dtype=float) * money
    amount = acts["amount"].to_numpy(dtype=float) * money
    fee = np.nan_to_num(acts["fee"].to_numpy(dtype=float)) * money
    qp = np.nan_to_num(q * p)
    a0 = np.nan_to_num(amount)
    has_symbol = acts["symbol"].notna().to_numpy()
    cash = (
        np.select(
            [
                kind == "BUY",
                kind == "SELL",
                np.isin(kind, ("DIVIDEND", "INTEREST", "DEPOSIT", "TRANSFER_IN")),
                np.isin(kind, ("FEE", "TAX", "WITHDRAWAL", "TRANSFER_OUT")),
            ],
            [-qp, qp, a0, -a0],
            0.0,
        )
        - fee
    )
    flow = np.where(np.isnan(amount), qp, amount)
    events = pd.DataFrame(
        {
            "portfolio_id": acts["portfolio_id"].to_numpy(),
            "session": acts["session"].to_numpy(),
            "cash_change": cash,
            "inflow": np.where(np.isin(kind, ("DEPOSIT", "TRANSFER_IN")), flow, 0.0),
            "outflow": np.where(np.isin(kind, ("WITHDRAWAL", "TRANSFER_OUT")), flow, 0.0),
            "income": np.where(np.isin(kind, ("DIVIDEND", "INTEREST")), a0, 0.0),
            "costs": np.where(np.isin(kind, ("FEE", "TAX")), a0, 0.0) + fee,
            "realized_gain": 0.0,
        }
    )

    trade = np.isin(kind, OPENS + CLOSES) & has_symbol
    if trade.any():
        segments = _lots(inputs, acts, trade, q, qp, sess_dates, splits, events)
    else:
        segments = pd.DataFrame(
            columns=["portfolio_id", "symbol", "start", "stop", "units", "cost"]
        )

    # ---- the market's dividends the ledgers record themselves
    recorded = pd.DataFrame(columns=["portfolio_id", "symbol", "ex_date"])
    own = acts[(kind == "DIVIDEND") & has_symbol]
    if len(own) and inputs.dividends is not None and len(inputs.dividends):
        found = pd.merge_asof(
            own[["portfolio_id", "symbol", "activity_date"]].sort_values("activity_date"),
            inputs.dividends[["symbol", "ex_date"]].sort_values("ex_date"),
            left_on="activity_date",
            right_on="ex_date",
            by="symbol",
            tolerance=pd.Timedelta(days=RECORDED_DIVIDEND_DAYS),
        )
        recorded = found.dropna(subset=["ex_date"])[["portfolio_id", "symbol", "ex_date"]]
    return segments, events, recorded, _implied_rates(inputs, acts, base, q, p, amount)


def _implied_rates(
    inputs: Inputs,
    acts: pd.DataFrame,
    base: np.ndarray,
    q: np.ndarray,
    p: np.ndarray,
    amount: np.ndarray,
) -> pd.DataFrame:
    """The rates activities imply (see _ledgers), from their money in the base (``p``,
    ``amount``)."""
    columns = ["portfolio_id", "currency", "base_currency", "session", "rate"]
    fx_rate = (
        acts["fx_rate"].to_numpy(dtype=float) if "fx_rate" in acts else np.full(len(acts), np.nan)
    )
    stated = ~np.isnan(fx_rate) & acts["symbol"].notna().to_numpy()
    if not stated.any() or inputs.symbol_currencies is None or inputs.currency_units is None:
        return pd.DataFrame(columns=columns)
    units = inputs.currency_units.set_index("currency")["whole_currency"]
    trading = inputs.symbol_currencies.set_index("symbol")["currency"]
    currency = acts["symbol"].map(trading).fillna("USD")
    whole = currency.map(units).fillna(currency).to_numpy(dtype=object)
    mine = stated & (whole != base)
    trade = ~np.isnan(q) & ~np.isnan(p)
    base_amount = np.where(trade, q * p, amount)[mine]
    frame = pd.DataFrame(
        {
            "portfolio_id": acts["portfolio_id"].to_numpy()[mine],
            "currency": whole[mine],
            "base_currency": base[mine],
            "session": acts["session"].to_numpy()[mine],
            "base_amount": base_amount,
            "local_amount": base_amount / fx_rate[mine],
        }
    )
    sums = frame.groupby(columns[:4], sort=True)[["base_amount", "local_amount"]].sum()
    return sums.assign(rate=sums["base_amount"] / sums["local_amount"]).reset_index()[columns]


def _dividend_events(
    inputs: Inputs,
    sess_dates: np.ndarray,
    rows: pd.DataFrame,
    fx: _FX | None,
    recorded: pd.DataFrame | None,
    units: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> pd.DataFrame:
    """The market's dividends paid on the units held at the close before the ex-date (a buy
    on the ex-date does not get it, a sell on it does), as income into cash on the ex-date
    session, in the base currency at the factor that values the holding that session (none:
    not credited), unless the ledger records the payment itself. ``rows``: row (the subject
    index), portfolio_id, symbol, E, X (held E <= d < X), units (on E-1 .. as of the row's
    terms) and split (units on the ex-date's previous session per unit of ``units``)."""
    n = len(sess_dates)
    dv = inputs.dividends
    ex = _session_pos(sess_dates, dv["ex_date"].to_numpy())
    dv = dv.assign(ex=ex)[(ex > 0) & (ex < n)]
    paid = rows.merge(dv, on="symbol")
    paid = paid[(paid["E"] < paid["ex"]) & (paid["ex"] <= paid["X"])]
    if recorded is not None and len(recorded):
        key = ["portfolio_id", "symbol", "ex_date"]
        paid = paid.merge(recorded[key].drop_duplicates(), on=key, how="left", indicator=True)
        paid = paid[paid["_merge"] == "left_only"]
    row, ex = paid["row"].to_numpy(), paid["ex"].to_numpy()
    amount = units(row, ex - 1) * paid["amount_per_share"].to_numpy()
    if fx is not None:
        amount = amount * fx.at(row, ex)[0]
    return pd.DataFrame(
        {
            "portfolio_id": paid["portfolio_id"].to_numpy(),
            "session": paid["ex"].to_numpy(),
            "cash_change": amount,
            "income": amount,
        }
    ).dropna(subset=["cash_change"])


def compute_snapshots(
    inputs: Inputs, as_of: date | pd.Timestamp | None = None, batch: int | None = None
) -> pd.DataFrame:
    """Daily snapshots (one row per portfolio per session), columns SNAPSHOT_COLUMNS (and
    FX_SNAPSHOT_COLUMNS with holdings in another currency, LEDGER_SNAPSHOT_COLUMNS with cash)."""
    return pd.concat(list(snapshot_batches(inputs, as_of, batch)), ignore_index=True)


def snapshot_batches(
    inputs: Inputs, as_of: date | pd.Timestamp | None = None, batch: int | None = None
) -> Iterator[pd.DataFrame]:
    """compute_snapshots in batches of ``batch`` whole portfolios (by id; None:
    BATCH_PORTFOLIOS), so that memory follows the batch, not the whole book: each frame has
    the columns of compute_snapshots, and an empty frame with them is yielded when there is
    nothing to value."""
    batch = batch or BATCH_PORTFOLIOS
    target = pd.Timestamp(as_of) if as_of is not None else inputs.as_of
    sessions = inputs.sessions.sort_values("session_date")
    if target is None:
        yield pd.DataFrame(columns=SNAPSHOT_COLUMNS)
        return
    sessions = sessions[sessions["session_date"] <= target]
    sess_dates = sessions["session_date"].to_numpy()
    sess_idx = sessions["session_idx"].to_numpy().astype(np.int64)
    n = len(sess_dates)
    has_ledgers = inputs.activities is not None and not inputs.activities.empty
    if n == 0 or (inputs.positions.empty and not has_ledgers):
        yield pd.DataFrame(columns=SNAPSHOT_COLUMNS)
        return

    pos = inputs.positions.sort_values(["portfolio_id", "position_id"]).reset_index(drop=True)
    market = _Market(inputs.prices, sess_dates)
    splits = _Splits(inputs.splits, sess_dates)
    bench_of = inputs.portfolios.set_index("portfolio_id")["benchmark_symbol"]
    base_of = (
        inputs.portfolios.set_index("portfolio_id")["base_currency"]
        if "base_currency" in inputs.portfolios.columns
        else pd.Series("USD", index=inputs.portfolios["portfolio_id"])
    )

    # The rows valued: the positions, then the ledgers' holding segments (per symbol held, in
    # the units held then, worth their cost before the symbol's first close), by portfolio.
    E_pos = _session_pos(sess_dates, pos["entry_date"].to_numpy())
    exit_dates = pos["exit_date"].to_numpy()
    has_exit = ~pd.isna(exit_dates)
    X_pos = np.where(
        has_exit, _session_pos(sess_dates, np.where(has_exit, exit_dates, sess_dates[0])), n
    )
    # X == n: no exit, or an exit after S* — open on S*.
    implied = None
    if has_ledgers:
        segments, events, recorded, implied = _ledgers(inputs, sess_dates, splits, base_of)
    else:
        segments = pd.DataFrame(
            columns=["portfolio_id", "symbol", "start", "stop", "units", "cost"]
        )
        events = recorded = None
    nseg = len(segments)
    seg_units = segments["units"].to_numpy(dtype=float)
    seg_cost = segments["cost"].to_numpy(dtype=float)
    klass_pos = pos["investment_class"].to_numpy()
    pf_all = np.r_[
        pos["portfolio_id"].to_numpy(dtype=np.int64),
        segments["portfolio_id"].to_numpy(dtype=np.int64),
    ]
    order = np.argsort(pf_all, kind="stable")
    pf_all = pf_all[order]
    symbol_all = np.r_[
        pos["symbol"].to_numpy(dtype=object), segments["symbol"].to_numpy(dtype=object)
    ][order]
    klass = np.r_[klass_pos, np.full(nseg, "PUBLIC", dtype=object)][order]
    is_ledger = np.r_[np.zeros(len(pos), dtype=bool), np.ones(nseg, dtype=bool)][order]
    units_all = np.r_[
        pos["quantity"].to_numpy(dtype=float) * np.array([MULTIPLIER[k] for k in klass_pos]),
        seg_units,
    ][order]
    pe_all = np.r_[pos["entry_price"].to_numpy(dtype=float), seg_cost / seg_units][order]
    px_all = np.r_[pos["exit_price"].to_numpy(dtype=float), np.full(nseg, np.nan)][order]
    E = np.r_[E_pos, segments["start"].to_numpy(dtype=np.int64)][order]
    X = np.r_[X_pos, segments["stop"].to_numpy(dtype=np.int64)][order]
    position_ids = np.r_[pos["position_id"].to_numpy(dtype=np.int64), -1 - np.arange(nseg)][order]
    vals = _Valuations(inputs.valuations, pd.Index(position_ids), sess_dates)
    code_all = market.code(symbol_all)
    private_all = klass == "PRIVATE"
    nrows = len(pf_all)
    # quoted positions follow the market's splits from their entry (a piece held through a
    # k:1 split holds k x the units at 1/k of the entry price); the ledgers' segments are
    # already in the units held then
    split_all = np.where((klass == "PUBLIC") & ~is_ledger, splits.code(symbol_all), -1)
    no_day = np.full(nseg, np.datetime64("NaT"), dtype="datetime64[ns]")
    entry_day = np.r_[pos["entry_date"].to_numpy(dtype="datetime64[ns]"), no_day][order]
    exit_day = np.r_[pos["exit_date"].to_numpy(dtype="datetime64[ns]"), no_day][order]
    # (an entry dated before an ex-date on its session holds the split's units from the start)
    split_entry = splits.factor(split_all, np.minimum(E, n - 1)) / splits.on_session_after(
        split_all, np.minimum(E, n - 1), entry_day
    )

    # Currencies: subjects are the rows, then each portfolio's benchmark (in the order of
    # pf_ids). None when everything is in its portfolio's base.
    ev_pf = (
        np.zeros(0, dtype=np.int64)
        if events is None
        else events["portfolio_id"].to_numpy(dtype=np.int64)
    )
    pf_ids = np.union1d(pf_all, ev_pf)
    pf_bases = base_of.reindex(pf_ids).fillna("USD").to_numpy()
    fx = _FX.build(
        inputs,
        sess_dates,
        sess_idx,
        np.r_[symbol_all, bench_of.reindex(pf_ids).to_numpy(dtype=object)],
        np.r_[base_of.reindex(pf_all).fillna("USD").to_numpy(dtype=object), pf_bases],
        np.r_[~private_all, np.ones(len(pf_ids), dtype=bool)],
    )
    if fx is not None and implied is not None and len(implied):
        # rule 'activity': a row's (not a benchmark's) own portfolio's stated rates
        fx.with_activity_rates(np.r_[pf_all, np.full(len(pf_ids), -1, dtype=np.int64)], implied)
    if fx is not None:
        # cost and inflow at the entry session's rate (NaN: no rate, left out); a ledger's
        # cost is the base-currency cash paid: not converted
        entry_fx = fx.at(np.arange(nrows), np.minimum(E, n - 1))[0]
        cost_all = units_all * pe_all * np.where(is_ledger, 1.0, entry_fx)
        cost_all[np.isnan(cost_all)] = 0.0
    else:
        cost_all = units_all * pe_all

    def held_units(row: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Units of rows on sessions d: a position's times the splits since its entry."""
        return units_all[row] * splits.factor(split_all[row], d) / split_entry[row]

    # Cash events per portfolio per session: the ledgers' activities and the market's
    # dividends, then the implicit deposits that keep the balance at or above zero.
    frames = [] if events is None else [events]
    if inputs.dividends is not None and len(inputs.dividends) and nrows:
        public = np.flatnonzero(klass == "PUBLIC")
        holders = pd.DataFrame(
            {
                "row": public,
                "portfolio_id": pf_all[public],
                "symbol": symbol_all[public],
                "E": E[public],
                "X": X[public],
            }
        )
        holders = holders[holders["symbol"].isin(inputs.dividends["symbol"])]
        frames.append(_dividend_events(inputs, sess_dates, holders, fx, recorded, held_units))
    has_cash = bool(frames) and sum(len(f) for f in frames) > 0
    if has_cash:
        ev = (
            pd.concat(frames, ignore_index=True)
            .fillna(0.0)
            .groupby(["portfolio_id", "session"], sort=True)
            .sum()
            .reset_index()
        )
        running = ev.groupby("portfolio_id")["cash_change"].cumsum()
        implicit_total = np.maximum(0.0, -running.groupby(ev["portfolio_id"]).cummin())
        implicit = implicit_total - implicit_total.groupby(ev["portfolio_id"]).shift(1).fillna(0.0)
        ev["cash_change"] += implicit
        ev["inflow"] += implicit
        ev_pf = ev["portfolio_id"].to_numpy(dtype=np.int64)
        ev_session = ev["session"].to_numpy(dtype=np.int64)
        ev_sums = {c: ev[c].to_numpy(dtype=float) for c in LEDGER_EVENT_COLUMNS}
    with_cash = has_cash or has_ledgers
    columns = SNAPSHOT_COLUMNS + ([] if fx is None else FX_SNAPSHOT_COLUMNS)
    columns += LEDGER_SNAPSHOT_COLUMNS if with_cash else []
    yielded = False
    for c0 in range(0, len(pf_ids), batch):
        ids = pf_ids[c0 : c0 + batch]
        lo = int(np.searchsorted(pf_all, ids[0], side="left"))
        hi = int(np.searchsorted(pf_all, ids[-1], side="right"))
        g = np.arange(lo, hi)  # global rows of this chunk
        local_pf = np.searchsorted(ids, pf_all[g])
        npf = len(ids)

        # Held sessions: E <= d < X, within [0, n).
        start, stop = E[g], np.minimum(X[g], n)
        length = np.maximum(stop - start, 0)
        rows = np.repeat(np.arange(len(g)), length)
        offs = np.arange(len(rows)) - np.repeat(np.cumsum(length) - length, length)
        d = start[rows] + offs
        gr = g[rows]
        units_r, pe_r = units_all[gr], pe_all[gr]
        if splits.codes:
            cut = split_all[gr] >= 0
            if cut.any():
                scale = splits.factor(split_all[gr], d) / split_entry[gr]
                units_r, pe_r = units_r * scale, pe_r / scale
        value, method, age = _value(
            market,
            vals,
            gr,
            code_all[gr],
            private_all[gr],
            units_r,
            pe_r,
            d,
            sess_idx,
        )
        key = local_pf[rows] * n + d
        size = npf * n

        def total(weights: np.ndarray | None, k: np.ndarray = key, size: int = size) -> np.ndarray:
            return np.bincount(k, weights=weights, minlength=size)

        if fx is not None:
            # in the base at the session's rate; without one, left out of the total and counted
            # (a ledger's holding before its first close is worth its cost: not converted)
            factor, rule = fx.at(gr, d)
            at_cost = is_ledger[gr] & (method == M_ENTRY)
            if at_cost.any():
                factor[at_cost] = 1.0
                rule[at_cost] = _FX.NOT_CONVERTED
            value = value * factor
            value[np.isnan(value)] = 0.0
            n_fx = [
                total((rule == 0).astype(float)),
                total((rule > 0).astype(float)),
                total((rule == _FX.NONE).astype(float)),
                total((rule == _FX.ACTIVITY).astype(float)),
            ]
            max_fx_age = np.zeros(size, dtype=np.int64)
            if len(key):
                np.maximum.at(max_fx_age, key, np.maximum(rule, 0))
        mv = total(value)
        cost = total(cost_all[gr])
        held = total(None)
        n_by = [total((method == m).astype(float)) for m in (M_CLOSE, M_STALE, M_ENTRY, M_MANUAL)]
        max_age = np.zeros(size, dtype=np.int64)
        if len(key):
            np.maximum.at(max_age, key, age)

        # Flows of positions: inflow at the entry session, outflow at the exit session (a
        # ledger's flows are its external ones, in its cash events).
        ein = (E[g] < n) & ~is_ledger[g]
        inflow = total(cost_all[g][ein], local_pf[ein] * n + E[g][ein])
        xin = (X[g] < n) & ~is_ledger[g]
        gx = g[xin]
        units_x = held_units(gx, X[gx])  # a split on the exit session is in the exit price
        xval, _, _ = _value(
            market,
            vals,
            gx,
            code_all[gx],
            private_all[gx],
            units_x,
            units_all[gx] * pe_all[gx] / units_x,
            X[gx],
            sess_idx,
        )
        # an exit price dated before an ex-date on its session is in the terms before it
        before = splits.on_session_after(split_all[gx], X[gx], exit_day[gx])
        xamt = np.where(np.isnan(px_all[gx]), xval, units_x / before * px_all[gx])
        if fx is not None:  # at the exit session's rate (none: left out)
            xamt = xamt * fx.at(gx, X[gx])[0]
            xamt[np.isnan(xamt)] = 0.0
        outflow = total(xamt, local_pf[xin] * n + X[gx])

        # Each portfolio's span: first entry session .. S* if anything is open (or it has
        # cash: cash stays), else its last exit.
        first = np.full(npf, n, dtype=np.int64)
        np.minimum.at(first, local_pf, E[g])
        any_open = np.zeros(npf, dtype=bool)
        np.logical_or.at(any_open, local_pf, X[g] >= n)
        last_exit = np.full(npf, -1, dtype=np.int64)
        np.maximum.at(last_exit, local_pf, np.where(X[g] < n, X[g], -1))
        if has_cash:
            mine = (ev_pf >= ids[0]) & (ev_pf <= ids[-1])
            ev_local = np.searchsorted(ids, ev_pf[mine])
            ev_key = ev_local * n + ev_session[mine]
            np.minimum.at(first, ev_local, ev_session[mine])
            any_open[ev_local] = True
            sums = {c: total(v[mine], ev_key) for c, v in ev_sums.items()}
            cash = sums["cash_change"].reshape(npf, n).cumsum(axis=1).ravel()
            mv = mv + cash
            inflow = inflow + sums["inflow"]
            outflow = outflow + sums["outflow"]
        last = np.where(any_open, n - 1, last_exit)
        span = np.where(first < n, np.maximum(last - first + 1, 0), 0)
        prow = np.repeat(np.arange(npf), span)
        poff = np.arange(len(prow)) - np.repeat(np.cumsum(span) - span, span)
        pd_ = first[prow] + poff
        k = prow * n + pd_

        mv_k, in_k, out_k = mv[k], inflow[k], outflow[k]
        is_first = poff == 0
        prev_mv = np.where(is_first, 0.0, np.r_[0.0, mv_k[:-1]])
        denom = prev_mv + in_k
        safe = np.where(denom == 0, 1.0, denom)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(denom == 0, 0.0, (mv_k + out_k) / safe - 1.0)
        growth = pd.Series(1.0 + r).groupby(prow).cumprod().to_numpy()

        bcode = market.code(bench_of.reindex(ids).to_numpy())
        bclose = np.where(bcode[prow] >= 0, market.filled[np.maximum(bcode[prow], 0), pd_], np.nan)
        if fx is not None:  # the benchmark in the base currency too (no rate: null)
            bclose = bclose * fx.at(nrows + c0 + prow, pd_)[0]
        base = np.full(npf, np.nan)
        base[prow[is_first]] = bclose[is_first]
        cash_k = cash[k] if has_cash else np.zeros(len(k))
        ledger_cols: dict[str, np.ndarray] = {}
        if with_cash:
            zero = np.zeros(len(k))
            income_k = sums["income"][k] if has_cash else zero
            costs_k = sums["costs"][k] if has_cash else zero
            ledger_cols = {
                "cash_balance": cash_k,
                "income": income_k,
                "costs": costs_k,
                "realized_gain": sums["realized_gain"][k] if has_cash else zero,
                "income_return": np.where(denom == 0, 0.0, income_k / safe),
                "cost_return": np.where(denom == 0, 0.0, -costs_k / safe),
            }
        yielded = True
        yield pd.DataFrame(
            {
                "portfolio_id": ids[prow],
                "session_date": sess_dates[pd_],
                "session_idx": sess_idx[pd_],
                "market_value": mv_k,
                "cost_basis": cost[k],
                "unrealized_pnl": mv_k - cash_k - cost[k],
                "positions_held": held[k].astype(np.int64),
                "n_close": n_by[0][k].astype(np.int64),
                "n_stale": n_by[1][k].astype(np.int64),
                "max_stale_sessions": max_age[k],
                "n_entry": n_by[2][k].astype(np.int64),
                "n_manual": n_by[3][k].astype(np.int64),
                "inflow": in_k,
                "outflow": out_k,
                "daily_return": r,
                "cum_twr": growth - 1.0,
                "benchmark_close": bclose,
                "benchmark_cum_return": bclose / base[prow] - 1.0,
                **(
                    {}
                    if fx is None
                    else {
                        "n_fx_session": n_fx[0][k].astype(np.int64),
                        "n_fx_last_rate": n_fx[1][k].astype(np.int64),
                        "n_fx_none": n_fx[2][k].astype(np.int64),
                        "max_fx_stale_sessions": max_fx_age[k],
                        "n_fx_activity": n_fx[3][k].astype(np.int64),
                    }
                ),
                **ledger_cols,
            }
        )[columns]
    if not yielded:
        yield pd.DataFrame(columns=columns)


# --------------------------------------------------------------------------------------------
# Chart caches


def _months_back(dates: np.ndarray, months: int) -> np.ndarray:
    """Each date minus a number of calendar months (day clamped to the month's end)."""
    uniq, inv = np.unique(dates, return_inverse=True)
    shifted = (pd.DatetimeIndex(uniq) - pd.DateOffset(months=months)).to_numpy()
    return shifted[inv]


def compute_charts(
    snapshots: pd.DataFrame, sessions: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Chart caches per (portfolio, period) and their thinned points.

    Returns ``(charts, points)`` with columns CHART_COLUMNS and POINT_COLUMNS.
    """
    if snapshots.empty:
        return pd.DataFrame(columns=CHART_COLUMNS), pd.DataFrame(columns=POINT_COLUMNS)
    sessions = sessions.sort_values("session_date")
    sess_dates = sessions["session_date"].to_numpy().astype("datetime64[ns]")
    sess_idx = sessions["session_idx"].to_numpy().astype(np.int64)
    snap = snapshots.sort_values(["portfolio_id", "session_date"]).reset_index(drop=True)
    snap_pos = np.searchsorted(sess_dates, snap["session_date"].to_numpy().astype("datetime64[ns]"))
    pf = snap["portfolio_id"].to_numpy()
    ids, row0, count = np.unique(pf, return_index=True, return_counts=True)
    first_pos = snap_pos[row0]
    end_row = row0 + count - 1
    end_pos = snap_pos[end_row]
    end_dates = sess_dates[end_pos]
    mv = snap["market_value"].to_numpy()
    cum = snap["cum_twr"].to_numpy()
    bclose = snap["benchmark_close"].to_numpy().astype(float)

    def row_of(i: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Snapshot row of portfolio index i at session position p (snapshots are contiguous)."""
        return row0[i] + (p - first_pos[i])

    def last_on_or_before(target: np.ndarray) -> np.ndarray:
        return np.searchsorted(sess_dates, target, side="right") - 1

    years = end_dates.astype("datetime64[Y]")
    starts = {
        "1D": end_pos - 1,
        "5D": end_pos - 5,
        **{p: last_on_or_before(_months_back(end_dates, m)) for p, m in MONTHS.items()},
        # from the previous year's last close: the session before the year's first
        "YTD": np.searchsorted(sess_dates, years.astype("datetime64[ns]"), side="left") - 1,
        "MAX": first_pos,
    }
    recent_start = np.searchsorted(sess_dates, _months_back(end_dates, 1), side="right")

    charts: list[pd.DataFrame] = []
    points: list[pd.DataFrame] = []
    idx = np.arange(len(ids))
    for period in PERIODS:
        raw = starts[period]
        partial = raw < first_pos
        s = np.where(partial, first_pos, raw)
        rs, re_ = row_of(idx, s), end_row
        twr = (1.0 + cum[re_]) / (1.0 + cum[rs]) - 1.0
        bret = bclose[re_] / bclose[rs] - 1.0
        n_sess = end_pos - s + 1

        # Thinning: keep START, END, the last month; every step-th of the rest.
        big = n_sess > MAX_POINTS
        rstart = np.maximum(recent_start, s + 1)
        recent = np.maximum(end_pos - rstart, 0)
        remaining = np.maximum(np.minimum(rstart, end_pos) - (s + 1), 0)
        step = np.where(big, np.ceil(remaining / np.maximum(MAX_POINTS - 2 - recent, 1)), 1)
        step = np.maximum(step, 1).astype(np.int64)
        prow = np.repeat(idx, n_sess)
        off = np.arange(len(prow)) - np.repeat(np.cumsum(n_sess) - n_sess, n_sess)
        p = s[prow] + off
        keep = (
            ~big[prow]
            | (off == 0)
            | (p == end_pos[prow])
            | (p >= rstart[prow])
            | (((off - 1) % step[prow]) == 0)
        )
        prow, p = prow[keep], p[keep]
        r = row_of(prow, p)
        rs_p = rs[prow]
        n_points = np.bincount(prow, minlength=len(ids))
        charts.append(
            pd.DataFrame(
                {
                    "portfolio_id": ids,
                    "period": period,
                    "start_session_idx": sess_idx[s],
                    "end_session_idx": sess_idx[end_pos],
                    "start_date": sess_dates[s],
                    "end_date": end_dates,
                    "start_value": mv[rs],
                    "end_value": mv[re_],
                    "period_twr": twr,
                    "benchmark_return": bret,
                    "excess_return": twr - bret,
                    "is_partial": partial,
                    "n_sessions": n_sess,
                    "n_points": n_points,
                }
            )
        )
        points.append(
            pd.DataFrame(
                {
                    "portfolio_id": ids[prow],
                    "period": period,
                    "session_date": sess_dates[p],
                    "value": mv[r],
                    "cum_return": (1.0 + cum[r]) / (1.0 + cum[rs_p]) - 1.0,
                    "benchmark_cum_return": bclose[r] / bclose[rs_p] - 1.0,
                }
            )
        )
    return (
        pd.concat(charts, ignore_index=True)[CHART_COLUMNS],
        pd.concat(points, ignore_index=True)[POINT_COLUMNS],
    )


# --------------------------------------------------------------------------------------------
# Leaderboards


def compute_leaderboards(
    charts: pd.DataFrame, portfolios: pd.DataFrame, tie_tolerance: float = 1e-10
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per period: public portfolios ranked by period TWR, and those excluded (with the reason).

    Returns closer than ``tie_tolerance`` (``Inputs.rank_tie_tolerance``) share a rank: a
    portfolio's rank is 1 + the number whose return is at least the tolerance higher; its
    percentile is 100 × the share of the others that do not rank above it.
    """
    public = set(portfolios.loc[portfolios["is_public"].astype(bool), "portfolio_id"])
    cand = charts[charts["portfolio_id"].isin(public)].copy()
    too_short = cand["is_partial"].astype(bool) | (
        (cand["period"] == "MAX") & (cand["n_sessions"] < MIN_MAX_SESSIONS)
    )
    excluded = cand.loc[too_short, ["period", "portfolio_id"]].copy()
    excluded["reason"] = EXCLUDED_REASON
    ranked = cand.loc[~too_short].copy()
    grp = ranked.groupby("period")["period_twr"]

    def tolerant_rank(twr: pd.Series) -> pd.Series:
        values = twr.to_numpy(dtype=float)
        higher = len(values) - np.searchsorted(np.sort(values), values + tie_tolerance, side="left")
        return pd.Series(higher + 1, index=twr.index)

    ranked["rank"] = grp.transform(tolerant_rank).astype(np.int64)
    ranked["n_ranked"] = grp.transform("size").astype(np.int64)
    ranked["percentile"] = np.where(
        ranked["n_ranked"] > 1,
        100.0 * (ranked["n_ranked"] - ranked["rank"]) / (ranked["n_ranked"] - 1).clip(lower=1),
        100.0,
    )
    ranked["relative_return"] = ranked["period_twr"] - ranked["benchmark_return"]
    order = {p: i for i, p in enumerate(PERIODS)}
    ranked = ranked.sort_values(
        ["period", "rank", "portfolio_id"], key=lambda c: c.map(order) if c.name == "period" else c
    )
    excluded = excluded.sort_values(
        ["period", "portfolio_id"], key=lambda c: c.map(order) if c.name == "period" else c
    )
    return ranked[RANKED_COLUMNS].reset_index(drop=True), excluded[EXCLUDED_COLUMNS].reset_index(
        drop=True
    )


# --------------------------------------------------------------------------------------------
# Writing back


DDL = f"""
create schema if not exists {SCHEMA};
drop table if exists {SCHEMA}.snapshots, {SCHEMA}.chart_caches, {SCHEMA}.chart_points,
    {SCHEMA}.leaderboards, {SCHEMA}.leaderboard_exclusions;
create table {SCHEMA}.snapshots (
    portfolio_id bigint not null, session_date date not null, session_idx integer not null,
    market_value float8 not null, cost_basis float8 not null, unrealized_pnl float8 not null,
    positions_held integer not null, n_close integer not null, n_stale integer not null,
    max_stale_sessions integer not null, n_entry integer not null, n_manual integer not null,
    inflow float8 not null, outflow float8 not null, daily_return float8 not null,
    cum_twr float8 not null, benchmark_close float8, benchmark_cum_return float8,
    cash_balance float8, income float8, costs float8, realized_gain float8,
    income_return float8, cost_return float8
);
create table {SCHEMA}.chart_caches (
    portfolio_id bigint not null, period text not null,
    start_session_idx integer not null, end_session_idx integer not null,
    start_date date not null, end_date date not null,
    start_value float8 not null, end_value float8 not null, period_twr float8 not null,
    benchmark_return float8, excess_return float8, is_partial boolean not null,
    n_sessions integer not null, n_points integer not null
);
create table {SCHEMA}.chart_points (
    portfolio_id bigint not null, period text not null, session_date date not null,
    value float8 not null, cum_return float8 not null, benchmark_cum_return float8
);
create table {SCHEMA}.leaderboards (
    period text not null, portfolio_id bigint not null, rank integer not null,
    percentile float8 not null, period_twr float8 not null, benchmark_return float8,
    relative_return float8, n_ranked integer not null
);
create table {SCHEMA}.leaderboard_exclusions (
    period text not null, portfolio_id bigint not null, reason text not null
);
"""
KEYS = f"""
alter table {SCHEMA}.snapshots add primary key (portfolio_id, session_date);
alter table {SCHEMA}.chart_caches add primary key (portfolio_id, period);
alter table {SCHEMA}.chart_points add primary key (portfolio_id, period, session_date);
alter table {SCHEMA}.leaderboards add primary key (period, portfolio_id);
"""


_PG_EPOCH = np.datetime64("2000-01-01", "D")


def _pg_type(col: str, series: pd.Series) -> str:
    if col.endswith("_date"):
        return "date"
    if series.dtype == bool or col == "is_partial":
        return "bool"
    if col in ("period", "reason"):
        return "text"
    if col in ("portfolio_id",):
        return "int8"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "int4"
    return "float8"


def _binary_copy_payload(frame: pd.DataFrame) -> bytes:
    """PostgreSQL binary COPY data for a frame, built with numpy (no per-row Python).

    Rows are grouped by their null pattern and text lengths so each group has a fixed layout
    and becomes one numpy structured array.
    """
    n = len(frame)
    cols: list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]] = []
    for col in frame.columns:
        series = frame[col]
        kind = _pg_type(col, series)
        null = series.isna().to_numpy()
        lengths = None
        if kind == "date":
            values = (series.to_numpy().astype("datetime64[D]") - _PG_EPOCH).astype(">i4")
        elif kind == "bool":
            values = series.fillna(False).to_numpy().astype("u1")
        elif kind == "text":
            values = series.fillna("").astype(str).str.encode("utf-8").to_numpy().astype(bytes)
            lengths = np.char.str_len(values) if n else np.zeros(0, dtype=np.int64)
        elif kind == "int8":
            values = series.fillna(0).to_numpy().astype(">i8")
        elif kind == "int4":
            values = series.fillna(0).to_numpy().astype(">i4")
        else:
            values = series.to_numpy(dtype=float).astype(">f8")
        cols.append((kind, values, null, lengths))
    keys = [c[2].astype(np.int64) for c in cols] + [c[3] for c in cols if c[3] is not None]
    if n and keys:
        groups = pd.DataFrame(dict(enumerate(keys))).groupby(list(range(len(keys)))).indices
    else:
        groups = {(): np.arange(n)}
    parts = [b"PGCOPY\n\xff\r\n\x00", np.array([0, 0], dtype=">i4").tobytes()]
    for rows in groups.values():
        if len(rows) == 0:
            continue
        r0 = rows[0]
        fields: list[tuple[str, str]] = [("nf", ">i2")]
        for i, (_kind, values, null, lengths) in enumerate(cols):
            fields.append((f"l{i}", ">i4"))
            if not null[r0]:
                width = int(lengths[r0]) if lengths is not None else 0
                fields.append((f"v{i}", f"S{width}" if lengths is not None else values.dtype.str))
        arr = np.empty(len(rows), dtype=np.dtype(fields))
        arr["nf"] = len(cols)
        for i, (_kind, values, null, lengths) in enumerate(cols):
            if null[r0]:
                arr[f"l{i}"] = -1
            else:
                arr[f"l{i}"] = int(lengths[r0]) if lengths is not None else values.dtype.itemsize
                arr[f"v{i}"] = values[rows]
        parts.append(arr.tobytes())
    parts.append(b"\xff\xff")
    return b"".join(parts)


def _copy(cur: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    with cur.copy(
        f"copy {SCHEMA}.{table} ({', '.join(frame.columns)}) from stdin (format binary)"
    ) as copy:
        copy.write(_binary_copy_payload(frame))


def _copy_batch(cur: psycopg.Cursor, snapshots: pd.DataFrame, points: pd.DataFrame) -> None:
    ledger = [c for c in LEDGER_SNAPSHOT_COLUMNS if c in snapshots.columns]
    _copy(cur, "snapshots", snapshots[SNAPSHOT_COLUMNS + ledger])
    _copy(cur, "chart_points", points[POINT_COLUMNS])


def _copy_ranked(
    cur: psycopg.Cursor, charts: pd.DataFrame, ranked: pd.DataFrame, excluded: pd.DataFrame
) -> None:
    _copy(cur, "chart_caches", charts[CHART_COLUMNS])
    _copy(cur, "leaderboards", ranked[RANKED_COLUMNS])
    _copy(cur, "leaderboard_exclusions", excluded[EXCLUDED_COLUMNS])
    cur.execute(KEYS)


def write_back(
    url: str,
    snapshots: pd.DataFrame,
    charts: pd.DataFrame,
    points: pd.DataFrame,
    ranked: pd.DataFrame,
    excluded: pd.DataFrame,
) -> None:
    """Replace the bench_pandas tables with these frames (COPY, one transaction)."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(DDL)
        _copy_batch(cur, snapshots, points)
        _copy_ranked(cur, charts, ranked, excluded)


def run(url: str, write: bool = True, batch: int | None = None) -> dict[str, float | int]:
    """The whole baseline, timed per step (seconds); what the benchmark runner calls.

    It works in batches of ``batch`` portfolios, as a capable developer's nightly job over a
    large book would: each batch's snapshots, then its charts (a chart reads one portfolio's
    snapshots), then both written with COPY; the leaderboards rank every chart at the end. All
    of it is one transaction, so readers see the old tables or the new ones. Memory follows
    the batch and the inputs, not the book (at 10,000 portfolios the whole book's frames did
    not fit in 23.5 GB)."""
    import time

    t0 = time.perf_counter()
    inputs = load(url)
    spent = dict.fromkeys(("snapshots_s", "charts_s", "write_s"), 0.0)
    spent["load_s"] = time.perf_counter() - t0
    counts = {"snapshots": 0, "points": 0}
    charts_parts: list[pd.DataFrame] = []
    with contextlib.ExitStack() as stack:
        cur = None
        if write:
            conn = stack.enter_context(psycopg.connect(url))
            cur = stack.enter_context(conn.cursor())
            cur.execute(DDL)
        batches = snapshot_batches(inputs, batch=batch)
        while True:
            t = time.perf_counter()
            snaps = next(batches, None)
            spent["snapshots_s"] += time.perf_counter() - t
            if snaps is None:
                break
            t = time.perf_counter()
            charts, points = compute_charts(snaps, inputs.sessions)
            spent["charts_s"] += time.perf_counter() - t
            charts_parts.append(charts)
            counts["snapshots"] += len(snaps)
            counts["points"] += len(points)
            if cur is not None:
                t = time.perf_counter()
                _copy_batch(cur, snaps, points)
                spent["write_s"] += time.perf_counter() - t
            del snaps, points
        t = time.perf_counter()
        charts = pd.concat(charts_parts, ignore_index=True)
        ranked, excluded = compute_leaderboards(
            charts, inputs.portfolios, inputs.rank_tie_tolerance
        )
        spent["leaderboards_s"] = time.perf_counter() - t
        if cur is not None:
            t = time.perf_counter()
            _copy_ranked(cur, charts, ranked, excluded)
            spent["write_s"] += time.perf_counter() - t
    spent["total_s"] = time.perf_counter() - t0
    return {
        **spent,
        **counts,
        "charts": len(charts),
        "ranked": len(ranked),
        "excluded": len(excluded),
    }


__all__ = [
    "CHART_COLUMNS",
    "EXCLUDED_COLUMNS",
    "FX_SNAPSHOT_COLUMNS",
    "LEDGER_SNAPSHOT_COLUMNS",
    "PERIODS",
    "POINT_COLUMNS",
    "RANKED_COLUMNS",
    "SNAPSHOT_COLUMNS",
    "Inputs",
    "compute_charts",
    "compute_leaderboards",
    "compute_snapshots",
    "load",
    "run",
    "snapshot_batches",
    "write_back",
]
