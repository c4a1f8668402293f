"""Small builders for hand-worked test cases: symbols, prices, portfolios, positions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def add_prices(conn: psycopg.Connection, symbol: str, closes: dict[str, float | str]) -> None:
    conn.execute("insert into market.symbols (symbol) values (%s) on conflict do nothing", [symbol])
    with (
        conn.cursor() as cur,
        cur.copy("copy market.prices (symbol, price_date, close, source) from stdin") as copy,
    ):
        for day, close in closes.items():
            copy.write_row([symbol, d(day), Decimal(str(close)), "csv"])


def add_portfolio(
    conn: psycopg.Connection,
    name: str = "p",
    email: str = "owner@example.com",
    is_public: bool = False,
    benchmark: str = "^GSPC",
) -> int:
    user_id = conn.execute(
        "insert into core.users (email) values (%s)"
        " on conflict (lower(email)) do update set email = excluded.email returning user_id",
        [email],
    ).fetchone()[0]
    conn.execute(
        "insert into market.symbols (symbol) values (%s) on conflict do nothing", [benchmark]
    )
    return conn.execute(
        "insert into core.portfolios (user_id, name, is_public, benchmark_symbol)"
        " values (%s, %s, %s, %s) returning portfolio_id",
        [user_id, name, is_public, benchmark],
    ).fetchone()[0]


def add_position(
    conn: psycopg.Connection,
    portfolio_id: int,
    symbol: str,
    quantity: float,
    entry_date: str,
    entry_price: float,
    exit_date: str | None = None,
    exit_price: float | None = None,
    investment_class: str = "PUBLIC",
) -> int:
    conn.execute("insert into market.symbols (symbol) values (%s) on conflict do nothing", [symbol])
    return conn.execute(
        "insert into core.positions (portfolio_id, symbol, investment_class, quantity,"
        " entry_date, entry_price, exit_date, exit_price)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s) returning position_id",
        [
            portfolio_id,
            symbol,
            investment_class,
            Decimal(str(quantity)),
            d(entry_date),
            Decimal(str(entry_price)),
            d(exit_date) if exit_date else None,
            Decimal(str(exit_price)) if exit_price is not None else None,
        ],
    ).fetchone()[0]


def refresh(
    conn: psycopg.Connection, mode: str = "incremental", portfolio_id: int | None = None
) -> dict:
    """Run the in-database refresh and return its ledger row."""
    run_id = conn.execute("call ops.refresh(%s, %s, null)", [mode, portfolio_id]).fetchone()[0]
    row = conn.execute(
        "select run_id, status, error, message, rows from ops.runs where run_id = %s", [run_id]
    ).fetchone()
    return {"run_id": row[0], "status": row[1], "error": row[2], "message": row[3], "rows": row[4]}


def snapshots(conn: psycopg.Connection, portfolio_id: int) -> dict[str, dict]:
    cur = conn.execute(
        "select * from analytics.fct_portfolio_snapshots where portfolio_id = %s order by session_idx",
        [portfolio_id],
    )
    names = [c.name for c in cur.description]
    return {
        str(row[names.index("session_date")]): dict(zip(names, row, strict=True)) for row in cur
    }


def import_file(url: str, data: bytes, email: str, name: str, **options: Any) -> Any:
    """An import as `folio portfolio import` runs it: on a session of its own (autocommit, as
    the refresh role); ``options`` are import_portfolio's (``backfill``, ``fetch_prices`` …)."""
    from foliodb import portfolio_io
    from foliodb.db import connect
    from foliodb.security import REFRESH

    with connect(url, role=REFRESH, autocommit=True) as conn:
        return portfolio_io.import_portfolio(conn, data, email, name, url=url, **options)
