"""An independent implementation of a ledger portfolio's figures, written from the spec
(docs/semantics.md, "Activities"; docs/activities.md), not from the SQL.

The SQL matches sells against buys by cumulative-unit intervals and values lot pieces with
window functions; this walks each ledger forward session by session, as a brokerage
statement does: on each session the market's and the ledger's splits first (units × ratio,
cost per unit ÷ ratio; a trade dated before a split but counting on its session, on a weekend
or a closure before the ex-date, is walked after it in its terms), then the market's dividends on the units held at the previous close
(unless the ledger records that payment), then the day's activities — buys and transfers in
before sells and transfers out — against a FIFO queue of lots or one average-cost pool per
symbol. Cash is the running sum of the activities' cash effects; a balance that would go
below zero is topped up by an implicit deposit (an inflow). Each session is then valued:
close on the day, else the last close (stale), else the holding's average cost (entry).

Currencies (issue 16; docs/semantics.md, "Currencies"), from the spec too: each currency's
value in USD per session is a stored XXXUSD rate, or the inverse of a stored USDXXX one, on
the session, else the last one before it (its age in sessions); a currency converts into the
base at usd(currency) / usd(base), rule ``session`` when both legs are of the day,
``last_rate`` (the older leg's age) when not; a pair of the two stored without USD (EURGBP,
either way round) is used instead when its rate (of the session, else its last) is no older
than the cross rate; where neither gives one, the rate the portfolio's own activities of that
session state for securities in that currency (Σ base amounts / Σ local amounts, rule
``activity``), else ``none``: the holding's value is left out and counted. A holding in the base currency (GBp in a GBP ledger: / 100) is not
converted. An activity in another currency than the base has its money (unit price, amount,
fee) times its own fx_rate, the base per unit of its currency, before anything else; one
that states no rate (cash activities, a security's dividend, fee or tax) moves cash in its
own whole currency (pence / 100): each currency's cash is its own running sum with its own
implicit deposits, valued every session at the conversion that values a holding in that
currency (none: left out, counted while the balance is not 0), its flows, income and costs
at the session's factor, and the balance held at the previous close times the factor's move
is the currency part. The ledger's cost is the base-currency cash paid: not converted; a
trade paid from cash in another currency (in the security's own currency, no fx_rate) moves
that currency's cash, and its lot's price is its price times the factor that values that cash
on the trade's session, so its cost and the gain a sale realizes are in the base; with no rate
its cost is unknown, and the holding is left out (value and cost) and counted as ``none``
while it holds such a lot; a sale's gain on an unknown cost or at an unknown rate is left out. The benchmark is
converted at the market's rate only. The market's dividends of a holding in another currency
are converted at the factor that values the holding on their ex-date session (none: not
credited).

The parts of a day's return (docs/semantics.md, "The parts of a day's return"), from the spec
too: the currency part is, per foreign holding valued at a close on both sessions and
converted on both, the units held at the previous close (after the day's splits) less those
the day sells, at the day's close, times the move of the conversion factor; income and costs
are the day's; price is the rest; each over the daily return's denominator. A period's parts
(``period_parts``) are summed the long way, each day's part times the product of the period's
returns before it.

``compute(inputs)`` returns the snapshots (the columns of analytics.fct_portfolio_snapshots
it defines), the holdings at the last session (app.holdings) and each ledger's external cash
flows with its end value (for XIRR); given a list ``cash_balances``, it adds the cash per
currency at the last session to it (app.cash_balances, ``CASH_COLUMNS``). Numbers are float64.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg

RECORDED_DIVIDEND_DAYS = 45  # a DIVIDEND activity pays the market dividend at most 45 days back

# the parts of a day's return (docs/semantics.md, "The parts of a day's return"), and of cum_twr
PARTS = ["price_return", "currency_return", "income_return", "cost_return"]
CUM_PARTS = [f"cum_{part}" for part in PARTS]
SNAPSHOT_COLUMNS = [
    "portfolio_id",
    "session_date",
    "market_value",
    "cost_basis",
    "unrealized_pnl",
    "positions_held",
    "n_close",
    "n_stale",
    "max_stale_sessions",
    "n_entry",
    "inflow",
    "outflow",
    "daily_return",
    "cum_twr",
    "benchmark_close",
    "benchmark_cum_return",
    "cash_balance",
    "income",
    "costs",
    "realized_gain",
    "income_to_date",
    "costs_to_date",
    "realized_gain_to_date",
    "base_currency",
    "n_fx_session",
    "n_fx_last_rate",
    "n_fx_activity",
    "n_fx_none",
    "max_fx_stale_sessions",
    "benchmark_close_local",
    "benchmark_cum_return_local",
    *PARTS,
    *CUM_PARTS,
]
HOLDING_COLUMNS = [
    "portfolio_id",
    "symbol",
    "quantity",
    "cost_basis",
    "market_value",
    "unrealized_pnl",
    "weight",
    "day_change",
    "trading_currency",
    "local_market_value",
    "fx_rate",
    "fx_rule",
]


@dataclass
class Inputs:
    activities: pd.DataFrame  # core.activities of the ledgers (numbers float, fee 0 when none)
    portfolios: pd.DataFrame  # portfolio_id, cost_method, benchmark_symbol, base_currency
    prices: pd.DataFrame  # symbol, price_date, close
    splits: pd.DataFrame  # symbol, ex_date, ratio
    dividends: pd.DataFrame  # symbol, ex_date, amount_per_share
    sessions: list[dt.date]  # the calendar's sessions, in order
    as_of: dt.date  # the last session with a price on or before the last closed session
    fx_rates: pd.DataFrame  # base_currency, quote_currency, rate_date, rate
    symbols: pd.DataFrame  # symbol, currency (its trading currency)
    currencies: pd.DataFrame  # currency, unit_of, units_per (GBp: GBP, 100)


# app.cash_balances at the last session (the rows ``compute`` adds to ``cash_balances``)
CASH_COLUMNS = [
    "portfolio_id",
    "currency",
    "balance",
    "fx_rate",
    "fx_rule",
    "fx_stale_sessions",
    "market_value",
    "implicit_deposits",
]


def load(url: str, portfolio_ids: list[int]) -> Inputs:
    with psycopg.connect(url) as conn:

        def frame(query: str, params: list | None = None) -> pd.DataFrame:
            cur = conn.execute(query, params)
            return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])

        activities = frame(
            "select portfolio_id, activity_id, activity_date, activity_type::text as activity_type,"
            " symbol, quantity::float8 as quantity, unit_price::float8 as unit_price,"
            " amount::float8 as amount, coalesce(fee, 0)::float8 as fee,"
            " fx_rate::float8 as fx_rate, currency"
            " from core.activities where portfolio_id = any(%s)"
            " order by portfolio_id, activity_date, activity_id",
            [portfolio_ids],
        )
        portfolios = frame(
            "select portfolio_id, cost_method::text as cost_method, benchmark_symbol,"
            " base_currency"
            " from core.portfolios where portfolio_id = any(%s)",
            [portfolio_ids],
        )
        prices = frame("select symbol, price_date, close::float8 as close from market.prices")
        splits = frame("select symbol, ex_date, ratio::float8 as ratio from market.splits")
        dividends = frame(
            "select symbol, ex_date, amount_per_share::float8 as amount_per_share"
            " from market.dividends"
        )
        sessions = [
            r[0]
            for r in conn.execute(
                "select session_date from market.trading_days where calendar = 'XNYS'"
                " order by session_date"
            )
        ]
        as_of = conn.execute(
            "select max(prices.price_date) from market.prices"
            " inner join market.trading_days as days"
            " on days.calendar = 'XNYS' and days.session_date = prices.price_date"
            " where days.close_at <= ops.now()"
        ).fetchone()[0]
        fx_rates = frame(
            "select base_currency, quote_currency, rate_date, rate::float8 as rate"
            " from market.fx_rates"
        )
        symbols = frame("select symbol, currency from market.symbols")
        currencies = frame(
            "select currency, unit_of, units_per::float8 as units_per from market.currencies"
        )
    return Inputs(
        activities,
        portfolios,
        prices,
        splits,
        dividends,
        sessions,
        as_of,
        fx_rates,
        symbols,
        currencies,
    )


def _session_of(sessions: list[dt.date], day: dt.date) -> int:
    """The first session on or after ``day`` (an activity on a holiday counts on the next)."""
    return bisect.bisect_left(sessions, day)


class Book:
    """One symbol's lots: a FIFO queue of [units, cost per unit], or one average-cost pool."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.lots: deque[list[float]] = deque()  # fifo
        self.units = 0.0  # average
        self.cost = 0.0  # average

    def held(self) -> float:
        return sum(u for u, _ in self.lots) if self.method == "fifo" else self.units

    def cost_basis(self) -> float:
        """The cost of the units held; NaN (unknown) while any lot's cost is unknown."""
        return sum(u * c for u, c in self.lots) if self.method == "fifo" else self.cost

    def split(self, ratio: float) -> None:
        for lot in self.lots:
            lot[0] *= ratio
            lot[1] /= ratio
        self.units *= ratio

    def add(self, units: float, price: float) -> None:
        if self.method == "fifo":
            self.lots.append([units, price])
        else:
            self.units += units
            self.cost += units * price

    def take(self, units: float, price: float | None) -> float:
        """Remove ``units``; the gain realized at ``price`` (None: a transfer, no gain)."""
        gain = 0.0
        if self.method == "fifo":
            left = units
            while left > 1e-12 and self.lots:
                lot = self.lots[0]
                used = min(lot[0], left)
                if price is not None and not np.isnan(price) and not np.isnan(lot[1]):
                    gain += used * (price - lot[1])  # an unknown cost or price: left out
                lot[0] -= used
                left -= used
                if lot[0] <= 1e-12:
                    self.lots.popleft()
            return gain
        used = min(units, self.units)
        average = self.cost / self.units if self.units > 0 else 0.0
        if price is not None and not np.isnan(price) and not np.isnan(average):
            gain = used * (price - average)
        remaining = self.units - units
        if remaining <= 1e-12:
            self.units, self.cost = 0.0, 0.0
        else:
            self.cost *= remaining / self.units
            self.units = remaining
        return gain


class Fx:
    """The market's conversions between currencies, per session 0..last."""

    def __init__(self, inputs: Inputs, last: int) -> None:
        sessions = inputs.sessions
        direct: dict[str, dict[int, float]] = defaultdict(dict)  # XXXUSD: 1 XXX in USD
        inverse: dict[str, dict[int, float]] = defaultdict(dict)  # USDXXX, inverted
        # pairs without USD, (c, b) -> session -> 1 c in b: as stored, and inverted
        as_stored: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        inverted: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        for row in inputs.fx_rates.itertuples(index=False):
            idx = _session_of(sessions, row.rate_date)
            if idx >= len(sessions) or sessions[idx] != row.rate_date:
                continue
            if row.quote_currency == "USD":
                direct[row.base_currency][idx] = float(row.rate)
            elif row.base_currency == "USD":
                inverse[row.quote_currency][idx] = 1 / float(row.rate)
            else:
                as_stored[(row.base_currency, row.quote_currency)][idx] = float(row.rate)
                inverted[(row.quote_currency, row.base_currency)][idx] = 1 / float(row.rate)
        # a session with both ways round stored takes the rate stored that way round
        self.usd = {
            currency: _filled({**inverse[currency], **direct[currency]}, last)
            for currency in set(direct) | set(inverse)
        }
        self.direct = {
            pair: _filled({**inverted[pair], **as_stored[pair]}, last)
            for pair in set(as_stored) | set(inverted)
        }
        self.last = last
        self.units = {
            r.currency: (r.unit_of, float(r.units_per))
            if pd.notna(r.unit_of)
            else (r.currency, 1.0)
            for r in inputs.currencies.itertuples(index=False)
        }
        self.trading = {
            r.symbol: r.currency if pd.notna(r.currency) else "USD"
            for r in inputs.symbols.itertuples(index=False)
        }
        self._pairs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def quote(self, symbol: str) -> tuple[str, str, float]:
        """A symbol's trading currency, its whole currency and how many units make one."""
        trading = self.trading.get(symbol, "USD")
        whole, per = self.units.get(trading, (trading, 1.0))
        return trading, whole, per

    def _leg(self, currency: str) -> tuple[np.ndarray, np.ndarray]:
        if currency == "USD":
            return np.ones(self.last + 1), np.zeros(self.last + 1, dtype=np.int64)
        return self.usd.get(
            currency, (np.full(self.last + 1, np.nan), np.zeros(self.last + 1, dtype=np.int64))
        )

    def market(self, currency: str, base: str) -> tuple[np.ndarray, np.ndarray]:
        """Per session: the rate converting ``currency`` into ``base`` through USD (NaN: a leg
        has no rate on or before it) and its age (the older leg's); where the two have a
        stored pair of their own, its rate (the session's or its last) when no older."""
        key = (currency, base)
        if key not in self._pairs:
            (from_usd, from_age), (to_usd, to_age) = self._leg(currency), self._leg(base)
            rate, age = from_usd / to_usd, np.maximum(from_age, to_age)
            if key in self.direct:
                pair_rate, pair_age = self.direct[key]
                better = ~np.isnan(pair_rate) & (np.isnan(rate) | (pair_age <= age))
                rate, age = np.where(better, pair_rate, rate), np.where(better, pair_age, age)
            self._pairs[key] = (rate, age)
        return self._pairs[key]


def _in_base(acts: pd.DataFrame, base: str, fx: Fx) -> pd.DataFrame:
    """The activities' unit price, amount and fee in the currency of the cash they move
    (``cash_currency``): an activity in another currency with an fx_rate times it (base per
    unit of its whole currency; a subunit of the base, / its units), into the base; one
    without, in its own whole currency (/ its units); one in the base as it is."""
    factors, cash_currencies = [], []
    for currency, fx_rate in zip(acts["currency"], acts["fx_rate"], strict=True):
        whole, per = fx.units.get(currency, (currency, 1.0))
        cash_currencies.append(base)
        if currency == base:
            factors.append(1.0)
        elif whole == base:
            factors.append(1 / per)
        elif pd.isna(fx_rate):
            factors.append(1 / per)
            cash_currencies[-1] = whole
        else:
            factors.append(fx_rate / per)
    factor = np.array(factors, dtype=float)
    return acts.assign(
        unit_price=acts["unit_price"] * factor,
        amount=acts["amount"] * factor,
        fee=acts["fee"] * factor,
        cash_currency=cash_currencies,
    )


def _activity_rates(acts: list, fx: Fx, base: str) -> dict[tuple[int, str], float]:
    """(session, currency) -> the rate the ledger's activities of that session state for
    securities in that currency: Σ base amounts / Σ local amounts (one: its fx_rate)."""
    stated = [a for a in acts if pd.notna(a.fx_rate) and pd.notna(a.symbol)]
    sums: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for a in stated:
        whole = fx.quote(a.symbol)[1]
        if whole == base:
            continue
        has_trade = pd.notna(a.quantity) and pd.notna(a.unit_price)
        amount = a.quantity * a.unit_price if has_trade else a.amount
        sums[(a.session, whole)][0] += amount
        sums[(a.session, whole)][1] += amount / a.fx_rate
    return {key: base_sum / local_sum for key, (base_sum, local_sum) in sums.items()}


def _convert(fx: Fx, activity_rates: dict, symbol: str, base: str, idx: int):
    """(factor from one quoted unit into the base or None, the rule, the rate's age)."""
    _, whole, per = fx.quote(symbol)
    rate, rule, age = _convert_currency(fx, activity_rates, whole, base, idx)
    return (None if rate is None else rate / per), rule, age


def _convert_currency(fx: Fx, activity_rates: dict, whole: str, base: str, idx: int):
    """(rate from one unit of whole currency ``whole`` into the base or None, the rule, the
    rate's age): the market's, of the session or its last, else the ledger's activities' of
    the session, else none."""
    if whole == base:
        return 1.0, "base", 0
    rates, ages = fx.market(whole, base)
    if not np.isnan(rates[idx]):
        return rates[idx], "session" if ages[idx] == 0 else "last_rate", int(ages[idx])
    if (idx, whole) in activity_rates:
        return activity_rates[(idx, whole)], "activity", 0
    return None, "none", 0


def compute(
    inputs: Inputs, cash_balances: list | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, list]]:
    sessions = inputs.sessions
    last = _session_of(sessions, inputs.as_of)
    quotes: dict[str, dict[int, float]] = defaultdict(dict)
    for row in inputs.prices.itertuples(index=False):
        idx = _session_of(sessions, row.price_date)
        if idx < len(sessions) and sessions[idx] == row.price_date:
            quotes[row.symbol][idx] = float(row.close)
    closes = {symbol: _filled(series, last) for symbol, series in quotes.items()}
    market_splits: dict[str, dict[dt.date, float]] = defaultdict(dict)
    for row in inputs.splits.itertuples(index=False):
        market_splits[row.symbol][row.ex_date] = float(row.ratio)
    market_dividends: dict[str, dict[dt.date, float]] = defaultdict(dict)
    for row in inputs.dividends.itertuples(index=False):
        market_dividends[row.symbol][row.ex_date] = float(row.amount_per_share)

    snapshots, holdings, cash, flows = [], [], [], {}
    methods = dict(
        zip(inputs.portfolios["portfolio_id"], inputs.portfolios["cost_method"], strict=True)
    )
    benchmarks = dict(
        zip(inputs.portfolios["portfolio_id"], inputs.portfolios["benchmark_symbol"], strict=True)
    )
    bases = dict(
        zip(inputs.portfolios["portfolio_id"], inputs.portfolios["base_currency"], strict=True)
    )
    fx = Fx(inputs, last)
    for pid, acts in inputs.activities.groupby("portfolio_id", sort=True):
        acts = _in_base(acts.sort_values(["activity_date", "activity_id"]), bases[pid], fx)
        rows, holding, cash_flows, cash_rows = _walk(
            int(pid),
            acts,
            methods[pid],
            closes,
            benchmarks[pid],
            market_splits,
            market_dividends,
            sessions,
            last,
            fx,
            bases[pid],
        )
        snapshots += rows
        holdings += holding
        cash += cash_rows
        flows[int(pid)] = cash_flows
    if cash_balances is not None:
        cash_balances.extend(cash)
    return (
        pd.DataFrame(snapshots, columns=SNAPSHOT_COLUMNS),
        pd.DataFrame(holdings, columns=HOLDING_COLUMNS),
        flows,
    )


def _walk(
    pid,
    acts,
    method,
    closes,
    benchmark_symbol,
    market_splits,
    market_dividends,
    sessions,
    last,
    fx,
    base,
):
    acts = acts.assign(session=[_session_of(sessions, d) for d in acts["activity_date"]])
    records = list(acts.itertuples())  # read once: pandas' itertuples is slow on small frames
    activity_rates = _activity_rates(records, fx, base)
    # the benchmark in the base currency, at the market's rate only (never an activity's)
    benchmark = closes.get(benchmark_symbol, _filled({}, last))
    _, bench_whole, bench_per = fx.quote(benchmark_symbol)
    if bench_whole == base:
        bench_base = benchmark[0] / bench_per
    else:
        bench_base = benchmark[0] / bench_per * fx.market(bench_whole, base)[0]
    first = int(acts["session"].min())
    traded = {s for s in acts["symbol"].dropna()}
    ledger_splits = {
        (r.symbol, r.activity_date): r.quantity for r in records if r.activity_type == "SPLIT"
    }
    # every split of a traded symbol, with its session and date: the ledger's and the market's;
    # a SPLIT activity dated on the market's ex-date of its symbol is that split
    splits = [(symbol, day, ratio) for (symbol, day), ratio in ledger_splits.items()] + [
        (symbol, day, ratio)
        for symbol in traded
        for day, ratio in market_splits.get(symbol, {}).items()
        if (symbol, day) not in ledger_splits
    ]
    splits_at: dict[int, list[tuple[str, float]]] = defaultdict(list)
    split_days: dict[tuple[int, str], list[tuple[dt.date, float]]] = defaultdict(list)
    for symbol, day, ratio in splits:
        splits_at[_session_of(sessions, day)].append((symbol, ratio))
        split_days[(_session_of(sessions, day), symbol)].append((day, ratio))
    # A trade dated before a split but counting on its ex-date's session (dated on a weekend
    # or a closure before it) was made in the terms before the split: it is walked after the
    # session's splits in their terms, its units times their ratios, its price divided (the
    # same money). A trade dated on the ex-date is in the split's terms already.
    for i, r in enumerate(records):
        if r.activity_type not in ("BUY", "SELL", "TRANSFER_IN", "TRANSFER_OUT"):
            continue
        factor = 1.0
        for day, ratio in split_days.get((r.session, r.symbol), []):
            if r.activity_date < day:
                factor *= ratio
        if factor != 1.0:
            records[i] = r._replace(quantity=r.quantity * factor, unit_price=r.unit_price / factor)
    # the market's dividends the ledger records itself: the latest ex-date on or before a
    # DIVIDEND naming the symbol, at most 45 days before it
    recorded = set()
    for r in (r for r in records if r.activity_type == "DIVIDEND" and pd.notna(r.symbol)):
        days = [
            d
            for d in market_dividends.get(r.symbol, {})
            if r.activity_date - dt.timedelta(days=RECORDED_DIVIDEND_DAYS) <= d <= r.activity_date
        ]
        if days:
            recorded.add((r.symbol, max(days)))
    dividends_at: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for symbol in traded:
        for day, amount in market_dividends.get(symbol, {}).items():
            if (symbol, day) not in recorded:
                dividends_at[_session_of(sessions, day)].append((symbol, amount))
    # each session's activities as plain records, buys and transfers in of securities first
    by_session: dict[int, list] = defaultdict(list)
    for a in records:
        by_session[a.session].append(a)

    def opens(a) -> bool:
        return a.activity_type in ("BUY", "TRANSFER_IN") and pd.notna(a.symbol)

    for idx, day in by_session.items():
        by_session[idx] = [a for a in day if opens(a)] + [a for a in day if not opens(a)]

    books: dict[str, Book] = {}
    cumulative_cash, implicit_total = 0.0, 0.0
    previous_value = 0.0
    growth = 1.0
    income_to_date = costs_to_date = realized_to_date = 0.0
    rows, cash_flows = [], []
    cum_parts = [0.0, 0.0, 0.0, 0.0]
    # cash kept in other currencies: per currency, [cumulative change, implicit total, balance]
    foreign_cash: dict[str, list[float]] = {}
    bench_first = bench_base[first]
    bench_first_local = benchmark[0][first]
    held_before: dict[str, float] = {}
    before_last = None
    no_quotes = _filled({}, last)
    for idx in range(first, last + 1):
        inflow = outflow = income = costs = realized = cash_change = 0.0
        # the day's changes of each foreign cash balance, in its currency: cash, inflow,
        # outflow, income, costs
        foreign_day: dict[str, list[float]] = defaultdict(lambda: [0.0] * 5)
        for symbol, ratio in splits_at.get(idx, []):
            if symbol in books:
                books[symbol].split(ratio)
        for symbol, amount in dividends_at.get(idx, []):
            units = held_before.get(symbol, 0.0)
            # paid in the symbol's currency: into the base at the factor that values the
            # holding on the ex-date session; with no rate, not credited
            factor, _, _ = _convert(fx, activity_rates, symbol, base, idx)
            if units > 0 and factor is not None:
                cash_change += units * amount * factor
                income += units * amount * factor
        # the units held at the previous close in today's terms (after the day's splits), less
        # what the day sells or transfers out: carried through the day (the currency part)
        carried = {symbol: book.held() for symbol, book in books.items()}
        day = by_session.get(idx)
        if day is not None:
            for a in day:
                if a.activity_type in ("SELL", "TRANSFER_OUT") and pd.notna(a.symbol):
                    carried[a.symbol] = carried.get(a.symbol, 0.0) - a.quantity
                kind, fee = a.activity_type, a.fee
                is_trade = kind in ("BUY", "TRANSFER_IN", "SELL", "TRANSFER_OUT")
                if a.cash_currency != base and is_trade and pd.notna(a.symbol):
                    # a trade paid from cash in the security's own currency: that cash moves;
                    # the lot's price in the base at the factor that values that cash on the
                    # session (none: unknown, NaN)
                    change = foreign_day[a.cash_currency]
                    factor = _convert_currency(fx, activity_rates, a.cash_currency, base, idx)[0]
                    price = np.nan if factor is None else a.unit_price * factor
                    book = books.setdefault(a.symbol, Book(method))
                    value = a.quantity * a.unit_price
                    if kind == "BUY":
                        book.add(a.quantity, price)
                        change[0] -= value
                    elif kind == "TRANSFER_IN":
                        book.add(a.quantity, price)
                        change[1] += value
                    elif kind == "SELL":
                        realized += book.take(a.quantity, price)
                        change[0] += value
                    else:
                        book.take(a.quantity, None)
                        change[2] += value
                    change[0] -= fee
                    change[4] += fee
                    continue
                if a.cash_currency != base:  # cash in its own currency: no trade, no symbol's units
                    change = foreign_day[a.cash_currency]
                    sign = 1 if kind in ("DIVIDEND", "INTEREST", "DEPOSIT", "TRANSFER_IN") else -1
                    change[0] += sign * a.amount - fee
                    if kind in ("DEPOSIT", "TRANSFER_IN"):
                        change[1] += a.amount
                    elif kind in ("WITHDRAWAL", "TRANSFER_OUT"):
                        change[2] += a.amount
                    elif kind in ("DIVIDEND", "INTEREST"):
                        change[3] += a.amount
                    else:
                        change[4] += a.amount
                    change[4] += fee
                    continue
                costs += fee
                cash_change -= fee
                if is_trade and pd.notna(a.symbol):
                    book = books.setdefault(a.symbol, Book(method))
                    value = a.quantity * a.unit_price
                    if kind == "BUY":
                        book.add(a.quantity, a.unit_price)
                        cash_change -= value
                    elif kind == "TRANSFER_IN":
                        book.add(a.quantity, a.unit_price)
                        inflow += value
                    elif kind == "SELL":
                        realized += book.take(a.quantity, a.unit_price)
                        cash_change += value
                    else:
                        book.take(a.quantity, None)
                        outflow += value
                elif kind in ("DIVIDEND", "INTEREST"):
                    cash_change += a.amount
                    income += a.amount
                elif kind in ("FEE", "TAX"):
                    cash_change -= a.amount
                    costs += a.amount
                elif kind in ("DEPOSIT", "TRANSFER_IN"):
                    cash_change += a.amount
                    inflow += a.amount
                elif kind in ("WITHDRAWAL", "TRANSFER_OUT"):
                    cash_change -= a.amount
                    outflow += a.amount
                # SPLIT: applied above, at the start of its session
        cumulative_cash += cash_change
        implicit = max(0.0, -cumulative_cash - implicit_total)
        implicit_total += implicit
        inflow += implicit
        cash = cumulative_cash + implicit_total

        value = cash
        cost_basis = 0.0
        held = n_stale = n_entry = max_stale = 0
        fx_counts = {"session": 0, "last_rate": 0, "activity": 0, "none": 0}
        max_fx_stale = 0
        currency_gain = 0.0
        for currency in foreign_day:
            foreign_cash.setdefault(currency, [0.0, 0.0, 0.0])
        for currency, state in foreign_cash.items():
            day_cash, day_in, day_out, day_income, day_costs = foreign_day.get(currency, [0.0] * 5)
            balance_before = state[2]  # the balance at the previous close
            state[0] += day_cash
            implicit = max(0.0, -state[0] - state[1])  # a debit with no cash of that currency
            state[1] += implicit
            state[2] = state[0] + state[1]
            factor, rule, fx_age = _convert_currency(fx, activity_rates, currency, base, idx)
            if abs(state[2]) > 1e-9:
                fx_counts[rule] += 1
                if rule == "last_rate":
                    max_fx_stale = max(max_fx_stale, fx_age)
            if factor is None:  # no rate: the balance and its flows left out, counted
                continue
            value += state[2] * factor
            cash += state[2] * factor
            inflow += (day_in + implicit) * factor
            outflow += day_out * factor
            income += day_income * factor
            costs += day_costs * factor
            before = _convert_currency(fx, activity_rates, currency, base, idx - 1)[0]
            if idx > first and before is not None:
                currency_gain += balance_before * (factor - before)
        for symbol, book in books.items():
            units = book.held()
            if units <= 1e-12:
                continue
            held += 1
            basis = book.cost_basis()
            # a lot of unknown cost (paid from cash in another currency with no rate): the
            # holding is left out, value and cost, and counted as rule none
            unknown = bool(np.isnan(basis))
            if not unknown:
                cost_basis += basis  # in the base: the cash paid, converted at the trade
            series, ages = closes.get(symbol, no_quotes)
            close, age = series[idx], ages[idx]
            if np.isnan(close):
                n_entry += 1
                if unknown:
                    fx_counts["none"] += 1
                else:
                    value += basis  # the entry-price fallback: the units at their average cost
                continue
            if age > 0:
                n_stale += 1
                max_stale = max(max_stale, age)
            if unknown:
                fx_counts["none"] += 1
                continue
            factor, rule, fx_age = _convert(fx, activity_rates, symbol, base, idx)
            if rule != "base":
                fx_counts[rule] += 1
            if rule == "last_rate":
                max_fx_stale = max(max_fx_stale, fx_age)
            if factor is not None:  # no rate: left out of the value, counted
                value += units * close * factor
            # the currency part: converted on both sessions, valued at a close on the previous
            kept = max(carried.get(symbol, 0.0), 0.0)
            if rule != "base" and factor is not None and kept > 1e-12 and idx > first:
                before = _convert(fx, activity_rates, symbol, base, idx - 1)[0]
                if before is not None and not np.isnan(series[idx - 1]):
                    currency_gain += kept * close * (factor - before)
        start = previous_value + inflow
        daily = 0.0 if start == 0 else (value + outflow) / start - 1
        if start == 0:
            parts = [0.0, 0.0, 0.0, 0.0]
        else:
            currency_part, income_part, cost_part = (
                currency_gain / start,
                income / start,
                -costs / start,
            )
            parts = [
                daily - currency_part - income_part - cost_part,
                currency_part,
                income_part,
                cost_part,
            ]
        # each part's contribution to cum_twr: the part times the growth before the day
        cum_parts = [total + part * growth for total, part in zip(cum_parts, parts, strict=True)]
        growth *= 1 + daily
        income_to_date += income
        costs_to_date += costs
        realized_to_date += realized
        bench_close = None if np.isnan(bench_base[idx]) else float(bench_base[idx])
        bench_local = None if np.isnan(benchmark[0][idx]) else float(benchmark[0][idx])
        rows.append(
            [
                pid,
                sessions[idx],
                value,
                cost_basis,
                value - cash - cost_basis,
                held,
                held - n_entry - n_stale,
                n_stale,
                max_stale,
                n_entry,
                inflow,
                outflow,
                daily,
                growth - 1,
                bench_close,
                None
                if bench_close is None or np.isnan(bench_first)
                else bench_close / bench_first - 1,
                cash,
                income,
                costs,
                realized,
                income_to_date,
                costs_to_date,
                realized_to_date,
                base,
                fx_counts["session"],
                fx_counts["last_rate"],
                fx_counts["activity"],
                fx_counts["none"],
                max_fx_stale,
                bench_local,
                None
                if bench_local is None or np.isnan(bench_first_local)
                else bench_local / bench_first_local - 1,
                *parts,
                *cum_parts,
            ]
        )
        if inflow or outflow:
            cash_flows.append((sessions[idx], -inflow + outflow))
        previous_value = value
        held_before = {s: b.held() for s, b in books.items()}
        if idx == last - 1:
            before_last = {s: (b.held(), b.cost_basis()) for s, b in books.items()}
    cash_flows.append((sessions[last], previous_value))
    holding = _holdings(
        pid, books, closes, no_quotes, last, previous_value, before_last, fx, activity_rates, base
    )
    # the cash per currency at the last session (app.cash_balances): the base's, when an
    # activity moves it, and each other currency's with its conversion there
    cash_rows = []
    if (acts["cash_currency"] == base).any():
        balance = cumulative_cash + implicit_total
        cash_rows.append([pid, base, balance, None, "base", None, balance, implicit_total])
    for currency, state in sorted(foreign_cash.items()):
        factor, rule, age = _convert_currency(fx, activity_rates, currency, base, last)
        cash_rows.append(
            [
                pid,
                currency,
                state[2],
                factor,
                rule,
                age if rule == "last_rate" else None,
                None if factor is None else state[2] * factor,
                state[1],
            ]
        )
    return rows, holding, cash_flows, cash_rows


def _filled(series: dict[int, float], last: int) -> tuple[np.ndarray, np.ndarray]:
    """Per session 0..last: the close on it, else the last one before it (NaN before the
    first), and its age in sessions."""
    quoted = np.full(last + 1, np.nan)
    at = np.full(last + 1, -1, dtype=np.int64)
    for idx, value in series.items():
        if idx <= last:
            quoted[idx], at[idx] = value, idx
    # the session of the last quote on or before each session (-1: none yet)
    quoted_at = np.maximum.accumulate(at)
    has = quoted_at >= 0
    close = np.where(has, quoted[np.maximum(quoted_at, 0)], np.nan)
    age = np.where(has, np.arange(last + 1) - quoted_at, 0)
    return close, age


def _holdings(
    pid, books, closes, no_quotes, last, total_value, before_last, fx, activity_rates, base
) -> list[list]:
    """app.holdings at the last session: per symbol held, its value by the snapshot's rules
    (in the base currency at the last session's rate, none: no value); the day's change from
    the previous close at the previous session's rate (for units bought on the last session,
    from their cost, paid in the base currency)."""
    out = []
    for symbol, book in sorted(books.items()):
        units = book.held()
        if units <= 1e-12:
            continue
        basis = book.cost_basis()
        series = closes.get(symbol, no_quotes)[0]
        close = series[last]
        trading, whole, _ = fx.quote(symbol)
        if np.isnan(basis):  # a lot of unknown cost: no cost, no value, rule none
            out.append(
                [
                    pid,
                    symbol,
                    units,
                    None,
                    None,
                    None,
                    None,
                    None,
                    trading,
                    None if np.isnan(close) else units * close,
                    None,
                    "none",
                ]
            )
            continue
        factor, rule, _ = _convert(fx, activity_rates, symbol, base, last)
        before_factor = _convert(fx, activity_rates, symbol, base, last - 1)[0]
        value = basis if np.isnan(close) else None if factor is None else units * close * factor
        before_units, before_cost = (before_last or {}).get(symbol, (0.0, 0.0))
        kept = min(before_units, units)
        previous_close = series[last - 1]
        new_units = units - kept
        new_cost = basis - (kept * (before_cost / before_units) if before_units > 0 else 0.0)
        if np.isnan(previous_close):
            kept_before = before_cost
        else:
            kept_before = None if before_factor is None else kept * previous_close * before_factor
        previous = (
            None if kept_before is None else kept_before + (new_cost if new_units > 1e-12 else 0.0)
        )
        out.append(
            [
                pid,
                symbol,
                units,
                basis,
                value,
                None if value is None else value - basis,
                value / total_value if total_value and value is not None else None,
                None if value is None or previous is None else value - previous,
                trading,
                # at its cost (no close yet): in the base currency, nothing converted
                units * close if not np.isnan(close) else basis if trading == base else None,
                None
                if whole == base or factor is None or np.isnan(close)
                else factor * fx.quote(symbol)[2],
                "base" if np.isnan(close) else rule,
            ]
        )
    return out


def period_parts(snapshots: pd.DataFrame, charts: pd.DataFrame) -> pd.DataFrame:
    """Each chart period's return in parts, the long way: C_k = Σ_{START < t <= END} c_k(t) ×
    Π_{START < s < t} (1 + r(s)), from the walk's daily parts (docs/semantics.md, "Chart
    caches"). ``charts``: portfolio_id, period, start_date, end_date."""
    out = []
    dated = snapshots.assign(session_date=pd.to_datetime(snapshots["session_date"]))
    frames = {
        pid: frame.sort_values("session_date") for pid, frame in dated.groupby("portfolio_id")
    }
    for row in charts.itertuples(index=False):
        frame = frames[row.portfolio_id]
        dates = frame["session_date"].to_numpy()
        start = int(np.searchsorted(dates, np.datetime64(row.start_date)))
        end = int(np.searchsorted(dates, np.datetime64(row.end_date)))
        daily = frame["daily_return"].to_numpy()[start + 1 : end + 1]
        grown = np.concatenate([[1.0], np.cumprod(1 + daily)[:-1]])
        parts = [
            float((frame[part].to_numpy()[start + 1 : end + 1] * grown).sum()) for part in PARTS
        ]
        out.append([row.portfolio_id, row.period, *parts])
    return pd.DataFrame(out, columns=["portfolio_id", "period", *PARTS])
