"""Deterministic benchmark data: users, portfolios, positions, valuations, symbols, prices.

Everything is drawn from one seeded ``numpy.random.Generator`` and loaded with COPY, so the same
``(scale, seed)`` gives the same database content (ids aside, which come from the identity
sequences). Scales:

| scale  | portfolios | symbols | years |
|--------|-----------:|--------:|------:|
| tiny   |         50 |      40 |   1   |
| small  |      1,000 |     500 |   5   |
| medium |     10,000 |   1,000 |   5   |
| large  |    100,000 |   2,000 |   5   |

What the data exercises (see docs/semantics.md):

- entry dates spread over the history, some on weekends and holidays (mapped to the next session);
- ~15 % closed positions (exit date), a fifth of them without an exit price;
- ~5 % PRIVATE positions (no prices) with 2–4 manual valuations each;
- ~3 % OPTIONS positions on OCC symbols with no prices (valued by the generic fallback);
- a few symbols missing a few sessions (stale-close fallback) and a few listed late
  (entry-price fallback for positions entered before their first close);
- ~30 % public portfolios; benchmark ``^GSPC`` with prices on every session;
- with ``foreign_share`` > 0 (default 0: USD-only, the same rows as without it): that share of
  the positions held in generated symbols traded in a foreign currency (EUR, GBp pence, JPY,
  CHF), each currency with a **synthetic** daily rate against USD (EURUSD, GBPUSD, USDJPY,
  USDCHF: random walks, not market data, stored with ``source = 'demo'``) on every session of
  the history but a few (the "last rate before" rule). Drawn from their own generator (seeded
  from ``seed``), so every other row is the USD-only dataset's;
- with ``splits`` > 0 and ``dividend_share`` > 0 (default off): the market's splits (2:1, 3:1,
  4:1, 1:5) of widely held generated equities, their closes stored as traded (they drop by the
  ratio on the ex-date, docs/semantics.md), and quarterly dividends of that share of the
  generated equities (``market.splits``, ``market.dividends``, ``source = 'demo'``);
- with ``ledger_share`` > 0 (default 0): that share of the portfolios written as activity
  ledgers in ``core.activities`` instead of positions (its PUBLIC positions become buys and
  partial sells; deposits, a withdrawal, interest, fees, a tax, recorded dividends; FIFO or
  average cost). Each part is drawn from a generator of its own: with all of them off the
  rows are those of the generator before them, bit for bit (tests/test_baselines_ledger.py).

The history ends ``spare_sessions`` sessions before the last closed session, so
:func:`add_session` can append "one new session" for the nightly incremental scenario without
writing a price dated in the future.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg

CALENDAR = "XNYS"
BENCHMARK = "^GSPC"


@dataclass(frozen=True)
class Params:
    portfolios: int
    symbols: int
    years: float
    positions_per_portfolio: float = 15.0
    portfolios_per_user: float = 1.5
    public_share: float = 0.30
    private_share: float = 0.05
    options_share: float = 0.03
    closed_share: float = 0.15
    missing_price_share: float = 0.05  # symbols missing a few sessions
    late_listing_share: float = 0.02  # symbols whose prices start mid-history
    spare_sessions: int = 5  # sessions left free after the history for add_session
    foreign_share: float = 0.0  # share of positions in symbols traded in a foreign currency
    dividend_share: float = 0.0  # share of the generated equities paying quarterly dividends
    splits: int = 0  # market splits of generated equities: 2:1, 3:1, 4:1, 1:5, then again
    ledger_share: float = 0.0  # share of portfolios written as activity ledgers


# Params whose default (off) leaves the dataset as it was before them, row for row: a dataset
# with them off keeps its hash and label (bench/runner.py ensure_dataset).
OPTIONAL_PARAMS: dict[str, object] = {
    "foreign_share": 0.0,
    "dividend_share": 0.0,
    "splits": 0,
    "ledger_share": 0.0,
}
SPLIT_RATIOS = (2.0, 3.0, 4.0, 0.2)  # 2:1, 3:1, 4:1 and a 1:5 reverse split, in this order
DIVIDEND_YIELD = (0.005, 0.05)  # annual yield of a dividend payer (low inclusive, high exclusive)
DIVIDEND_EVERY = 63  # sessions between ex-dates: quarterly
RECORDED_DIVIDEND_NET = 0.85  # a ledger's own DIVIDEND: the market's amount after 15 % withheld


# Foreign trading currencies of the generated symbols: (trading currency, stored pair, first
# rate, daily sigma, weight). A pair is (base, quote): the price of 1 base in quote, as
# yfinance's EURUSD=X and JPY=X (USDJPY). GBp (pence) is converted through GBPUSD / 100.
FOREIGN_CURRENCIES: tuple[tuple[str, tuple[str, str], float, float, float], ...] = (
    ("EUR", ("EUR", "USD"), 1.08, 0.005, 0.40),
    ("GBp", ("GBP", "USD"), 1.27, 0.005, 0.25),
    ("JPY", ("USD", "JPY"), 150.0, 0.006, 0.20),
    ("CHF", ("USD", "CHF"), 0.90, 0.005, 0.15),
)
FX_RATE_HOLES = (2, 6)  # sessions without a rate, per pair (low inclusive, high exclusive)
# With ledgers: this pair's first rate a fifth into the history (LATE_PAIR_FROM of the
# sessions), so the ledgers' trades of its listings before it are converted at the rate they
# state (rule 'activity' on their sessions), their holdings on the other sessions left out.
LATE_PAIR = ("USD", "CHF")
LATE_PAIR_FROM = 0.2
# The ledgers' activities of a foreign listing (datagen with ledgers and foreign_share): the
# share stated in the listing's own currency (else in USD), both with the broker's rate
# (fx_rate: USD per whole unit, the market's rate of the session or its last, else the pair's
# first, times a spread); the share of the ledgers with a foreign trade whose second deposit
# is in that currency, at a stated rate.
FOREIGN_ACTIVITY_LOCAL_SHARE = 0.5
FOREIGN_DEPOSIT_SHARE = 0.5
BROKER_SPREAD = 0.001  # sigma of the broker's rate around the market's
# Datasets with foreign_share carry this in their key (bench/runner.py ensure_dataset): a
# change to how they are generated rebuilds them (2: the ledgers trade foreign listings).
FOREIGN_GENERATION = 2


SCALES: dict[str, Params] = {
    "tiny": Params(portfolios=50, symbols=40, years=1),
    "small": Params(portfolios=1_000, symbols=500, years=5),
    "medium": Params(portfolios=10_000, symbols=1_000, years=5),
    "large": Params(portfolios=100_000, symbols=2_000, years=5),
}

# The reference upload (13 ETF and mutual-fund positions entered 2025-01-06): (symbol, entry_date, entry_price, quantity).
REFERENCE_PORTFOLIO: list[tuple[str, str, float, int]] = [
    ("BIL", "2025-01-06", 91.44, 8202),
    ("GGIPX", "2025-01-06", 22.40, 11160),
    ("GINDX", "2025-01-06", 33.45, 31928),
    ("GOVT", "2025-01-06", 23.09, 14381),
    ("IAU", "2025-01-06", 83.96, 2977),
    ("IEFA", "2025-01-06", 91.30, 5476),
    ("LQD", "2025-01-06", 110.62, 1355),
    ("MUB", "2025-01-06", 107.66, 1393),
    ("NEAIX", "2025-01-06", 64.32, 777),
    ("VO", "2025-01-06", 295.86, 168),
    ("VTV", "2025-01-06", 193.94, 2062),
    ("VUG", "2025-01-06", 492.16, 2031),
    ("XLV", "2025-01-06", 159.34, 313),
]
_REFERENCE_KINDS = {"GGIPX": "fund", "GINDX": "fund", "NEAIX": "fund"}


def params_for(scale: str | Params, **overrides: object) -> Params:
    """The parameters of a named scale (or given ones), with overrides (portfolios=…, years=…)."""
    if isinstance(scale, Params):
        base = scale
    else:
        try:
            base = SCALES[scale]
        except KeyError:
            raise ValueError(
                f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}"
            ) from None
    return replace(base, **overrides) if overrides else base


# --------------------------------------------------------------------------------------------
# Calendar


def ensure_calendar(url: str, calendar: str = CALENDAR) -> None:
    """Fill market.trading_days (ingest.calendar: session_idx counted from 2000, idempotent)
    of the bench's own database, on a session as folio_ingest (as `folio ingest calendar`)."""
    from foliodb.db import connect
    from foliodb.security import INGEST
    from ingest import calendar as ingest_calendar

    with connect(url, role=INGEST, autocommit=True) as conn:
        ingest_calendar.ensure_calendar(conn, calendar)


def _sessions(conn: psycopg.Connection, calendar: str = CALENDAR) -> pd.DataFrame:
    rows = conn.execute(
        "select session_date, session_idx, close_at <= ops.now() as is_closed"
        " from market.trading_days where calendar = %s order by session_date",
        [calendar],
    ).fetchall()
    return pd.DataFrame(rows, columns=["session_date", "session_idx", "is_closed"])


# --------------------------------------------------------------------------------------------
# Helpers


def _copy_frame(cur: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    """COPY a frame (columns named like the table's) in CSV; NaN/None become NULL."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False, na_rep="")
    cols = ", ".join(frame.columns)
    with cur.copy(f"copy {table} ({cols}) from stdin (format csv)") as copy:
        copy.write(buf.getvalue())


def _tickers(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        length = int(rng.choice([2, 3, 4, 4, 5]))
        tick = "".join(rng.choice(letters, size=length))
        if tick not in seen:
            seen.add(tick)
            out.append(tick)
    return out


def _walk(
    rng: np.random.Generator, n: int, start: float, mu: float = 0.0003, sigma: float = 0.015
) -> np.ndarray:
    """Geometric random walk of n closes starting at ``start``, rounded to 4 decimals."""
    steps = rng.normal(mu, sigma, size=n)
    steps[0] = 0.0
    return np.round(start * np.exp(np.cumsum(steps)), 4)


def _occ(rng: np.random.Generator, underlyings: list[str], expiry_after: date) -> str:
    under = str(rng.choice(underlyings))[:6]
    expiry = expiry_after + timedelta(days=int(rng.integers(30, 400)))
    # Third Friday-ish is irrelevant here; any date is a valid OCC expiry for the format.
    cp = "C" if rng.random() < 0.6 else "P"
    strike = int(rng.integers(10, 500)) * 1000
    return f"{under}{expiry:%y%m%d}{cp}{strike:08d}"


# --------------------------------------------------------------------------------------------
# Generation


def generate(
    url: str,
    scale: str | Params = "tiny",
    seed: int = 42,
    end: date | None = None,
    **overrides: object,
) -> dict:
    """Generate and load a dataset; returns a summary (counts, dates, parameters, seconds).

    ``end`` is the last session with prices (default: ``spare_sessions`` sessions before the last
    closed session). Calling it twice in one database adds a second, independent dataset.
    """
    params = params_for(scale, **overrides)
    rng = np.random.default_rng(seed)
    t0 = datetime.now()
    ensure_calendar(url)
    with psycopg.connect(url) as conn:
        sessions = _sessions(conn)
        closed = sessions[sessions["is_closed"]]
        if end is None:
            end_pos = len(closed) - 1 - params.spare_sessions
        else:
            end_pos = int(np.searchsorted(closed["session_date"].to_numpy(), end, side="right")) - 1
        end_date: date = closed["session_date"].iloc[end_pos]
        start_target = (
            pd.Timestamp(end_date) - pd.DateOffset(days=round(365.25 * params.years))
        ).date()
        hist = closed[
            (closed["session_date"] >= start_target) & (closed["session_date"] <= end_date)
        ]
        hist_dates = hist["session_date"].to_numpy()
        start_date: date = hist_dates[0]
        n_sess = len(hist_dates)

        tag = conn.execute("select coalesce(max(user_id), 0) + 1 from core.users").fetchone()[0]
        existing = {r[0] for r in conn.execute("select symbol from market.symbols").fetchall()}

        # ---- symbols: generated equities + the seeded ETFs + the benchmark
        new_ticks = _tickers(rng, params.symbols, existing)
        seeded = sorted(s for s in existing if not s.startswith("^"))
        public_syms = seeded + new_ticks
        priced = conn.execute(
            "select distinct symbol from market.prices where symbol = any(%s)",
            [[BENCHMARK, *seeded]],
        ).fetchall()
        already_priced = {r[0] for r in priced}
        to_price = [s for s in [BENCHMARK, *public_syms] if s not in already_priced]

        # ---- prices
        price_frames: list[pd.DataFrame] = []
        n_missing = max(1, round(params.missing_price_share * len(to_price)))
        n_late = max(1, round(params.late_listing_share * len(to_price)))
        candidates = [s for s in to_price if s != BENCHMARK]
        pick = rng.permutation(len(candidates))
        missing_syms = {candidates[i] for i in pick[:n_missing]}
        late_syms = {candidates[i] for i in pick[n_missing : n_missing + n_late]}
        first_close: dict[str, date] = {}
        for sym in to_price:
            start_px = (
                4000.0 if sym == BENCHMARK else float(np.exp(rng.uniform(np.log(5), np.log(600))))
            )
            sigma = 0.011 if sym == BENCHMARK else float(rng.uniform(0.008, 0.03))
            closes = _walk(rng, n_sess, start_px, sigma=sigma)
            keep = np.ones(n_sess, dtype=bool)
            if sym in missing_syms:
                holes = rng.choice(
                    np.arange(1, n_sess),
                    size=min(n_sess - 1, int(rng.integers(2, 6))),
                    replace=False,
                )
                keep[holes] = False
            if sym in late_syms:
                keep[: int(rng.integers(n_sess // 4, n_sess // 2))] = False
            first_close[sym] = hist_dates[keep][0]
            price_frames.append(
                pd.DataFrame(
                    {
                        "symbol": sym,
                        "price_date": hist_dates[keep],
                        "close": closes[keep],
                        "adj_close": closes[keep],
                        "volume": rng.integers(10_000, 5_000_000, size=int(keep.sum())),
                    }
                )
            )
        prices = pd.concat(price_frames, ignore_index=True)
        prices["source"] = "demo"
        # ---- the market's splits (closes as traded from the ex-date) and dividends: their own
        # generator, so with both off every row is the one drawn without them
        actions = _corporate_actions(
            seed,
            params,
            [s for s in new_ticks if s not in missing_syms and s not in late_syms],
            new_ticks,
            prices,
            hist_dates,
        )
        prices = actions["prices"]

        # ---- users and portfolios
        n_pf = params.portfolios
        n_users = max(1, math.ceil(n_pf / params.portfolios_per_user))
        owner = np.sort(
            np.concatenate([np.arange(n_users), rng.integers(0, n_users, size=n_pf - n_users)])
        )
        users = pd.DataFrame(
            {
                "user_key": np.arange(n_users),
                "email": [f"bench{tag}-u{i}@example.com" for i in range(n_users)],
                "display_name": [f"Bench user {i}" for i in range(n_users)],
            }
        )
        nth = pd.Series(owner).groupby(owner).cumcount().to_numpy()
        portfolios = pd.DataFrame(
            {
                "portfolio_key": np.arange(n_pf),
                "user_key": owner,
                "name": [f"Portfolio {k + 1}" for k in nth],
                "is_public": rng.random(n_pf) < params.public_share,
            }
        )

        # ---- positions
        counts = rng.integers(
            max(1, round(params.positions_per_portfolio) - 10),
            round(params.positions_per_portfolio) + 11,
            size=n_pf,
        )
        n_pos = int(counts.sum())
        pf_of = np.repeat(np.arange(n_pf), counts)
        kind_draw = rng.random(n_pos)
        klass = np.where(
            kind_draw < params.private_share,
            "PRIVATE",
            np.where(kind_draw < params.private_share + params.options_share, "OPTIONS", "PUBLIC"),
        )
        # Popularity: Zipf-like weights so a few symbols are widely held.
        weights = 1.0 / np.arange(1, len(public_syms) + 1) ** 0.8
        weights /= weights.sum()
        sym = rng.choice(np.array(public_syms, dtype=object), size=n_pos, p=weights)
        span_days = (end_date - start_date).days
        entry = np.array(
            [
                start_date + timedelta(days=int(d))
                for d in rng.integers(0, max(1, span_days - 3), size=n_pos)
            ]
        )
        closed_mask = rng.random(n_pos) < params.closed_share
        exit_dates = np.empty(n_pos, dtype=object)
        exit_dates[:] = None
        for i in np.flatnonzero(closed_mask):
            room = (end_date - entry[i]).days
            if room >= 7:
                exit_dates[i] = entry[i] + timedelta(days=int(rng.integers(5, room + 1)))
        has_exit = np.array([d is not None for d in exit_dates])
        # Entry near the close of its day; exit price near the close of its day (or missing).
        px = prices.set_index(["symbol", "price_date"])["close"]
        sym_dates: dict[str, np.ndarray] = {
            s: g["price_date"].to_numpy() for s, g in prices.groupby("symbol", sort=False)
        }
        sym_closes: dict[str, np.ndarray] = {
            s: g["close"].to_numpy() for s, g in prices.groupby("symbol", sort=False)
        }
        del px

        def near_close(s: str, d: date) -> float:
            dates = sym_dates.get(s)
            if dates is None or len(dates) == 0:
                return float(np.round(rng.uniform(5, 300), 2))
            j = int(np.searchsorted(dates, d, side="right")) - 1
            base = sym_closes[s][max(j, 0)]
            return float(max(0.01, np.round(base * (1 + rng.normal(0, 0.01)), 2)))

        entry_price = np.empty(n_pos)
        exit_price = np.full(n_pos, np.nan)
        quantity = np.empty(n_pos)
        symbols_out = np.empty(n_pos, dtype=object)
        option_unders = new_ticks[:200] or public_syms
        new_symbol_rows: dict[str, str] = {}
        for i in range(n_pos):
            if klass[i] == "PRIVATE":
                s = f"PVT{int(rng.integers(0, max(10, n_pf // 20))):05d}"
                new_symbol_rows[s] = "private"
                symbols_out[i] = s
                entry_price[i] = float(np.round(rng.uniform(1_000, 50_000), 2))
                quantity[i] = float(rng.integers(1, 20))
            elif klass[i] == "OPTIONS":
                s = _occ(rng, option_unders, entry[i])
                new_symbol_rows[s] = "option"
                symbols_out[i] = s
                entry_price[i] = float(np.round(rng.uniform(0.5, 25), 2))
                quantity[i] = float(rng.integers(1, 11))
            else:
                s = str(sym[i])
                symbols_out[i] = s
                entry_price[i] = near_close(s, entry[i])
                quantity[i] = float(rng.integers(1, 500))
            if has_exit[i] and rng.random() < 0.8:
                exit_price[i] = (
                    near_close(symbols_out[i], exit_dates[i])
                    if klass[i] == "PUBLIC"
                    else float(np.round(entry_price[i] * rng.uniform(0.6, 1.6), 2))
                )
        positions = pd.DataFrame(
            {
                "position_key": np.arange(n_pos),
                "portfolio_key": pf_of,
                "symbol": symbols_out,
                "investment_class": klass,
                "quantity": quantity,
                "entry_date": entry,
                "entry_price": entry_price,
                "exit_date": exit_dates,
                "exit_price": exit_price,
            }
        )

        # ---- manual valuations of PRIVATE positions: 2–4 each, after entry, before exit/end
        val_rows: list[tuple[int, date, float]] = []
        for i in np.flatnonzero(klass == "PRIVATE"):
            last = exit_dates[i] if exit_dates[i] is not None else end_date
            room = (last - entry[i]).days
            if room < 2:
                continue
            k = min(room - 1, int(rng.integers(2, 5)))
            offsets = np.sort(rng.choice(np.arange(1, room), size=k, replace=False))
            cost = quantity[i] * entry_price[i]
            drift = np.cumprod(1 + rng.normal(0.01, 0.08, size=k))
            for off, f in zip(offsets, drift, strict=True):
                val_rows.append(
                    (i, entry[i] + timedelta(days=int(off)), float(np.round(cost * f, 2)))
                )
        valuations = pd.DataFrame(val_rows, columns=["position_key", "valuation_date", "value"])

        # ---- a share of the portfolios as activity ledgers (own generator): their positions
        # become buys and partial sells, with cash, fees, interest and recorded dividends
        portfolios["cost_method"] = "fifo"
        ledgers = None
        if params.ledger_share > 0:
            ledgers = _ledgers(
                seed,
                params,
                positions,
                hist_dates,
                end_date,
                sym_dates,
                sym_closes,
                actions["splits"],
                actions["dividends"],
            )
            portfolios.loc[ledgers["average_keys"], "cost_method"] = "average"
            kept = ~positions["portfolio_key"].isin(ledgers["keys"]).to_numpy()
            valuations = valuations[
                valuations["position_key"].isin(positions["position_key"][kept])
            ].reset_index(drop=True)
            positions = positions[kept].reset_index(drop=True)
            klass, has_exit, symbols_out = klass[kept], has_exit[kept], symbols_out[kept]
            n_pos = len(positions)

        # ---- foreign trading currencies and their synthetic FX rates (own generator): the
        # share counts the positions and the ledgers' buys alike
        foreign = None
        if params.foreign_share > 0:
            buys = (
                np.array([], dtype=object)
                if ledgers is None
                else ledgers["activities"]
                .loc[lambda a: a["activity_type"] == "BUY", "symbol"]
                .to_numpy(dtype=object)
            )
            # The split symbols stay in USD: foliodb converts the cost of a foreign position's
            # piece after a split at the split session's rate, not at its entry's (the cost is
            # not continuous across the cut, docs/semantics.md): reported, not yet fixed.
            split_symbols = set(actions["splits"]["symbol"])
            foreign = _foreign(
                seed,
                params.foreign_share,
                [s for s in new_ticks if s not in split_symbols],
                np.r_[symbols_out, buys],
                hist_dates,
                late=LATE_PAIR if ledgers is not None else None,
            )
            foreign["summary"]["foreign_positions"] = int(
                pd.Series(symbols_out).isin(list(foreign["currency_of"])).sum()
            )
            foreign["summary"]["foreign_position_share"] = round(
                foreign["summary"]["foreign_positions"] / max(len(symbols_out), 1), 4
            )
            if ledgers is not None:
                ledgers["activities"], more = _foreign_activities(
                    seed,
                    ledgers["activities"],
                    foreign["currency_of"],
                    foreign["rates"],
                    hist_dates,
                )
                foreign["summary"].update(more)

        # ---- load
        with conn.cursor() as cur:
            extra = pd.DataFrame(
                {
                    "symbol": new_ticks + list(new_symbol_rows),
                    "kind": ["equity"] * len(new_ticks) + list(new_symbol_rows.values()),
                    "name": [f"Synthetic {s}" for s in new_ticks] + [None] * len(new_symbol_rows),
                }
            )
            cur.execute(
                "create temp table stage_symbols (symbol text, kind market.symbol_kind, name text)"
                " on commit drop"
            )
            _copy_frame(cur, "stage_symbols", extra)
            cur.execute(
                "insert into market.symbols (symbol, kind, name)"
                " select symbol, kind, name from stage_symbols on conflict do nothing"
            )
            _copy_frame(
                cur,
                "market.prices",
                prices[["symbol", "price_date", "close", "adj_close", "volume", "source"]],
            )
            if foreign is not None:
                cur.execute(
                    "update market.symbols as s set currency = f.currency"
                    " from unnest(%s::text[], %s::text[]) as f (symbol, currency)"
                    " where s.symbol = f.symbol",
                    [list(foreign["currency_of"]), list(foreign["currency_of"].values())],
                )
                _copy_frame(cur, "market.fx_rates", foreign["rates"])

            cur.execute(
                "create temp table stage_users (user_key int, user_id bigint, email text,"
                " display_name text) on commit drop"
            )
            _copy_frame(cur, "stage_users", users)
            cur.execute(
                "update stage_users set user_id = nextval(pg_get_serial_sequence('core.users', 'user_id'))"
            )
            cur.execute(
                "insert into core.users (user_id, email, display_name) overriding system value"
                " select user_id, email, display_name from stage_users order by user_key"
            )
            cur.execute(
                "create temp table stage_portfolios (portfolio_key int, portfolio_id bigint,"
                " user_key int, name text, is_public boolean, cost_method core.cost_method)"
                " on commit drop"
            )
            _copy_frame(cur, "stage_portfolios", portfolios)
            cur.execute(
                "update stage_portfolios set portfolio_id ="
                " nextval(pg_get_serial_sequence('core.portfolios', 'portfolio_id'))"
            )
            cur.execute(
                "insert into core.portfolios (portfolio_id, user_id, name, is_public,"
                " benchmark_symbol, cost_method) overriding system value"
                " select sp.portfolio_id, su.user_id, sp.name, sp.is_public, %s, sp.cost_method"
                " from stage_portfolios as sp inner join stage_users as su using (user_key)"
                " order by sp.portfolio_key",
                [BENCHMARK],
            )
            cur.execute(
                "create temp table stage_positions (position_key int, position_id bigint,"
                " portfolio_key int, symbol text, investment_class core.investment_class,"
                " quantity numeric, entry_date date, entry_price numeric, exit_date date,"
                " exit_price numeric) on commit drop"
            )
            _copy_frame(cur, "stage_positions", positions)
            cur.execute(
                "update stage_positions set position_id ="
                " nextval(pg_get_serial_sequence('core.positions', 'position_id'))"
            )
            cur.execute(
                "insert into core.positions (portfolio_id, position_id, symbol, investment_class,"
                " quantity, entry_date, entry_price, exit_date, exit_price) overriding system value"
                " select sp.portfolio_id, pos.position_id, pos.symbol, pos.investment_class,"
                " pos.quantity, pos.entry_date, pos.entry_price, pos.exit_date, pos.exit_price"
                " from stage_positions as pos inner join stage_portfolios as sp using (portfolio_key)"
                " order by pos.position_key"
            )
            cur.execute(
                "create temp table stage_valuations (position_key int, valuation_date date,"
                " value numeric) on commit drop"
            )
            _copy_frame(cur, "stage_valuations", valuations)
            cur.execute(
                "insert into core.valuations (portfolio_id, position_id, valuation_date, value, source)"
                " select sp.portfolio_id, pos.position_id, v.valuation_date, v.value, 'manual'"
                " from stage_valuations as v"
                " inner join stage_positions as pos using (position_key)"
                " inner join stage_portfolios as sp using (portfolio_key)"
            )
            if len(actions["splits"]):
                _copy_frame(cur, "market.splits", actions["splits"].assign(source="demo"))
            if len(actions["dividends"]):
                _copy_frame(cur, "market.dividends", actions["dividends"].assign(source="demo"))
            if ledgers is not None:
                cur.execute(
                    "create temp table stage_activities (portfolio_key int, activity_date date,"
                    " activity_type core.activity_type, symbol text, quantity numeric,"
                    " unit_price numeric, amount numeric, fee numeric, external_id text,"
                    " currency text, fx_rate numeric) on commit drop"
                )
                acts = ledgers["activities"]
                if "currency" not in acts.columns:  # a USD-only dataset: every activity in USD
                    acts = acts.assign(currency="USD", fx_rate=np.nan)
                _copy_frame(cur, "stage_activities", acts)
                cur.execute(
                    "insert into core.activities (portfolio_id, activity_date, activity_type,"
                    " symbol, quantity, unit_price, amount, fee, source, external_id, currency,"
                    " fx_rate)"
                    " select sp.portfolio_id, a.activity_date, a.activity_type, a.symbol,"
                    " a.quantity, a.unit_price, a.amount, a.fee, 'bench', a.external_id,"
                    " a.currency, a.fx_rate"
                    " from stage_activities as a inner join stage_portfolios as sp"
                    " using (portfolio_key) order by sp.portfolio_id, a.activity_date"
                )
            pf_ids = cur.execute(
                "select min(portfolio_id), max(portfolio_id) from stage_portfolios"
            ).fetchone()
        conn.commit()

    return {
        "params": asdict(params),
        "seed": seed,
        "start_date": start_date.isoformat(),
        "end_date": end_date.isoformat(),
        "sessions": n_sess,
        "users": n_users,
        "portfolios": n_pf,
        "public_portfolios": int(portfolios["is_public"].sum()),
        "portfolio_id_range": [int(pf_ids[0]), int(pf_ids[1])],
        "positions": n_pos,
        "private_positions": int((klass == "PRIVATE").sum()),
        "options_positions": int((klass == "OPTIONS").sum()),
        "closed_positions": int(has_exit.sum()),
        "valuations": len(valuations),
        "symbols_priced": len(to_price),
        "symbols_with_missing_sessions": sorted(missing_syms),
        "symbols_listed_late": sorted(late_syms),
        "prices": len(prices),
        **actions["summary"],
        **({} if ledgers is None else ledgers["summary"]),
        **({} if foreign is None else foreign["summary"]),
        "seconds": (datetime.now() - t0).total_seconds(),
    }


def _corporate_actions(
    seed: int,
    params: Params,
    split_candidates: list[str],
    dividend_candidates: list[str],
    prices: pd.DataFrame,
    hist_dates: np.ndarray,
) -> dict:
    """The market's splits and dividends of generated equities, and the closes they imply.

    Splits (docs/semantics.md, "Activities"): stored closes are as traded, so from a
    ``k``:1 split's ex-date on the closes are the walk's divided by ``k`` (a 1:5 reverse split:
    times 5); ``adj_close`` is in the latest terms (the walk divided by every ratio), as Yahoo
    adjusts for splits. Split symbols are drawn from the most widely held generated equities
    with a full price history, ex-dates on sessions of the middle three fifths. Dividends: a
    share of the generated equities pays every ``DIVIDEND_EVERY`` sessions, from a random first
    session, an amount per share (as paid) of a yearly ``DIVIDEND_YIELD`` / 4 of the previous
    session's close. Drawn from a generator of their own (seeded from ``seed``): with both off
    the prices are the ones drawn without them.
    """
    rng = np.random.default_rng([seed, 15])
    n_sess = len(hist_dates)
    split_rows: list[tuple[str, date, float]] = []
    if params.splits > 0 and n_sess >= 10 and split_candidates:
        pool = split_candidates[: max(params.splits, 40)]
        chosen = rng.choice(len(pool), size=min(params.splits, len(pool)), replace=False)
        for j, i in enumerate(chosen):
            ex = int(rng.integers(n_sess // 5, 4 * n_sess // 5))
            split_rows.append((pool[int(i)], hist_dates[ex], SPLIT_RATIOS[j % len(SPLIT_RATIOS)]))
    splits = pd.DataFrame(split_rows, columns=["symbol", "ex_date", "ratio"])
    if split_rows:
        prices = prices.copy()
        symbol = prices["symbol"].to_numpy()
        day = prices["price_date"].to_numpy()
        close = prices["close"].to_numpy(dtype=float).copy()
        adj = close.copy()
        for sym, ex, ratio in split_rows:
            mine = symbol == sym
            after = mine & (day >= ex)
            close[after] = np.round(close[after] / ratio, 4)
            adj[mine] = adj[mine] / ratio
        prices["close"] = close
        prices["adj_close"] = np.where(np.isin(symbol, splits["symbol"]), np.round(adj, 4), close)
    dividend_rows: list[tuple[str, date, float]] = []
    n_payers = round(params.dividend_share * len(dividend_candidates))
    if n_payers > 0 and n_sess > 2:
        payers = rng.choice(len(dividend_candidates), size=n_payers, replace=False)
        by_symbol = {
            s: (g["price_date"].to_numpy(), g["close"].to_numpy(dtype=float))
            for s, g in prices[prices["symbol"].isin([dividend_candidates[i] for i in payers])]
            .sort_values(["symbol", "price_date"])
            .groupby("symbol", sort=False)
        }
        for i in payers:
            sym = dividend_candidates[int(i)]
            dates, closes = by_symbol[sym]
            quarterly = float(rng.uniform(*DIVIDEND_YIELD)) / 4
            first = int(rng.integers(1, DIVIDEND_EVERY + 1))
            for ex in range(first, n_sess, DIVIDEND_EVERY):
                j = int(np.searchsorted(dates, hist_dates[ex], side="left")) - 1
                if j < 0:
                    continue  # listed late: no close before the ex-date yet
                amount = max(0.0001, round(float(closes[j]) * quarterly, 4))
                dividend_rows.append((sym, hist_dates[ex], amount))
    dividends = pd.DataFrame(dividend_rows, columns=["symbol", "ex_date", "amount_per_share"])
    summary = {}
    if split_rows:
        summary["splits"] = [
            {"symbol": s, "ex_date": d.isoformat(), "ratio": r} for s, d, r in split_rows
        ]
    if dividend_rows:
        summary["dividend_symbols"] = int(dividends["symbol"].nunique())
        summary["dividends"] = len(dividends)
    return {"prices": prices, "splits": splits, "dividends": dividends, "summary": summary}


def _ledgers(
    seed: int,
    params: Params,
    positions: pd.DataFrame,
    hist_dates: np.ndarray,
    end_date: date,
    sym_dates: dict[str, np.ndarray],
    sym_closes: dict[str, np.ndarray],
    splits: pd.DataFrame,
    dividends: pd.DataFrame,
) -> dict:
    """A share of the portfolios written as activity ledgers (docs/semantics.md, "Activities").

    Each chosen portfolio's PUBLIC positions become BUYs at entry (with a fee, most of the
    time) and, for those that exit, a partial SELL at the exit date of 30-90 % of the units of
    the symbol then held (splits applied: never more than is held) at the exit price (else
    near that day's close); its OPTIONS and PRIVATE positions are left out (not yet in a
    ledger). Cash: a first deposit of 30-80 % of what the buys cost and one more later (the
    rest is funded by implicit deposits), a withdrawal, 2-4 interest payments, 1-3 account
    fees, sometimes a tax; and up to two of the market's dividends recorded by the ledger
    itself (15 % withheld) a few days after their ex-date. A third of the ledgers use average
    cost, the others FIFO. Drawn from a generator of their own (seeded from ``seed``).
    """
    rng = np.random.default_rng([seed, 1515])
    n_pf = int(positions["portfolio_key"].max()) + 1 if len(positions) else 0
    keys = np.sort(rng.choice(n_pf, size=round(params.ledger_share * n_pf), replace=False))
    average = keys[rng.random(len(keys)) < 1 / 3]
    days = np.array(hist_dates, dtype="datetime64[D]")
    start_date: date = hist_dates[0]

    def session(d: date) -> int:
        return int(np.searchsorted(days, np.datetime64(d), side="left"))

    # one split per symbol at most: units in the latest terms are units x ratio before it
    split_at = {r.symbol: (session(r.ex_date), float(r.ratio)) for r in splits.itertuples()}

    def later(sym: str, idx: int) -> float:
        ex, ratio = split_at.get(sym, (-1, 1.0))
        return ratio if idx < ex else 1.0

    ex_by_symbol: dict[str, list[tuple[int, float]]] = {}
    for r in dividends.itertuples():
        ex_by_symbol.setdefault(r.symbol, []).append(
            (session(r.ex_date), float(r.amount_per_share))
        )

    def near_close(sym: str, d: date) -> float:
        dates = sym_dates[sym]
        j = max(int(np.searchsorted(dates, d, side="right")) - 1, 0)
        return float(max(0.01, np.round(sym_closes[sym][j] * (1 + rng.normal(0, 0.01)), 2)))

    def some_day(lo: date, hi: date) -> date:
        return lo + timedelta(days=int(rng.integers(0, max(1, (hi - lo).days + 1))))

    def fee() -> float:
        return 0.0 if rng.random() < 0.3 else float(np.round(rng.uniform(0.5, 9.99), 2))

    rows: list[tuple] = []
    traded: set[str] = set()

    def add(key: int, kind: str, d: date, **fields: object) -> None:
        """One activity row of ledger ``key`` (its external id: the key and a number)."""
        rows.append(
            (
                key,
                d,
                kind,
                fields.get("symbol"),
                fields.get("quantity"),
                fields.get("unit_price"),
                fields.get("amount"),
                fields.get("fee", 0.0),
                f"bench-{key}-{len(rows)}",
            )
        )

    public = positions[positions["investment_class"] == "PUBLIC"]
    by_key = {k: g for k, g in public.groupby("portfolio_key", sort=False)}
    for key in keys:
        mine = by_key.get(key)
        trades: list[tuple[int, int, date, str, float, float]] = []  # session, sell?, ...
        if mine is not None:
            for p in mine.itertuples():
                trades.append(
                    (session(p.entry_date), 0, p.entry_date, p.symbol, p.quantity, p.entry_price)
                )
                if p.exit_date is not None and not pd.isna(p.exit_date):
                    px = (
                        p.exit_price
                        if not np.isnan(p.exit_price)
                        else near_close(p.symbol, p.exit_date)
                    )
                    trades.append((session(p.exit_date), 1, p.exit_date, p.symbol, 0.0, px))
        trades.sort(key=lambda t: (t[0], t[1]))
        held: dict[str, float] = {}  # in the latest terms
        timeline: dict[str, list[tuple[int, float]]] = {}  # session, latest-terms change
        bought = 0.0
        for idx, is_sell, d, sym, qty, price in trades:
            if not is_sell:
                latest = qty * later(sym, idx)
                held[sym] = held.get(sym, 0.0) + latest
                timeline.setdefault(sym, []).append((idx, latest))
                bought += qty * price
                add(key, "BUY", d, symbol=sym, quantity=qty, unit_price=price, fee=fee())
                traded.add(sym)
                continue
            share = float(rng.uniform(0.3, 0.9))
            qty = math.floor(share * held.get(sym, 0.0) / later(sym, idx) * 1e4) / 1e4
            if qty <= 0:
                continue
            held[sym] -= qty * later(sym, idx)
            timeline[sym].append((idx, -qty * later(sym, idx)))
            add(key, "SELL", d, symbol=sym, quantity=qty, unit_price=price, fee=fee())
        first = min((t[2] for t in trades), default=start_date)
        budget = max(bought, 1000.0)
        add(key, "DEPOSIT", first, amount=float(np.round(budget * rng.uniform(0.3, 0.8), 2)))
        add(
            key,
            "DEPOSIT",
            some_day(first, end_date),
            amount=float(np.round(budget * rng.uniform(0.05, 0.3), 2)),
        )
        middle = first + (end_date - first) / 2
        add(
            key,
            "WITHDRAWAL",
            some_day(middle, end_date),
            amount=float(np.round(budget * rng.uniform(0.01, 0.08), 2)),
        )
        for _ in range(int(rng.integers(2, 5))):
            add(
                key,
                "INTEREST",
                some_day(first, end_date),
                amount=float(np.round(rng.uniform(1, 60), 2)),
            )
        for _ in range(int(rng.integers(1, 4))):
            add(
                key, "FEE", some_day(first, end_date), amount=float(np.round(rng.uniform(2, 25), 2))
            )
        if rng.random() < 0.5:
            add(
                key, "TAX", some_day(first, end_date), amount=float(np.round(rng.uniform(5, 80), 2))
            )
        # the market's dividends on units held at the close before their ex-date: record up to
        # two of them in the ledger (the market's payment is then not paid again)
        payable = []
        for sym, changes in timeline.items():
            for ex, amount in ex_by_symbol.get(sym, []):
                units = sum(c for i, c in changes if i <= ex - 1) / later(sym, ex - 1)
                if units > 1e-6:
                    payable.append((sym, ex, units * amount))
        for i in rng.permutation(len(payable))[:2]:
            sym, ex, amount = payable[int(i)]
            paid = float(np.round(amount * RECORDED_DIVIDEND_NET, 2))
            on = min(hist_dates[ex] + timedelta(days=int(rng.integers(0, 21))), end_date)
            if paid > 0:
                add(key, "DIVIDEND", on, symbol=sym, amount=paid)
    activities = pd.DataFrame(
        rows,
        columns=[
            "portfolio_key",
            "activity_date",
            "activity_type",
            "symbol",
            "quantity",
            "unit_price",
            "amount",
            "fee",
            "external_id",
        ],
    )
    counts = activities["activity_type"].value_counts()
    return {
        "keys": keys,
        "average_keys": average,
        "symbols": traded,
        "activities": activities,
        "summary": {
            "ledger_portfolios": len(keys),
            "ledger_average_cost": len(average),
            "activities": len(activities),
            "activities_by_type": {k: int(v) for k, v in sorted(counts.items())},
        },
    }


def _foreign(
    seed: int,
    share: float,
    candidates: list[str],
    position_symbols: np.ndarray,
    hist_dates: np.ndarray,
    late: tuple[str, str] | None = None,
) -> dict:
    """Which generated symbols trade in a foreign currency, and the synthetic FX rates.

    Symbols are taken in a seeded order until their positions reach ``share`` of all positions
    (popular symbols hold many: "about" that share). Rates: a walk per pair over the history's
    sessions, with a few sessions left out (never the first); the ``late`` pair's first rate
    on the session ``LATE_PAIR_FROM`` into the history (nothing before it).
    """
    rng = np.random.default_rng([seed, 978])  # ISO 978: EUR; independent of the main stream
    held = pd.Series(position_symbols).value_counts()
    order = rng.permutation(len(candidates))
    target = share * len(position_symbols)
    weights = np.array([c[4] for c in FOREIGN_CURRENCIES])
    currency_of: dict[str, str] = {}
    n_held = 0
    for i in order:
        if n_held >= target:
            break
        sym = candidates[i]
        if held.get(sym, 0) == 0:
            continue
        # each currency once, then drawn by weight
        k = len(currency_of)
        pick = (
            k
            if k < len(FOREIGN_CURRENCIES)
            else int(rng.choice(len(FOREIGN_CURRENCIES), p=weights / weights.sum()))
        )
        currency_of[sym] = FOREIGN_CURRENCIES[pick][0]
        n_held += int(held[sym])
    frames: list[pd.DataFrame] = []
    holes_by_pair: dict[str, list[str]] = {}
    first_rates: dict[str, str] = {}
    n_sess = len(hist_dates)
    for _currency, (base, quote), start, sigma, _w in FOREIGN_CURRENCIES:
        rates = np.round(start * np.exp(np.cumsum(np.r_[0.0, rng.normal(0, sigma, n_sess - 1)])), 6)
        keep = np.ones(n_sess, dtype=bool)
        holes = rng.choice(
            np.arange(1, n_sess),
            size=min(n_sess - 1, int(rng.integers(*FX_RATE_HOLES))),
            replace=False,
        )
        keep[holes] = False
        holes_by_pair[f"{base}{quote}"] = sorted(str(d) for d in hist_dates[~keep])
        if late == (base, quote):
            keep[: max(1, int(LATE_PAIR_FROM * n_sess))] = False
            first_rates[f"{base}{quote}"] = str(hist_dates[keep][0])
        frames.append(
            pd.DataFrame(
                {
                    "base_currency": base,
                    "quote_currency": quote,
                    "rate_date": hist_dates[keep],
                    "rate": rates[keep],
                    "source": "demo",
                }
            )
        )
    rates_frame = pd.concat(frames, ignore_index=True)
    by_currency = pd.Series(currency_of).value_counts()
    return {
        "currency_of": currency_of,
        "rates": rates_frame,
        "summary": {
            "foreign_symbols": len(currency_of),
            "foreign_symbols_by_currency": {
                c: int(by_currency.get(c, 0)) for c, *_ in FOREIGN_CURRENCIES
            },
            "foreign_positions": n_held,
            "foreign_position_share": round(n_held / max(len(position_symbols), 1), 4),
            "fx_rates": len(rates_frame),
            "fx_rates_source": "demo (synthetic walks, not market data)",
            "fx_missing_sessions": holes_by_pair,
            **({"fx_late_pairs_first_rate": first_rates} if first_rates else {}),
        },
    }


def _foreign_activities(
    seed: int,
    activities: pd.DataFrame,
    currency_of: dict[str, str],
    rates: pd.DataFrame,
    hist_dates: np.ndarray,
) -> tuple[pd.DataFrame, dict]:
    """The ledgers' activities of foreign listings in their currencies (docs/semantics.md,
    "Currencies"), with the columns ``currency`` and ``fx_rate`` added (USD and none for
    the others).

    A trade or recorded dividend of a listing in currency ``c`` states the broker's rate
    (``fx_rate``: USD per whole unit of ``c``, the market's rate of its session or the last
    before it, else the pair's first rate, times 1 + N(0, BROKER_SPREAD)), so it states both
    amounts: with probability FOREIGN_ACTIVITY_LOCAL_SHARE it is in ``c`` (its price, fee
    and amount in ``c``: pence for GBp, the fee converted from USD), else in USD (the local
    price times the rate). The second deposit of FOREIGN_DEPOSIT_SHARE of the ledgers with a
    foreign trade is in the whole currency of their first one, at a stated rate. The money
    moved stays that of the USD ledger it came from, up to rounding. Drawn from a generator of
    its own (seeded from ``seed``).
    """
    rng = np.random.default_rng([seed, 978, 1515])
    n = len(hist_dates)
    days = np.array(hist_dates, dtype="datetime64[D]")
    units = {c: (("GBP", 100.0) if c == "GBp" else (c, 1.0)) for c in set(currency_of.values())}
    # USD per whole unit on every session: the rate, else the last before, else the first
    usd_per: dict[str, np.ndarray] = {}
    for (base, quote), g in rates.groupby(["base_currency", "quote_currency"]):
        whole = quote if base == "USD" else base
        pos = np.searchsorted(days, np.array(g["rate_date"].to_numpy(), dtype="datetime64[D]"))
        values = g["rate"].to_numpy(dtype=float)
        values = 1.0 / values if base == "USD" else values
        series = pd.Series(np.nan, index=np.arange(n))
        series.iloc[pos] = values
        usd_per[whole] = series.ffill().bfill().to_numpy()

    acts = activities.copy()
    acts["currency"] = "USD"
    acts["fx_rate"] = np.nan
    acts["activity_date"] = acts["activity_date"].astype(object)
    currency = acts["symbol"].map(currency_of)
    foreign = (
        currency.notna().to_numpy()
        & acts["activity_type"].isin(["BUY", "SELL", "DIVIDEND"]).to_numpy()
    )
    session = np.minimum(
        np.searchsorted(days, np.array(acts["activity_date"].to_numpy(), dtype="datetime64[D]")),
        n - 1,
    )

    def broker(whole: str, at: int) -> float:
        return float(f"{usd_per[whole][at] * (1 + rng.normal(0, BROKER_SPREAD)):.8g}")

    n_local = n_base = 0
    first_foreign: dict[int, str] = {}
    for i in np.flatnonzero(foreign):
        c = currency.iat[i]
        whole, per = units[c]
        rate = broker(whole, int(session[i]))
        key = int(acts["portfolio_key"].iat[i])
        first_foreign.setdefault(key, whole)
        acts.iat[i, acts.columns.get_loc("fx_rate")] = rate
        in_usd = {
            col: round(float(v) * rate / per, digits)
            for col, digits in (("unit_price", 4), ("amount", 2))
            if (v := acts[col].iat[i]) is not None and not pd.isna(v)
        }
        # in USD unless drawn local, or too small to state in cents (a few yen of dividend)
        if rng.random() < FOREIGN_ACTIVITY_LOCAL_SHARE or min(in_usd.values()) <= 0:
            n_local += 1
            acts.iat[i, acts.columns.get_loc("currency")] = c
            fee = acts["fee"].iat[i]
            if fee:
                acts.iat[i, acts.columns.get_loc("fee")] = round(float(fee) * per / rate, 2)
        else:
            n_base += 1
            for col, v in in_usd.items():
                acts.iat[i, acts.columns.get_loc(col)] = v
    deposits = np.flatnonzero(
        (acts["activity_type"] == "DEPOSIT").to_numpy()
        & (acts.groupby(["portfolio_key", "activity_type"]).cumcount() == 1).to_numpy()
    )
    n_deposits = 0
    for i in deposits:
        whole = first_foreign.get(int(acts["portfolio_key"].iat[i]))
        if whole is None or rng.random() >= FOREIGN_DEPOSIT_SHARE:
            continue
        rate = broker(whole, int(session[i]))
        n_deposits += 1
        acts.iat[i, acts.columns.get_loc("currency")] = whole
        acts.iat[i, acts.columns.get_loc("fx_rate")] = rate
        acts.iat[i, acts.columns.get_loc("amount")] = round(float(acts["amount"].iat[i]) / rate, 2)
    buys = (acts["activity_type"] == "BUY").to_numpy()
    return acts, {
        "ledger_foreign_buys": int((foreign & buys).sum()),
        "ledger_foreign_buy_share": round(float((foreign & buys).sum() / max(buys.sum(), 1)), 4),
        "ledger_foreign_activities": {
            "in_their_currency": n_local,
            "in_usd_with_rate": n_base,
            "deposits_in_another_currency": n_deposits,
        },
        "ledger_portfolios_trading_foreign": len(first_foreign),
    }


def add_session(url: str, seed: int = 0) -> dict:
    """Append the next session's close for every priced symbol (the nightly scenario).

    The new close is the symbol's last close times a seeded random move. Raises if the next
    session has not closed yet (prices may not be dated in the future).
    """
    with psycopg.connect(url) as conn:
        last = conn.execute("select max(price_date) from market.prices").fetchone()[0]
        row = conn.execute(
            "select session_date, session_idx from market.trading_days"
            " where calendar = %s and session_date > %s and close_at <= ops.now()"
            " order by session_date limit 1",
            [CALENDAR, last],
        ).fetchone()
        if row is None:
            raise RuntimeError(
                f"no closed session after {last}: generate with more spare_sessions to add one"
            )
        new_date, idx = row
        lasts = conn.execute(
            "select distinct on (symbol) symbol, close from market.prices"
            " order by symbol, price_date desc"
        ).fetchall()
        rng = np.random.default_rng([seed, int(idx)])
        frame = pd.DataFrame(lasts, columns=["symbol", "close"])
        frame["close"] = np.round(
            frame["close"].astype(float) * np.exp(rng.normal(0.0003, 0.015, size=len(frame))), 4
        )
        frame["close"] = frame["close"].clip(lower=0.0001)
        frame["adj_close"] = frame["close"]
        frame["price_date"] = new_date
        frame["volume"] = rng.integers(10_000, 5_000_000, size=len(frame))
        frame["source"] = "demo"
        # the FX pairs stored (a foreign-currency dataset): each pair's rate of the new
        # session too, its last rate times a move from a generator of its own
        pairs = conn.execute(
            "select distinct on (base_currency, quote_currency) base_currency, quote_currency,"
            " rate from market.fx_rates order by base_currency, quote_currency, rate_date desc"
        ).fetchall()
        with conn.cursor() as cur:
            _copy_frame(
                cur,
                "market.prices",
                frame[["symbol", "price_date", "close", "adj_close", "volume", "source"]],
            )
            if pairs:
                fx_rng = np.random.default_rng([seed, int(idx), 978])
                fx = pd.DataFrame(pairs, columns=["base_currency", "quote_currency", "rate"])
                fx["rate"] = np.round(
                    fx["rate"].astype(float) * np.exp(fx_rng.normal(0, 0.005, size=len(fx))), 6
                )
                fx["rate_date"] = new_date
                fx["source"] = "demo"
                _copy_frame(
                    cur,
                    "market.fx_rates",
                    fx[["base_currency", "quote_currency", "rate_date", "rate", "source"]],
                )
    return {"session_date": new_date.isoformat(), "prices": len(frame), "fx_rates": len(pairs)}


def add_reference_portfolio(
    url: str,
    email: str = "reference@example.com",
    name: str = "Reference upload",
    seed: int = 6,
    is_public: bool = False,
) -> dict:
    """Insert the 13-position reference portfolio (entered 2025-01-06).

    Its symbols are created if missing; any of them (and ^GSPC) without prices back to
    2025-01-06 gets generated ones: a walk through the entry price on 2025-01-06 for symbols with
    no prices, or a backward walk joining a symbol's existing first close.
    """
    rng = np.random.default_rng(seed)
    entry = date(2025, 1, 6)
    ensure_calendar(url)
    with psycopg.connect(url) as conn:
        sessions = _sessions(conn)
        closed = sessions[sessions["is_closed"]]
        last_price = conn.execute("select max(price_date) from market.prices").fetchone()[0]
        end_date = last_price or closed["session_date"].iloc[-1]
        hist = closed[(closed["session_date"] >= entry) & (closed["session_date"] <= end_date)]
        dates = hist["session_date"].to_numpy()
        frames: list[pd.DataFrame] = []
        targets = [(s, p) for s, _, p, _ in REFERENCE_PORTFOLIO] + [(BENCHMARK, 5900.0)]
        for sym, entry_px in targets:
            conn.execute(
                "insert into market.symbols (symbol, kind, name) values (%s, %s, %s)"
                " on conflict do nothing",
                [sym, _REFERENCE_KINDS.get(sym, "etf"), f"Reference {sym}"],
            )
            first = conn.execute(
                "select price_date, close from market.prices where symbol = %s"
                " order by price_date limit 1",
                [sym],
            ).fetchone()
            if first is None:
                closes = _walk(rng, len(dates), entry_px, mu=0.0002, sigma=0.008)
                frames.append(pd.DataFrame({"symbol": sym, "price_date": dates, "close": closes}))
            elif first[0] > entry:
                back = dates[dates < first[0]]
                if len(back):
                    walk = _walk(rng, len(back) + 1, 1.0, mu=0.0002, sigma=0.008)
                    closes = np.round(walk[:-1] / walk[-1] * float(first[1]), 4)
                    frames.append(
                        pd.DataFrame({"symbol": sym, "price_date": back, "close": closes})
                    )
        with conn.cursor() as cur:
            if frames:
                prices = pd.concat(frames, ignore_index=True)
                prices["adj_close"] = prices["close"]
                prices["volume"] = 1_000_000
                prices["source"] = "demo"
                _copy_frame(
                    cur,
                    "market.prices",
                    prices[["symbol", "price_date", "close", "adj_close", "volume", "source"]],
                )
            user_id = cur.execute(
                "insert into core.users (email, display_name) values (%s, %s)"
                " on conflict (lower(email)) do update set display_name = excluded.display_name"
                " returning user_id",
                [email, "Reference user"],
            ).fetchone()[0]
            portfolio_id = cur.execute(
                "insert into core.portfolios (user_id, name, is_public) values (%s, %s, %s)"
                " returning portfolio_id",
                [user_id, name, is_public],
            ).fetchone()[0]
            with cur.copy(
                "copy core.positions (portfolio_id, symbol, quantity, entry_date, entry_price)"
                " from stdin"
            ) as copy:
                for sym, d, px, qty in REFERENCE_PORTFOLIO:
                    copy.write_row([portfolio_id, sym, qty, d, px])
        conn.commit()
    return {"user_id": user_id, "portfolio_id": portfolio_id, "positions": len(REFERENCE_PORTFOLIO)}


def main() -> None:  # pragma: no cover - convenience for `python -m bench.datagen`
    import argparse
    import json

    from foliodb import config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scale", choices=list(SCALES))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--years", type=float)
    ap.add_argument("--portfolios", type=int)
    ap.add_argument("--url", default=None)
    args = ap.parse_args()
    overrides = {k: v for k, v in (("years", args.years), ("portfolios", args.portfolios)) if v}
    print(
        json.dumps(
            generate(args.url or config.database_url(), args.scale, args.seed, **overrides),
            indent=2,
        )
    )


if __name__ == "__main__":  # pragma: no cover
    main()
