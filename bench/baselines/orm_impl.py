"""The approach foliodb replaces: row-by-row analytics through the SQLAlchemy 2 ORM.

Written the way such apps are: ORM models mapped onto the app's tables, a loop per user, per
portfolio, per day and per position, one price query per position per day (``session.get`` on
the price's primary key, then a "last close before" query when it is missing), snapshot and
chart-cache rows added one at a time, a commit per user. Same definitions as docs/semantics.md,
so its numbers must equal the pandas implementation's; only the shape of the work differs.

Results go to schema ``bench_orm`` (created here). ``limit_users`` processes only the first N
users (by id) so the benchmark runner can time a subset and extrapolate, ``user_ids`` only these
users (a test's sample); the leaderboard is then ranked over the portfolios processed.
"""

from __future__ import annotations

import math
import time
from datetime import date, datetime
from decimal import Decimal

import psycopg
from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    create_engine,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

SCHEMA = "bench_orm"
CALENDAR = "XNYS"
PERIODS = ("1D", "5D", "1M", "3M", "6M", "YTD", "1Y", "5Y", "MAX")
MONTHS = {"1M": 1, "3M": 3, "6M": 6, "1Y": 12, "5Y": 60}
MAX_POINTS = 260


class Base(DeclarativeBase):
    pass


# ---- the app's tables ------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"schema": "core"}
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String)
    portfolios: Mapped[list[Portfolio]] = relationship(
        back_populates="user", order_by="Portfolio.portfolio_id"
    )


class Portfolio(Base):
    __tablename__ = "portfolios"
    __table_args__ = {"schema": "core"}
    portfolio_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core.users.user_id"))
    name: Mapped[str] = mapped_column(String)
    benchmark_symbol: Mapped[str] = mapped_column(String)
    is_public: Mapped[bool] = mapped_column(Boolean)
    user: Mapped[User] = relationship(back_populates="portfolios")
    positions: Mapped[list[Position]] = relationship(order_by="Position.position_id")


class Position(Base):
    __tablename__ = "positions"
    __table_args__ = {"schema": "core"}
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("core.portfolios.portfolio_id"), primary_key=True
    )
    position_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    symbol: Mapped[str] = mapped_column(String)
    investment_class: Mapped[str] = mapped_column(String)
    quantity: Mapped[Decimal] = mapped_column(Numeric)
    entry_date: Mapped[date] = mapped_column(Date)
    entry_price: Mapped[Decimal] = mapped_column(Numeric)
    exit_date: Mapped[date | None] = mapped_column(Date)
    exit_price: Mapped[Decimal | None] = mapped_column(Numeric)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Valuation(Base):
    __tablename__ = "valuations"
    __table_args__ = {"schema": "core"}
    portfolio_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    position_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    valuation_date: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[Decimal] = mapped_column(Numeric)


class Price(Base):
    __tablename__ = "prices"
    __table_args__ = {"schema": "market"}
    symbol: Mapped[str] = mapped_column(String, primary_key=True)
    price_date: Mapped[date] = mapped_column(Date, primary_key=True)
    close: Mapped[Decimal] = mapped_column(Numeric)


class Split(Base):
    __tablename__ = "splits"
    __table_args__ = {"schema": "market"}
    symbol: Mapped[str] = mapped_column(String, primary_key=True)
    ex_date: Mapped[date] = mapped_column(Date, primary_key=True)
    ratio: Mapped[Decimal] = mapped_column(Numeric)


class Dividend(Base):
    __tablename__ = "dividends"
    __table_args__ = {"schema": "market"}
    symbol: Mapped[str] = mapped_column(String, primary_key=True)
    ex_date: Mapped[date] = mapped_column(Date, primary_key=True)
    amount_per_share: Mapped[Decimal] = mapped_column(Numeric)


class TradingDay(Base):
    __tablename__ = "trading_days"
    __table_args__ = {"schema": "market"}
    calendar: Mapped[str] = mapped_column(String, primary_key=True)
    session_date: Mapped[date] = mapped_column(Date, primary_key=True)
    session_idx: Mapped[int] = mapped_column(Integer)
    close_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---- the baseline's own tables ---------------------------------------------------------------


class Snapshot(Base):
    __tablename__ = "snapshots"
    __table_args__ = {"schema": SCHEMA}
    portfolio_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    session_date: Mapped[date] = mapped_column(Date, primary_key=True)
    session_idx: Mapped[int] = mapped_column(Integer)
    market_value: Mapped[float] = mapped_column(Float)
    cost_basis: Mapped[float] = mapped_column(Float)
    unrealized_pnl: Mapped[float] = mapped_column(Float)
    positions_held: Mapped[int] = mapped_column(Integer)
    n_close: Mapped[int] = mapped_column(Integer)
    n_stale: Mapped[int] = mapped_column(Integer)
    max_stale_sessions: Mapped[int] = mapped_column(Integer)
    n_entry: Mapped[int] = mapped_column(Integer)
    n_manual: Mapped[int] = mapped_column(Integer)
    inflow: Mapped[float] = mapped_column(Float)
    outflow: Mapped[float] = mapped_column(Float)
    daily_return: Mapped[float] = mapped_column(Float)
    cum_twr: Mapped[float] = mapped_column(Float)
    benchmark_close: Mapped[float | None] = mapped_column(Float)
    benchmark_cum_return: Mapped[float | None] = mapped_column(Float)


class ChartCache(Base):
    __tablename__ = "chart_caches"
    __table_args__ = {"schema": SCHEMA}
    portfolio_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period: Mapped[str] = mapped_column(String, primary_key=True)
    start_session_idx: Mapped[int] = mapped_column(Integer)
    end_session_idx: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    start_value: Mapped[float] = mapped_column(Float)
    end_value: Mapped[float] = mapped_column(Float)
    period_twr: Mapped[float] = mapped_column(Float)
    benchmark_return: Mapped[float | None] = mapped_column(Float)
    excess_return: Mapped[float | None] = mapped_column(Float)
    is_partial: Mapped[bool] = mapped_column(Boolean)
    n_sessions: Mapped[int] = mapped_column(Integer)
    n_points: Mapped[int] = mapped_column(Integer)


class ChartPoint(Base):
    __tablename__ = "chart_points"
    __table_args__ = {"schema": SCHEMA}
    portfolio_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period: Mapped[str] = mapped_column(String, primary_key=True)
    session_date: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    cum_return: Mapped[float] = mapped_column(Float)
    benchmark_cum_return: Mapped[float | None] = mapped_column(Float)


class LeaderboardEntry(Base):
    __tablename__ = "leaderboards"
    __table_args__ = {"schema": SCHEMA}
    period: Mapped[str] = mapped_column(String, primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    percentile: Mapped[float] = mapped_column(Float)
    period_twr: Mapped[float] = mapped_column(Float)
    benchmark_return: Mapped[float | None] = mapped_column(Float)
    relative_return: Mapped[float | None] = mapped_column(Float)
    n_ranked: Mapped[int] = mapped_column(Integer)


class LeaderboardExclusion(Base):
    __tablename__ = "leaderboard_exclusions"
    __table_args__ = {"schema": SCHEMA}
    period: Mapped[str] = mapped_column(String, primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(String)


OWN_TABLES = [
    Snapshot.__table__,
    ChartCache.__table__,
    ChartPoint.__table__,
    LeaderboardEntry.__table__,
    LeaderboardExclusion.__table__,
]


def engine_for(url: str) -> Engine:
    """An engine on a libpq URL or conninfo string (as foliodb's config produces)."""
    return create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url))


def create_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"create schema if not exists {SCHEMA}"))
    Base.metadata.create_all(engine, tables=OWN_TABLES)


# ---- the row-by-row service ------------------------------------------------------------------


class PortfolioService:
    """What the app's "recompute analytics" task does, one object at a time."""

    def __init__(self, session: Session) -> None:
        self.s = session

    # calendar helpers: one query each, as the app's helpers do
    def session_on_or_after(self, d: date) -> TradingDay | None:
        return self.s.scalars(
            select(TradingDay)
            .where(TradingDay.calendar == CALENDAR, TradingDay.session_date >= d)
            .order_by(TradingDay.session_date)
            .limit(1)
        ).first()

    def session_on_or_before(self, d: date) -> TradingDay | None:
        return self.s.scalars(
            select(TradingDay)
            .where(TradingDay.calendar == CALENDAR, TradingDay.session_date <= d)
            .order_by(TradingDay.session_date.desc())
            .limit(1)
        ).first()

    def sessions_before(self, d: date, n: int) -> TradingDay | None:
        return self.s.scalars(
            select(TradingDay)
            .where(TradingDay.calendar == CALENDAR, TradingDay.session_date < d)
            .order_by(TradingDay.session_date.desc())
            .offset(n - 1)
            .limit(1)
        ).first()

    def as_of(self) -> date | None:
        """S*: the latest closed session with any price."""
        return self.s.scalar(
            select(func.max(Price.price_date))
            .join(
                TradingDay,
                (TradingDay.session_date == Price.price_date) & (TradingDay.calendar == CALENDAR),
            )
            .where(TradingDay.close_at <= func.ops.now())
        )

    # valuation
    def price_on(self, symbol: str, day: TradingDay) -> tuple[float | None, int]:
        """(unit price, stale age) from the close on the day or the last close before it."""
        price = self.s.get(Price, (symbol, day.session_date))
        if price is not None:
            return float(price.close), 0
        last = self.s.execute(
            select(Price.close, TradingDay.session_idx)
            .join(
                TradingDay,
                (TradingDay.session_date == Price.price_date) & (TradingDay.calendar == CALENDAR),
            )
            .where(Price.symbol == symbol, Price.price_date < day.session_date)
            .order_by(Price.price_date.desc())
            .limit(1)
        ).first()
        if last is None:
            return None, -1
        return float(last.close), day.session_idx - last.session_idx

    def value_position(
        self, pos: Position, day: TradingDay, split: float = 1.0
    ) -> tuple[float, str, int]:
        """Value, method, stale age; ``split``: the ratios of the splits since its entry (a
        quoted position holds that many times its units, at its entry price divided by it)."""
        qty = float(pos.quantity) * split
        mult = 100.0 if pos.investment_class == "OPTIONS" else 1.0
        if pos.investment_class == "PRIVATE":
            val = self.s.scalars(
                select(Valuation)
                .where(
                    Valuation.portfolio_id == pos.portfolio_id,
                    Valuation.position_id == pos.position_id,
                    Valuation.valuation_date <= day.session_date,
                )
                .order_by(Valuation.valuation_date.desc())
                .limit(1)
            ).first()
            if val is not None:
                return float(val.value), "manual", 0
            return qty * float(pos.entry_price), "entry", 0
        unit, age = self.price_on(pos.symbol, day)
        if unit is None:
            return qty * mult * float(pos.entry_price) / split, "entry", 0
        return qty * mult * unit, ("close" if age == 0 else "stale"), age

    def benchmark_close(self, symbol: str, day: TradingDay) -> float | None:
        price = self.s.get(Price, (symbol, day.session_date))
        if price is not None:
            return float(price.close)
        close = self.s.scalar(
            select(Price.close)
            .where(Price.symbol == symbol, Price.price_date < day.session_date)
            .order_by(Price.price_date.desc())
            .limit(1)
        )
        return None if close is None else float(close)

    # snapshots
    def rebuild_snapshots(self, portfolio: Portfolio, as_of: date) -> list[Snapshot]:
        self.s.execute(delete(Snapshot).where(Snapshot.portfolio_id == portfolio.portfolio_id))
        positions = [p for p in portfolio.positions if p.deleted_at is None]
        if not positions:
            return []
        entry_s: dict[int, date] = {}
        exit_s: dict[int, date | None] = {}
        for p in positions:
            e = self.session_on_or_after(p.entry_date)
            entry_s[p.position_id] = e.session_date if e is not None else date.max
            x = self.session_on_or_after(p.exit_date) if p.exit_date else None
            exit_s[p.position_id] = (
                x.session_date if x is not None and x.session_date <= as_of else None
            )
        first = min(entry_s.values())
        if first > as_of:
            return []
        # the market's splits and dividends of each quoted position (docs/semantics.md,
        # "Activities"): its splits after its entry session; the dividends whose ex-date
        # session finds it held at the previous close (after entry, not after its exit)
        splits: dict[int, list[tuple[date, float]]] = {}
        paid: dict[date, list[tuple[Position, float]]] = {}
        for p in positions:
            if p.investment_class != "PUBLIC":
                continue
            e, x = entry_s[p.position_id], exit_s[p.position_id]
            for split in self.s.scalars(select(Split).where(Split.symbol == p.symbol)).all():
                ex = self.session_on_or_after(split.ex_date)
                if ex is not None and e < ex.session_date <= as_of:
                    splits.setdefault(p.position_id, []).append(
                        (ex.session_date, float(split.ratio))
                    )
            for dividend in self.s.scalars(
                select(Dividend).where(Dividend.symbol == p.symbol)
            ).all():
                ex = self.session_on_or_after(dividend.ex_date)
                if (
                    ex is not None
                    and e < ex.session_date <= as_of
                    and (x is None or ex.session_date <= x)
                ):
                    paid.setdefault(ex.session_date, []).append(
                        (p, float(dividend.amount_per_share))
                    )

        def split_factor(p: Position, day: date, before: bool = False) -> float:
            factor = 1.0
            for ex, ratio in splits.get(p.position_id, []):
                if ex < day or (ex == day and not before):
                    factor *= ratio
            return factor

        # dividends go to the portfolio's cash, which stays: the portfolio runs to as_of
        still_open = bool(paid) or any(exit_s[p.position_id] is None for p in positions)
        last = as_of if still_open else max(d for d in exit_s.values() if d is not None)
        days = self.s.scalars(
            select(TradingDay)
            .where(
                TradingDay.calendar == CALENDAR,
                TradingDay.session_date >= first,
                TradingDay.session_date <= last,
            )
            .order_by(TradingDay.session_date)
        ).all()
        snaps: list[Snapshot] = []
        prev_mv, growth, bench_base, cash = 0.0, 1.0, None, 0.0
        for i, day in enumerate(days):
            mv = cost = inflow = outflow = 0.0
            for p, amount in paid.get(day.session_date, []):
                # on the units held at the previous close (before a split of the same day)
                cash += float(p.quantity) * split_factor(p, day.session_date, True) * amount
            held = n_close = n_stale = n_entry = n_manual = max_age = 0
            for p in positions:
                e, x = entry_s[p.position_id], exit_s[p.position_id]
                mult = 100.0 if p.investment_class == "OPTIONS" else 1.0
                units = float(p.quantity) * mult
                if e == day.session_date:
                    inflow += units * float(p.entry_price)
                split = split_factor(p, day.session_date)
                if x == day.session_date:
                    if p.exit_price is not None:
                        outflow += units * split * float(p.exit_price)
                    else:
                        outflow += self.value_position(p, day, split)[0]
                if e <= day.session_date and (x is None or day.session_date < x):
                    value, method, age = self.value_position(p, day, split)
                    mv += value
                    cost += units * float(p.entry_price)
                    held += 1
                    if method == "close":
                        n_close += 1
                    elif method == "stale":
                        n_stale += 1
                        max_age = max(max_age, age)
                    elif method == "entry":
                        n_entry += 1
                    else:
                        n_manual += 1
            mv += cash
            denom = prev_mv + inflow
            r = 0.0 if denom == 0 else (mv + outflow) / denom - 1.0
            growth *= 1.0 + r
            bench = self.benchmark_close(portfolio.benchmark_symbol, day)
            if i == 0:
                bench_base = bench
            snap = Snapshot(
                portfolio_id=portfolio.portfolio_id,
                session_date=day.session_date,
                session_idx=day.session_idx,
                market_value=mv,
                cost_basis=cost,
                unrealized_pnl=mv - cash - cost,
                positions_held=held,
                n_close=n_close,
                n_stale=n_stale,
                max_stale_sessions=max_age,
                n_entry=n_entry,
                n_manual=n_manual,
                inflow=inflow,
                outflow=outflow,
                daily_return=r,
                cum_twr=growth - 1.0,
                benchmark_close=bench,
                benchmark_cum_return=(
                    None if bench is None or bench_base is None else bench / bench_base - 1.0
                ),
            )
            self.s.add(snap)
            snaps.append(snap)
            prev_mv = mv
        return snaps

    # chart caches
    def period_start(self, period: str, first: date, end: date) -> date | None:
        if period == "1D":
            day = self.sessions_before(end, 1)
        elif period == "5D":
            day = self.sessions_before(end, 5)
        elif period == "YTD":
            # from the previous year's last close (the session before the year's first)
            day = self.session_on_or_before(date(end.year - 1, 12, 31))
        elif period == "MAX":
            return first
        else:
            day = self.session_on_or_before(end - relativedelta(months=MONTHS[period]))
        return None if day is None else day.session_date

    def rebuild_charts(self, portfolio: Portfolio) -> None:
        pid = portfolio.portfolio_id
        self.s.execute(delete(ChartPoint).where(ChartPoint.portfolio_id == pid))
        self.s.execute(delete(ChartCache).where(ChartCache.portfolio_id == pid))
        first_snap = self.s.scalars(
            select(Snapshot)
            .where(Snapshot.portfolio_id == pid)
            .order_by(Snapshot.session_date)
            .limit(1)
        ).first()
        if first_snap is None:
            return
        end_snap = self.s.scalars(
            select(Snapshot)
            .where(Snapshot.portfolio_id == pid)
            .order_by(Snapshot.session_date.desc())
            .limit(1)
        ).first()
        first, end = first_snap.session_date, end_snap.session_date
        for period in PERIODS:
            start = self.period_start(period, first, end)
            partial = start is None or start < first
            if partial:
                start = first
            rows = self.s.scalars(
                select(Snapshot)
                .where(
                    Snapshot.portfolio_id == pid,
                    Snapshot.session_date >= start,
                    Snapshot.session_date <= end,
                )
                .order_by(Snapshot.session_date)
            ).all()
            s0, s1 = rows[0], rows[-1]
            twr = (1.0 + s1.cum_twr) / (1.0 + s0.cum_twr) - 1.0
            bret = (
                None
                if s0.benchmark_close is None or s1.benchmark_close is None
                else s1.benchmark_close / s0.benchmark_close - 1.0
            )
            kept = self.thin(rows, end)
            for row in kept:
                self.s.add(
                    ChartPoint(
                        portfolio_id=pid,
                        period=period,
                        session_date=row.session_date,
                        value=row.market_value,
                        cum_return=(1.0 + row.cum_twr) / (1.0 + s0.cum_twr) - 1.0,
                        benchmark_cum_return=(
                            None
                            if row.benchmark_close is None or s0.benchmark_close is None
                            else row.benchmark_close / s0.benchmark_close - 1.0
                        ),
                    )
                )
            self.s.add(
                ChartCache(
                    portfolio_id=pid,
                    period=period,
                    start_session_idx=s0.session_idx,
                    end_session_idx=s1.session_idx,
                    start_date=s0.session_date,
                    end_date=s1.session_date,
                    start_value=s0.market_value,
                    end_value=s1.market_value,
                    period_twr=twr,
                    benchmark_return=bret,
                    excess_return=None if bret is None else twr - bret,
                    is_partial=partial,
                    n_sessions=len(rows),
                    n_points=len(kept),
                )
            )

    @staticmethod
    def thin(rows: list[Snapshot], end: date) -> list[Snapshot]:
        n = len(rows)
        if n <= MAX_POINTS:
            return list(rows)
        cutoff = end - relativedelta(months=1)
        keep: list[Snapshot] = []
        recent: list[Snapshot] = []
        remaining: list[Snapshot] = []
        for i, row in enumerate(rows):
            if i in (0, n - 1):
                continue
            (recent if row.session_date > cutoff else remaining).append(row)
        step = max(1, math.ceil(len(remaining) / max(MAX_POINTS - 2 - len(recent), 1)))
        keep.append(rows[0])
        keep.extend(row for j, row in enumerate(remaining) if j % step == 0)
        keep.extend(recent)
        keep.append(rows[-1])
        return keep

    # leaderboards
    def rank_tie_tolerance(self) -> float:
        value = self.s.scalar(
            text("select value from ops.settings where key = 'rank_tie_tolerance'")
        )
        return float(value) if value is not None else 1e-10

    def rebuild_leaderboards(self, portfolio_ids: list[int]) -> None:
        tolerance = self.rank_tie_tolerance()
        self.s.execute(delete(LeaderboardEntry))
        self.s.execute(delete(LeaderboardExclusion))
        for period in PERIODS:
            caches = self.s.scalars(
                select(ChartCache)
                .join(Portfolio, Portfolio.portfolio_id == ChartCache.portfolio_id)
                .where(
                    ChartCache.period == period,
                    Portfolio.is_public.is_(True),
                    ChartCache.portfolio_id.in_(portfolio_ids),
                )
                .order_by(ChartCache.portfolio_id)
            ).all()
            ranked = []
            for cache in caches:
                short = cache.is_partial or (period == "MAX" and cache.n_sessions < 21)
                if short:
                    self.s.add(
                        LeaderboardExclusion(
                            period=period,
                            portfolio_id=cache.portfolio_id,
                            reason="history shorter than period",
                        )
                    )
                else:
                    ranked.append(cache)
            ranked.sort(key=lambda c: (-c.period_twr, c.portfolio_id))
            ascending = sorted(c.period_twr for c in ranked)
            n = len(ranked)
            for cache in ranked:
                # returns closer than the tolerance share a rank; the percentile is the share
                # of the others that do not rank above it (tied leaders: 100)
                above = n - _count_below(ascending, cache.period_twr + tolerance)
                rank = above + 1
                self.s.add(
                    LeaderboardEntry(
                        period=period,
                        portfolio_id=cache.portfolio_id,
                        rank=rank,
                        percentile=100.0 if n == 1 else 100.0 * (n - rank) / (n - 1),
                        period_twr=cache.period_twr,
                        benchmark_return=cache.benchmark_return,
                        relative_return=(
                            None
                            if cache.benchmark_return is None
                            else cache.period_twr - cache.benchmark_return
                        ),
                        n_ranked=n,
                    )
                )


def _count_below(ascending: list[float], value: float) -> int:
    import bisect

    return bisect.bisect_left(ascending, value)


def run(
    url: str, limit_users: int | None = None, user_ids: list[int] | None = None
) -> dict[str, float | int]:
    """Recompute everything row by row (committing per user); returns timings and counts."""
    engine = engine_for(url)
    create_tables(engine)
    t0 = time.perf_counter()
    users_done = portfolios_done = 0
    done_ids: list[int] = []
    with Session(engine) as s:
        service = PortfolioService(s)
        as_of = service.as_of()
        if limit_users is None and user_ids is None:
            s.execute(delete(ChartPoint))
            s.execute(delete(ChartCache))
            s.execute(delete(Snapshot))
            s.commit()
        chosen = select(User).order_by(User.user_id).limit(limit_users)
        if user_ids is not None:
            chosen = chosen.where(User.user_id.in_(user_ids))
        users = s.scalars(chosen).all()
        for user in users:
            for portfolio in user.portfolios:
                if as_of is not None:
                    service.rebuild_snapshots(portfolio, as_of)
                    s.flush()
                    service.rebuild_charts(portfolio)
                done_ids.append(portfolio.portfolio_id)
                portfolios_done += 1
            s.commit()
            users_done += 1
        t1 = time.perf_counter()
        service.rebuild_leaderboards(done_ids)
        s.commit()
        t2 = time.perf_counter()
        total_users = s.scalar(select(func.count()).select_from(User))
        total_pf = s.scalar(select(func.count()).select_from(Portfolio))
    engine.dispose()
    return {
        "users": users_done,
        "portfolios": portfolios_done,
        "total_users": int(total_users or 0),
        "total_portfolios": int(total_pf or 0),
        "per_user_s": (t1 - t0) / max(users_done, 1),
        "snapshots_and_charts_s": t1 - t0,
        "leaderboards_s": t2 - t1,
        "total_s": t2 - t0,
    }
