"""Synthetic prices for demos and tests without a network. NOT market data.

Deterministic per (symbol, session): the price on a session depends only on the symbol and
the session's ordinal (``session_idx``), so full, incremental and interrupted runs store
identical rows. Each symbol follows a geometric random walk with its own drift and
volatility, correlated with a synthetic market (the ^GSPC walk), and anchored so that on
2025-01-06 it sits near that day's real level (the reference portfolio's entry prices).
Shocks come from a numpy generator seeded by a hash of the symbol; the walk is summed from
session 0 (2000-01-03), so every run draws the same sequence.

One synthetic stock has corporate actions (``ACTIONS``): DEMO.SPLIT splits 4:1 on the first
session on or after 2024-06-10 and pays a quarterly dividend (0.4 % of that day's close, on
the first session on or after the 15th of March, June, September and December). Its closes
are as traded (the walk divided by 4 from the split on: the value is continuous), and the
provider returns the actions with the prices (``Fetched.actions``), as yfinance does.

FX pairs (``FX_PAIRS``: EURUSD=X, GBPUSD=X, 1 EUR / 1 GBP in USD) are walks of the same kind,
with no drift and no market correlation: SYNTHETIC rates, NOT market data, loaded by
``folio ingest fx --source demo`` with source 'demo' on every market.fx_rates row. A London
listing quoted in pence (ISF.L, GBp) has its walk in pence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ingest.providers import ACTION_COLUMNS, FRAME_COLUMNS, Fetched, Request, empty_frame

ANCHOR_DATE = dt.date(2025, 1, 6)
MARKET = "^GSPC"
TRADING_DAYS = 252


@dataclass(frozen=True)
class Profile:
    """Anchor price on ANCHOR_DATE, annual drift and volatility, correlation with the market."""

    anchor: float
    drift: float
    vol: float
    rho: float
    kind: str = "etf"


# Levels near 2025-01-06 closes; drift/vol in the range of each asset class.
PROFILES: dict[str, Profile] = {
    "^GSPC": Profile(5975.38, 0.08, 0.17, 1.0, "index"),
    "SPY": Profile(595.25, 0.08, 0.17, 0.99),
    "VUG": Profile(492.16, 0.10, 0.22, 0.93),
    "VTV": Profile(193.94, 0.07, 0.15, 0.90),
    "MTUM": Profile(205.30, 0.09, 0.20, 0.85),
    "QUAL": Profile(178.40, 0.08, 0.17, 0.95),
    "IWM": Profile(224.50, 0.06, 0.24, 0.85),
    "USMV": Profile(90.10, 0.07, 0.12, 0.85),
    "TLT": Profile(87.20, 0.02, 0.15, -0.20),
    "BIL": Profile(91.44, 0.04, 0.005, 0.0),
    "GGIPX": Profile(22.40, 0.07, 0.16, 0.80, "fund"),
    "GINDX": Profile(33.45, 0.07, 0.18, 0.85, "fund"),
    "GOVT": Profile(23.09, 0.02, 0.05, -0.10),
    "IAU": Profile(83.96, 0.06, 0.15, 0.10),
    "IEFA": Profile(91.30, 0.05, 0.17, 0.80),
    "LQD": Profile(110.62, 0.03, 0.08, 0.20),
    "MUB": Profile(107.66, 0.02, 0.05, 0.10),
    "NEAIX": Profile(64.32, 0.06, 0.16, 0.80, "fund"),
    "VO": Profile(295.86, 0.08, 0.19, 0.90),
    "XLV": Profile(159.34, 0.07, 0.15, 0.70),
    "DEMO.SPLIT": Profile(480.00, 0.12, 0.30, 0.70, "equity"),
    # a London ETF quoted in pence (GBp): 830 GBp = 8.30 GBP
    "ISF.L": Profile(830.00, 0.05, 0.13, 0.60),
    # FX pairs, yfinance's tickers: the price of 1 EUR / 1 GBP in USD
    "EURUSD=X": Profile(1.0310, 0.0, 0.07, 0.0, "fx"),
    "GBPUSD=X": Profile(1.2430, 0.0, 0.08, 0.0, "fx"),
}

# symbol -> (split dates with their ratio, quarterly dividend as a fraction of the close)
ACTIONS: dict[str, tuple[tuple[tuple[dt.date, float], ...], float]] = {
    "DEMO.SPLIT": (((dt.date(2024, 6, 10), 4.0),), 0.004),
}
DIVIDEND_DAYS = ((3, 15), (6, 15), (9, 15), (12, 15))

# What `folio ingest prices --source demo` fills besides the held symbols (FX pairs are rates:
# `folio ingest fx --source demo`).
CATALOGUE = [symbol for symbol, known in PROFILES.items() if known.kind != "fx"]
FX_PAIRS = [symbol for symbol, known in PROFILES.items() if known.kind == "fx"]
# The trading currencies of the demo's symbols other than USD (the others keep the default).
CURRENCIES = {"ISF.L": "GBp"}


def _seed(symbol: str) -> int:
    return int.from_bytes(hashlib.sha256(f"foliodb-demo:{symbol}".encode()).digest()[:8], "big")


def profile(symbol: str) -> Profile:
    """A known profile, else one derived from the symbol's hash (plausible for a stock)."""
    if symbol in PROFILES:
        return PROFILES[symbol]
    u = np.random.default_rng(_seed(symbol) ^ 0x5EED).random(4)
    return Profile(
        anchor=float(round(10 + 290 * u[0], 2)),
        drift=float(0.02 + 0.10 * u[1]),
        vol=float(0.15 + 0.30 * u[2]),
        rho=float(0.4 + 0.5 * u[3]),
        kind="equity",
    )


def _shocks(symbol: str, n: int) -> np.ndarray:
    """Standard normal shocks for sessions 0..n-1; a prefix of any longer draw."""
    return np.random.default_rng(_seed(symbol)).standard_normal(n)


def closes(symbol: str, session_idx: np.ndarray, anchor_idx: int) -> np.ndarray:
    """Close of ``symbol`` on the sessions with these ordinals."""
    p = profile(symbol)
    n = int(max(int(session_idx.max()), anchor_idx)) + 1
    market = _shocks(MARKET, n)
    own = _shocks(symbol, n) if symbol != MARKET else market
    rho = 1.0 if symbol == MARKET else p.rho
    z = rho * market + np.sqrt(max(0.0, 1 - rho * rho)) * own
    daily = (p.drift - p.vol**2 / 2) / TRADING_DAYS + p.vol / np.sqrt(TRADING_DAYS) * z
    daily[0] = 0.0
    walk = np.cumsum(daily)
    log_price = np.log(p.anchor) + walk - walk[anchor_idx]
    return np.round(np.exp(log_price[session_idx]), 4)


def volumes(symbol: str, session_idx: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(_seed(symbol) ^ 0xB01)
    n = int(session_idx.max()) + 1
    base = 10 ** (5 + 2 * rng.random())
    return np.round(base * rng.lognormal(0.0, 0.35, n)[session_idx]).astype("int64")


class DemoProvider:
    """Synthetic, deterministic daily prices on the calendar's sessions."""

    source = "demo"

    def __init__(self, sessions: pd.DataFrame) -> None:
        """``sessions``: session_date and session_idx of the calendar (market.trading_days)."""
        self.sessions = sessions.sort_values("session_date").reset_index(drop=True)
        at_anchor = self.sessions[self.sessions["session_date"] >= ANCHOR_DATE]
        self.anchor_idx = int(at_anchor["session_idx"].iloc[0]) if len(at_anchor) else 0

    def _first_session(self, day: dt.date) -> dt.date | None:
        later = self.sessions[self.sessions["session_date"] >= day]
        return later["session_date"].iloc[0] if len(later) else None

    def _actions(self, symbol: str, window: pd.DataFrame, close: np.ndarray) -> list[tuple]:
        """The symbol's splits and dividends on the window's sessions (as traded)."""
        splits, dividend_yield = ACTIONS[symbol]
        dates = list(window["session_date"])
        at = {day: i for i, day in enumerate(dates)}
        rows = []
        for day, ratio in splits:
            ex = self._first_session(day)
            if ex in at:
                rows.append((symbol, ex, "split", ratio))
        for year in sorted({d.year for d in dates}):
            for month, dom in DIVIDEND_DAYS:
                ex = self._first_session(dt.date(year, month, dom))
                if ex in at:
                    rows.append((symbol, ex, "dividend", round(close[at[ex]] * dividend_yield, 4)))
        return rows

    def fetch(self, requests: list[Request]) -> Fetched:
        frames = []
        actions: list[tuple] = []
        days = self.sessions["session_date"]
        for req in requests:
            window = self.sessions[(days >= req.start) & (days <= req.end)]
            if window.empty:
                continue
            idx = window["session_idx"].to_numpy()
            close = closes(req.symbol, idx, self.anchor_idx)
            if req.symbol in ACTIONS:
                # as traded: divided by the ratios of the splits on or before each session
                for day, ratio in ACTIONS[req.symbol][0]:
                    ex = self._first_session(day)
                    if ex is not None:
                        close = np.where(
                            window["session_date"].to_numpy() >= ex, close / ratio, close
                        )
                close = np.round(close, 4)
                actions += self._actions(req.symbol, window, close)
            frames.append(
                pd.DataFrame(
                    {
                        "symbol": req.symbol,
                        "price_date": window["session_date"].to_numpy(),
                        "close": close,
                        "adj_close": close,  # a synthetic world without dividends
                        "volume": volumes(req.symbol, idx),
                    }
                )
            )
        frame = pd.concat(frames, ignore_index=True) if frames else empty_frame()
        if not actions:
            return Fetched(frame[FRAME_COLUMNS])
        return Fetched(frame[FRAME_COLUMNS], actions=pd.DataFrame(actions, columns=ACTION_COLUMNS))
