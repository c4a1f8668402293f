"""Generated ledgers (issue 15): symbols with as-traded prices (random walks, a few missing
days, one late listing), market splits (4:1, 2:1, 1:2) and quarterly dividends, and N
portfolios of activities of every type, FIFO and average cost, imported through
core.import_activities (validated like any file).

What the ledgers hold: deposits, buys and partial sells (with fees), recorded dividends (a
market dividend's payment 3-20 days after its ex-date, after withholding), interest, fees,
taxes, withdrawals, transfers of cash and of securities in and out, and SPLIT activities on a
market split's ex-date (the same split: counted once). Nothing happens on the last session,
and no dividend shares a session with a split, so every figure has one reading.

    generate_ledgers(url, portfolios=200, years=2, seed=15) -> {"portfolio_ids": [...], ...}
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field

import psycopg

SYMBOLS = [f"L{i:02d}" for i in range(15)]
BENCHMARK = "^GSPC"
LATE = "L14"  # listed a fifth of the way in: bought before, valued at cost (entry)
GAPPY = ("L10", "L11", "L12", "L13")  # about 2 % of their sessions have no close (stale)
DIVIDEND_PAYERS = ("L00", "L01", "L04", "L05", "L06")
# (symbol, where in the window as a fraction of the sessions, ratio: new shares per old)
SPLITS = (("L01", 0.40, 4.0), ("L02", 0.55, 2.0), ("L03", 0.65, 0.5))


@dataclass
class Market:
    sessions: list[dt.date]
    closes: dict[str, list[float | None]]  # as traded, None where no close was stored
    splits: dict[str, dict[int, float]] = field(default_factory=dict)  # symbol -> idx -> ratio
    dividends: dict[str, dict[int, float]] = field(default_factory=dict)  # symbol -> idx -> dps


def _market(sessions: list[dt.date], rng: random.Random) -> Market:
    n = len(sessions)
    market = Market(sessions, {})
    for symbol, where, ratio in SPLITS:
        market.splits[symbol] = {int(n * where): ratio}
    for symbol in [*SYMBOLS, BENCHMARK]:
        price = rng.uniform(20, 200)
        series: list[float | None] = []
        split_at = market.splits.get(symbol, {})
        for idx in range(n):
            price *= 1 + rng.gauss(0.0003, 0.015)
            if idx in split_at:
                price /= split_at[idx]
            series.append(round(price, 4))
        if symbol == LATE:
            series[: n // 5] = [None] * (n // 5)
        if symbol in GAPPY:
            for idx in range(1, n - 1):
                if rng.random() < 0.02:
                    series[idx] = None
        market.closes[symbol] = series
    split_sessions = {idx for s in market.splits.values() for idx in s}
    for symbol in DIVIDEND_PAYERS:
        market.dividends[symbol] = {
            idx: round(0.005 * market.closes[symbol][idx], 4)
            for idx in range(10, n - 1, 63)
            if idx not in split_sessions
        }
    return market


def _write_market(conn: psycopg.Connection, market: Market) -> None:
    with conn.cursor() as cur:
        for symbol in market.closes:
            cur.execute(
                "insert into market.symbols (symbol) values (%s) on conflict do nothing", [symbol]
            )
        with cur.copy("copy market.prices (symbol, price_date, close, source) from stdin") as copy:
            for symbol, series in market.closes.items():
                for day, close in zip(market.sessions, series, strict=True):
                    if close is not None:
                        copy.write_row([symbol, day, close, "csv"])
        for symbol, by_idx in market.splits.items():
            for idx, ratio in by_idx.items():
                cur.execute(
                    "insert into market.splits (symbol, ex_date, ratio) values (%s, %s, %s)",
                    [symbol, market.sessions[idx], ratio],
                )
        for symbol, by_idx in market.dividends.items():
            for idx, amount in by_idx.items():
                cur.execute(
                    "insert into market.dividends (symbol, ex_date, amount_per_share)"
                    " values (%s, %s, %s)",
                    [symbol, market.sessions[idx], amount],
                )


def _price(market: Market, symbol: str, idx: int, rng: random.Random) -> float:
    """A trade's price: near the last close (50 before the first)."""
    series = market.closes[symbol]
    close = next((series[i] for i in range(idx, -1, -1) if series[i] is not None), 50.0)
    return round(close * rng.uniform(0.99, 1.01), 2)


def _ledger(market: Market, rng: random.Random) -> list[dict]:
    """One portfolio's activities, in date order, never selling more than is held."""
    n = len(market.sessions)
    start = rng.randrange(0, int(n * 0.3))
    days = sorted(rng.randrange(start, n - 1) for _ in range(rng.randint(12, 40)))
    held: dict[str, float] = {}
    rows: list[dict] = []
    applied = start

    def day(idx: int) -> str:
        return market.sessions[idx].isoformat()

    def trade(kind: str, idx: int, symbol: str, quantity: float, **extra) -> dict:
        return {
            "activity_date": day(idx),
            "activity_type": kind,
            "symbol": symbol,
            "quantity": f"{quantity:.4f}".rstrip("0").rstrip("."),
            "unit_price": str(_price(market, symbol, idx, rng)),
            **extra,
        }

    rows.append({"activity_date": day(start), "activity_type": "DEPOSIT", "amount": "10000"})
    for idx in days:
        # the market's splits up to this session change what is held
        for symbol, by_idx in market.splits.items():
            for split_idx, ratio in by_idx.items():
                if applied < split_idx <= idx and held.get(symbol, 0.0) > 0:
                    held[symbol] *= ratio
                    if rng.random() < 0.5:  # the ledger records it too, on its ex-date
                        rows.append(
                            {
                                "activity_date": day(split_idx),
                                "activity_type": "SPLIT",
                                "symbol": symbol,
                                "quantity": str(ratio),
                            }
                        )
        applied = idx
        owned = [s for s, q in held.items() if q > 0.01]
        r = rng.random()
        if r < 0.30 or not owned:
            symbol = rng.choice(SYMBOLS)
            quantity = rng.randint(1, 60)
            fee = {"fee": str(rng.choice([1, 2.5, 4.95]))} if rng.random() < 0.5 else {}
            rows.append(trade("BUY", idx, symbol, quantity, **fee))
            held[symbol] = held.get(symbol, 0.0) + quantity
        elif r < 0.50:
            symbol = rng.choice(owned)
            quantity = int(held[symbol] * rng.uniform(0.1, 0.9) * 10_000) / 10_000
            if quantity <= 0:
                continue
            fee = {"fee": "1"} if rng.random() < 0.5 else {}
            rows.append(trade("SELL", idx, symbol, quantity, **fee))
            held[symbol] -= quantity
        elif r < 0.58:
            payers = [s for s in owned if s in market.dividends]
            paid = [
                (s, ex)
                for s in payers
                for ex in market.dividends[s]
                if ex < idx
                and market.sessions[idx] - market.sessions[ex] <= dt.timedelta(45)
                and market.sessions[idx] - market.sessions[ex] >= dt.timedelta(3)
            ]
            if paid:
                symbol, ex = rng.choice(paid)
                amount = round(held[symbol] * market.dividends[symbol][ex] * 0.85, 2)
                if amount > 0:
                    rows.append(
                        {
                            "activity_date": day(idx),
                            "activity_type": "DIVIDEND",
                            "symbol": symbol,
                            "amount": str(amount),
                        }
                    )
        elif r < 0.64:
            kind = rng.choice(["INTEREST", "FEE", "TAX"])
            row = {"activity_date": day(idx), "activity_type": kind}
            row["amount"] = str(round(rng.uniform(1, 40), 2))
            if kind == "TAX" and owned and rng.random() < 0.5:
                row["symbol"] = rng.choice(owned)
            rows.append(row)
        elif r < 0.72:
            kind = rng.choice(["DEPOSIT", "WITHDRAWAL", "TRANSFER_IN", "TRANSFER_OUT"])
            amount = round(rng.uniform(100, 3000), 2)
            rows.append({"activity_date": day(idx), "activity_type": kind, "amount": str(amount)})
        elif r < 0.80:
            symbol = rng.choice(SYMBOLS)
            quantity = rng.randint(1, 30)
            rows.append(trade("TRANSFER_IN", idx, symbol, quantity))
            held[symbol] = held.get(symbol, 0.0) + quantity
        elif r < 0.86:
            symbol = rng.choice(owned)
            quantity = int(held[symbol] * rng.uniform(0.1, 0.5) * 10_000) / 10_000
            if quantity <= 0:
                continue
            rows.append(trade("TRANSFER_OUT", idx, symbol, quantity))
            held[symbol] -= quantity
        else:
            symbol = rng.choice(SYMBOLS)
            quantity = rng.randint(1, 20)
            rows.append(trade("BUY", idx, symbol, quantity))
            held[symbol] = held.get(symbol, 0.0) + quantity
    rows.sort(key=lambda row: row["activity_date"])
    return rows


def generate_ledgers(url: str, portfolios: int = 200, years: int = 2, seed: int = 15) -> dict:
    """The market and ``portfolios`` ledgers over the last ``years`` of closed sessions."""
    rng = random.Random(seed)
    with psycopg.connect(url) as conn:
        sessions = [
            r[0]
            for r in conn.execute(
                "select session_date from market.trading_days where calendar = 'XNYS'"
                " and close_at <= ops.now() order by session_date desc limit %s",
                [252 * years],
            )
        ][::-1]
        market = _market(sessions, rng)
        _write_market(conn, market)
        ids = []
        for k in range(portfolios):
            rows = _ledger(market, rng)
            numbered = [{"line": str(i + 2), **row} for i, row in enumerate(rows)]
            pid = conn.execute(
                "select portfolio_id from core.import_activities(%s, %s, %s::jsonb)",
                [f"ledger{k}@example.com", f"ledger {k}", json.dumps(numbered)],
            ).fetchone()[0]
            if k % 2:
                conn.execute(
                    "update core.portfolios set cost_method = 'average' where portfolio_id = %s",
                    [pid],
                )
            ids.append(pid)
    return {"portfolio_ids": ids, "sessions": sessions, "market": market}
