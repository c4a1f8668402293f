"""`folio demo`: the whole story on synthetic data, idempotently.

Demo prices (``ingest_prices(source='demo')``: synthetic, deterministic, NOT market data),
a few dozen demo users and portfolios (public and private, drawn from a fixed seed), the
reference portfolio (examples/reference_portfolio.csv), a ledger, a EUR-based portfolio
holding USD ETFs and a pence-quoted London ETF (``EURO``) with synthetic FX rates
(``ingest_fx(source='demo')``: EURUSD=X, GBPUSD=X, source 'demo'), a refresh, the pg_cron
schedule, then what people look at: a dashboard, a leaderboard and a chart PNG. A second run
finds the users, portfolios and prices in place and only refreshes what changed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from foliodb import config, portfolio_io, refresh, schedule, serving
from foliodb.db import connect
from foliodb.errors import FolioError
from foliodb.security import INGEST, REFRESH
from ingest import calendar
from ingest.fx import ingest_fx, set_symbol_currencies
from ingest.prices import ingest_prices
from ingest.providers import Request
from ingest.providers.demo import CURRENCIES, DemoProvider

SEED = 2025
EMAIL_DOMAIN = "demo.foliodb.example"
REFERENCE_EMAIL = f"reference@{EMAIL_DOMAIN}"
REFERENCE_NAME = "Reference ETF portfolio"
N_USERS = 24
YEARS = 6
LEDGER_EMAIL = f"lee@{EMAIL_DOMAIN}"
LEDGER_NAME = "Lee's brokerage ledger"
# (date, type, symbol, quantity (None: the amount), amount, fee): dated by calendar day, each
# on the first session on or after it; a trade's price is that session's demo close. The
# market splits DEMO.SPLIT 4:1 on 2024-06-10 and pays it quarterly (ingest/providers/demo.py).
LEDGER: list[tuple[dt.date, str, str | None, float | None, float | None, float]] = [
    (dt.date(2023, 1, 3), "DEPOSIT", None, None, 50_000.0, 0.0),
    (dt.date(2023, 1, 3), "BUY", "DEMO.SPLIT", 60, None, 4.95),
    (dt.date(2023, 1, 3), "BUY", "VTV", 100, None, 4.95),
    (dt.date(2023, 6, 30), "INTEREST", None, None, 41.20, 0.0),
    (dt.date(2024, 9, 3), "SELL", "DEMO.SPLIT", 100, None, 4.95),  # 100 of the 240 held
    (dt.date(2024, 12, 31), "FEE", None, None, 25.0, 0.0),
    (dt.date(2025, 3, 3), "WITHDRAWAL", None, None, 5_000.0, 0.0),
]

EURO_EMAIL = f"elise@{EMAIL_DOMAIN}"
EURO_NAME = "Élise's euro portfolio"
EURO_BASE = "EUR"
EURO_DEPOSIT = (dt.date(2024, 1, 2), 45_000.0)  # EUR
# (symbol, units, date): a EUR investor's ledger buying two USD ETFs and a London ETF quoted
# in pence (ISF.L, GBp), each on the first session on or after its date, at that session's
# demo close converted into EUR at the demo's synthetic rates; each buy states the rate it was
# settled at (fx_rate: EUR per USD, EUR per GBP). A ledger, so the demo takes no position ids
# (the README's examples add positions and name their ids). Valued in EUR through the
# synthetic EURUSD and GBPUSD rates (docs/semantics.md, "Currencies").
EURO: list[tuple[str, float, dt.date]] = [
    ("SPY", 20, dt.date(2024, 1, 2)),
    ("VTV", 60, dt.date(2024, 1, 2)),
    ("ISF.L", 1500, dt.date(2024, 3, 1)),
]
# the synthetic pair giving USD per unit of each symbol's whole currency (none: USD itself)
EURO_LEGS = {"USD": None, "GBP": "GBPUSD=X"}


FIRST_NAMES = [
    "Ada", "Ben", "Chloé", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Luca", "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Victor",
    "Wen", "Yusuf",
]  # fmt: skip
STRATEGIES: list[tuple[str, list[str]]] = [
    ("Growth tilt", ["VUG", "MTUM", "QUAL", "SPY", "IWM"]),
    ("Value & dividends", ["VTV", "USMV", "XLV", "SPY"]),
    ("All-weather", ["SPY", "TLT", "IAU", "GOVT", "LQD", "BIL"]),
    ("Bond ladder", ["BIL", "GOVT", "LQD", "MUB", "TLT"]),
    ("Global funds", ["GGIPX", "GINDX", "NEAIX", "IEFA"]),
    ("Factor mix", ["MTUM", "QUAL", "USMV", "VTV", "IWM"]),
    ("Core 60/40", ["SPY", "VO", "GOVT", "LQD"]),
    ("Health & gold", ["XLV", "IAU", "USMV"]),
]


def _closes(conn: psycopg.Connection, symbols: list[str], start: dt.date, end: dt.date):
    """Demo closes (the ones `ingest_prices(source='demo')` stores) by (symbol, date)."""
    import pandas as pd

    days = pd.DataFrame(
        conn.execute(
            "select session_date, session_idx from market.trading_days"
            " where calendar = ops.setting('calendar') order by session_date"
        ).fetchall(),
        columns=["session_date", "session_idx"],
    )
    frame = DemoProvider(days).fetch([Request(s, start, end) for s in symbols]).frame
    return {(row.symbol, row.price_date): float(row.close) for row in frame.itertuples()}


def _sessions(conn: psycopg.Connection, start: dt.date, end: dt.date) -> list[dt.date]:
    return [
        row[0]
        for row in conn.execute(
            "select session_date from market.trading_days where calendar = ops.setting('calendar')"
            " and session_date between %s and %s order by session_date",
            [start, end],
        )
    ]


def _last_closed(conn: psycopg.Connection) -> dt.date:
    row = conn.execute(
        "select session_date from market.last_closed_session(ops.setting('calendar'))"
    ).fetchone()
    if row is None or row[0] is None:
        raise FolioError("the trading calendar is empty: run `folio db migrate` first")
    return row[0]


def plan_portfolios(sessions: list[dt.date], closes: dict) -> list[dict[str, Any]]:
    """The demo users' portfolios and positions, drawn from a fixed seed (deterministic)."""
    rng = np.random.default_rng(SEED)
    n = len(sessions)
    portfolios = []
    for user_no in range(N_USERS):
        for k in range(1 + int(rng.random() < 0.5)):
            name, universe = STRATEGIES[int(rng.integers(len(STRATEGIES)))]
            # Mostly years of history; one in six is young (entered in the last ~3 months).
            young = rng.random() < 1 / 6
            first = int(rng.integers(n - 65, n - 3)) if young else int(rng.integers(0, n - 300))
            picks = rng.choice(
                universe, size=min(len(universe), int(rng.integers(3, 6))), replace=False
            )
            positions = []
            for symbol in picks:
                entry = min(first + int(rng.integers(0, 40)), n - 2)
                close = closes.get((str(symbol), sessions[entry]))
                if close is None:
                    continue
                price = round(close * (1 + rng.normal(0, 0.002)), 2)
                position = {
                    "symbol": str(symbol),
                    "quantity": max(1, round(float(rng.uniform(5_000, 40_000)) / price)),
                    "entry_date": sessions[entry],
                    "entry_price": price,
                    "exit_date": None,
                    "exit_price": None,
                }
                if not young and rng.random() < 0.15 and entry < n - 120:
                    exit_at = int(rng.integers(entry + 20, n - 60))
                    position["exit_date"] = sessions[exit_at]
                    position["exit_price"] = round(closes[(str(symbol), sessions[exit_at])], 2)
                positions.append(position)
            portfolios.append(
                {
                    "email": f"{FIRST_NAMES[user_no].lower()}@{EMAIL_DOMAIN}",
                    "display_name": FIRST_NAMES[user_no],
                    "name": f"{FIRST_NAMES[user_no]}'s {name}" + (" II" if k else ""),
                    "is_public": bool(rng.random() < 0.7),
                    "positions": positions,
                }
            )
    return portfolios


def create_portfolios(conn: psycopg.Connection) -> int:
    """Insert the demo users, portfolios and positions in one transaction; 0 if present."""
    exists = conn.execute(
        "select count(*) from core.users where email like %s", [f"%@{EMAIL_DOMAIN}"]
    ).fetchone()[0]
    if exists >= N_USERS:
        return 0
    last_closed = _last_closed(conn)
    start = last_closed - dt.timedelta(days=round(365.25 * YEARS))
    sessions = _sessions(conn, start, last_closed)
    symbols = sorted({s for _, universe in STRATEGIES for s in universe})
    closes = _closes(conn, symbols, sessions[0], sessions[-1])
    plan = plan_portfolios(sessions, closes)
    with conn.transaction():
        conn.execute(
            "insert into market.symbols (symbol) select unnest(%s::text[]) on conflict do nothing",
            [symbols],
        )
        for portfolio in plan:
            user_id = conn.execute(
                "insert into core.users (email, display_name) values (%s, %s)"
                " on conflict (lower(email)) do update set display_name = excluded.display_name"
                " returning user_id",
                [portfolio["email"], portfolio["display_name"]],
            ).fetchone()[0]
            row = conn.execute(
                "insert into core.portfolios (user_id, name, is_public) values (%s, %s, %s)"
                " on conflict (user_id, name) do nothing returning portfolio_id",
                [user_id, portfolio["name"], portfolio["is_public"]],
            ).fetchone()
            if row is None:
                continue
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into core.positions (portfolio_id, symbol, quantity, entry_date,"
                    " entry_price, exit_date, exit_price) values (%s, %s, %s, %s, %s, %s, %s)",
                    [
                        [
                            row[0],
                            p["symbol"],
                            p["quantity"],
                            p["entry_date"],
                            p["entry_price"],
                            p["exit_date"],
                            p["exit_price"],
                        ]
                        for p in portfolio["positions"]
                    ],
                )
    return len(plan)


def create_ledger(conn: psycopg.Connection) -> int:
    """Lee's ledger (``LEDGER``) through core.import_activities: a re-run adds nothing."""
    last_closed = _last_closed(conn)
    rows = []
    for day, kind, symbol, quantity, amount, fee in LEDGER:
        session = conn.execute(
            "select min(session_date) from market.trading_days"
            " where calendar = ops.setting('calendar') and session_date >= %s",
            [day],
        ).fetchone()[0]
        if session is None or session > last_closed:
            continue
        row: dict[str, Any] = {"activity_date": session.isoformat(), "activity_type": kind}
        if symbol is not None:
            close = _closes(conn, [symbol], session, session)[(symbol, session)]
            row |= {"symbol": symbol, "quantity": str(quantity), "unit_price": f"{close:.2f}"}
        else:
            row["amount"] = f"{amount:.2f}"
        if fee:
            row["fee"] = f"{fee:.2f}"
        rows.append({"line": str(len(rows) + 2), **row})
    conn.execute(
        "insert into core.users (email, display_name) values (%s, 'Lee')"
        " on conflict (lower(email)) do nothing",
        [LEDGER_EMAIL],
    )
    pid = conn.execute(
        "select portfolio_id from core.import_activities(%s, %s, %s::jsonb)",
        [LEDGER_EMAIL, LEDGER_NAME, json.dumps(rows)],
    ).fetchone()[0]
    conn.execute("update core.portfolios set is_public = true where portfolio_id = %s", [pid])
    return pid


def euro_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Élise's activities (``EURO_DEPOSIT``, ``EURO``) as core.import_activities takes them:
    each buy at the demo close (ISF.L: pence / 100) times the synthetic rate into EUR, rounded
    to 4 decimals, with that rate (EUR per unit of the whole currency, 6 decimals) as fx_rate."""
    last_closed = _last_closed(conn)

    def session_on(day: dt.date) -> dt.date | None:
        session = conn.execute(
            "select min(session_date) from market.trading_days"
            " where calendar = ops.setting('calendar') and session_date >= %s",
            [day],
        ).fetchone()[0]
        return None if session is None or session > last_closed else session

    rows: list[dict[str, Any]] = []
    deposit_day = session_on(EURO_DEPOSIT[0])
    if deposit_day is not None:
        rows.append(
            {
                "activity_date": deposit_day.isoformat(),
                "activity_type": "DEPOSIT",
                "amount": f"{EURO_DEPOSIT[1]:.2f}",
                "currency": EURO_BASE,
            }
        )
    for symbol, units, day in EURO:
        session = session_on(day)
        if session is None:
            continue
        whole, per_whole = ("GBP", 100) if CURRENCIES.get(symbol) == "GBp" else ("USD", 1)
        pairs = [p for p in ("EURUSD=X", EURO_LEGS[whole]) if p]
        walk = _closes(conn, [symbol, *pairs], session, session)
        usd_per_unit = walk[(EURO_LEGS[whole], session)] if EURO_LEGS[whole] else 1.0
        rate = round(usd_per_unit / walk[("EURUSD=X", session)], 6)  # EUR per whole unit
        rows.append(
            {
                "activity_date": session.isoformat(),
                "activity_type": "BUY",
                "symbol": symbol,
                "quantity": str(units),
                "unit_price": f"{walk[(symbol, session)] / per_whole * rate:.4f}",
                "currency": EURO_BASE,
                "fx_rate": f"{rate:.6f}",
            }
        )
    return [{"line": str(i + 2), **row} for i, row in enumerate(rows)]


def create_euro_portfolio(conn: psycopg.Connection) -> int:
    """Élise's EUR ledger and the demo symbols' trading currencies (ISF.L in GBp), through
    core.import_activities; its id. A re-run adds nothing."""
    conn.execute(
        "insert into market.symbols (symbol) select unnest(%s::text[]) on conflict do nothing",
        [[symbol for symbol, _, _ in EURO]],
    )
    set_symbol_currencies(conn, dict(CURRENCIES))
    user_id = conn.execute(
        "insert into core.users (email, display_name) values (%s, 'Élise')"
        " on conflict (lower(email)) do update set display_name = excluded.display_name"
        " returning user_id",
        [EURO_EMAIL],
    ).fetchone()[0]
    # the base currency first: an import into a portfolio it creates would make it USD
    conn.execute(
        "insert into core.portfolios (user_id, name, is_public, base_currency)"
        " values (%s, %s, true, %s) on conflict (user_id, name) do nothing",
        [user_id, EURO_NAME, EURO_BASE],
    )
    return conn.execute(
        "select portfolio_id from core.import_activities(%s, %s, %s::jsonb)",
        [EURO_EMAIL, EURO_NAME, json.dumps(euro_rows(conn))],
    ).fetchone()[0]


def import_reference(conn: psycopg.Connection, url: str | None = None) -> int | None:
    """The reference portfolio through the portfolio importer, on ``conn`` (autocommit, as
    the refresh role: as `folio portfolio import` opens it); its id. ``url``: the fresh
    session that would close its run if ``conn`` were lost (no backfill: nothing else)."""
    path = config.project_root() / "examples" / "reference_portfolio.csv"
    if not path.exists():
        return None
    existing = portfolio_io.portfolio_exists(conn, REFERENCE_EMAIL, REFERENCE_NAME)
    if existing is not None:
        return existing
    result = portfolio_io.import_portfolio(
        conn, path, REFERENCE_EMAIL, REFERENCE_NAME, is_public=True, backfill=False, url=url
    )
    return result.portfolio_id


def run_demo(
    url: str | None = None,
    out_dir: str | Path | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Set up (or reuse) the demo data, refresh, schedule, and gather what to show.

    A URL, not a connection: the demo is every command at once, and each step opens its
    session with that command's role (market data as folio_ingest, the import as
    folio_refresh, the reconnecting refresh client, pg_cron's database, the app reader).
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(step: str, since: float) -> float:
        timings[step] = round((time.perf_counter() - since) * 1000, 1)
        return time.perf_counter()

    def market_session() -> psycopg.Connection:
        """Market data is loaded as `folio ingest` loads it: as folio_ingest, autocommit."""
        return connect(url, role=INGEST, autocommit=True)

    t = time.perf_counter()
    with connect(url, autocommit=True) as conn:
        if conn.execute("select not exists (select from market.trading_days)").fetchone()[0]:
            log("loading the trading calendar")
            with market_session() as market:
                calendar.ensure_calendar(market)
        log("demo users and portfolios")
        created = create_portfolios(conn)
    t = lap("portfolios", t)
    with connect(url, role=REFRESH, autocommit=True) as conn:
        reference_id = import_reference(conn, url)
    t = lap("reference_portfolio", t)
    log("demo prices (synthetic, deterministic: not market data)")
    with market_session() as market:
        prices = ingest_prices(market, source="demo")
    t = lap("prices", t)
    # after the prices: its sell is checked against the units held with the market's split
    log("a ledger portfolio: a split, dividends, a partial sell and cash")
    with connect(url, autocommit=True) as conn:
        ledger_id = create_ledger(conn)
    t = lap("ledger", t)
    log("a EUR portfolio of USD ETFs and a pence-quoted London ETF")
    with connect(url, autocommit=True) as conn:
        euro_id = create_euro_portfolio(conn)
    t = lap("euro_portfolio", t)
    # after the portfolio and the currencies: they say which pairs are needed, from when
    log("demo FX rates EURUSD, GBPUSD (synthetic, deterministic: not market data)")
    with market_session() as market:
        fx = ingest_fx(market, source="demo")
    if fx.status == "failed":
        raise FolioError(f"the demo FX ingest failed (run {fx.run_id}): {fx.message}")
    t = lap("fx_rates", t)
    log("refresh (in the database)")
    run = refresh.run_refresh(url)
    if run["status"] == "failed":
        raise FolioError(f"the refresh failed (run {run['run_id']}): {run['error']}")
    t = lap("refresh", t)
    try:
        jobs = schedule.install(url)
        scheduled: list[str] | str = [job["jobname"] for job in jobs]
    except (FolioError, psycopg.Error) as exc:
        scheduled = f"not installed: {exc}"
    t = lap("schedule", t)

    with connect(url) as conn:
        featured = (
            reference_id
            or conn.execute(
                "select min(portfolio_id) from core.portfolios as portfolios"
                " inner join core.users as users using (user_id) where users.email like %s",
                [f"%@{EMAIL_DOMAIN}"],
            ).fetchone()[0]
        )
        counts = conn.execute(
            "select count(*), count(*) filter (where portfolios.is_public)"
            " from core.portfolios as portfolios inner join core.users as users using (user_id)"
            " where users.email like %s and users.email <> %s",
            [f"%@{EMAIL_DOMAIN}", REFERENCE_EMAIL],
        ).fetchone()
    with serving.open_reader(url) as conn:
        dashboard = serving.dashboard(conn, featured)
        board = serving.leaderboard(conn, "1Y", limit=10)
        chart_data = serving.chart(conn, featured, "1Y")
        ledger_dashboard = serving.dashboard(conn, ledger_id)
        ledger_holdings = serving.holdings(conn, ledger_id)
        euro_dashboard = serving.dashboard(conn, euro_id)
        euro_holdings = serving.holdings(conn, euro_id)
    if out_dir:
        out = Path(out_dir)
    else:
        # the demo's own directory: made here (a fresh clone has none, whoever runs it)
        out = config.project_root() / ".folio" / "demo"
        out.mkdir(parents=True, exist_ok=True)
    png = serving.render_chart(chart_data, out / "chart.png")
    lap("show", t)
    timings["total"] = round((time.perf_counter() - started) * 1000, 1)
    return {
        "created_portfolios": created,
        "portfolios": counts[0],
        "public_portfolios": counts[1],
        "reference_portfolio_id": reference_id,
        "featured_portfolio_id": featured,
        "ledger_portfolio_id": ledger_id,
        "ledger": {"dashboard": ledger_dashboard, "holdings": ledger_holdings},
        "euro_portfolio_id": euro_id,
        "euro": {"dashboard": euro_dashboard, "holdings": euro_holdings},
        "fx_rates": {
            "status": fx.status,
            "synthetic": fx.synthetic,
            "source": fx.source,
            "rows_inserted": fx.rows_inserted,
            "pairs_fetched": fx.pairs_fetched,
            "message": fx.message,
        },
        "prices": {
            "status": prices.status,
            "rows_inserted": prices.rows_inserted,
            "symbols_fetched": prices.symbols_fetched,
            "message": prices.message,
        },
        "refresh": {k: run[k] for k in ("run_id", "status", "target", "rows", "duration_ms")},
        "schedule": scheduled,
        "dashboard": dashboard,
        "leaderboard": board,
        "chart": str(png),
        "timings_ms": timings,
    }
