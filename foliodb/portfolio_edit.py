"""Edits of an imported portfolio: its settings, valuations and positions.

Every edit takes the caller's connection and reads what it checks on it as it is (the CLI
opens it as the operator's refresh role), then writes through the app writer's edit functions
(core.set_portfolio, add_positions, close_position, delete_position, set_valuation) acting for
the portfolio's owner, so the database's write rules apply to the CLI as to an app. The switch
is transaction-local (foliodb.db.acting_as): the connection comes back with its role and
acting user as they were.
Every edit is one transaction (a savepoint when the caller has one open); the dirty-queue triggers on core.positions and core.valuations
(sql/routines/20_refresh_queue.sql) re-queue the portfolio from the affected date, so the next
refresh (or `--refresh` on the command) makes every period consistent again.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from foliodb import bounds
from foliodb.db import acting_as
from foliodb.errors import FolioError
from foliodb.portfolio_io import (
    Issue,
    ValidationError,
    _db_error,
    database_issues,
    map_header,
    parse_date,
    parse_number,
    read_csv_records,
    resolve_portfolio,
    today,
    validate_position,
)
from foliodb.security import WRITER

VALUATION_COLUMNS = ("position_id", "date", "value")


@dataclass(frozen=True)
class Valuation:
    line: int | None
    position_id: int
    valuation_date: dt.date
    value: Decimal


def parse_valuation(
    values: dict[str, str], line: int | None = None, on: dt.date | None = None
) -> tuple[Valuation | None, list[Issue]]:
    """One manual valuation from text: position_id, date (ISO, not in the future), value >= 0."""
    on = on or today()
    issues: list[Issue] = []
    pid_text = (values.get("position_id") or "").strip()
    position_id = None
    if not pid_text:
        issues.append(
            Issue(line, "position_id", "required: the id shown by `folio portfolio export`")
        )
    elif not re.fullmatch(r"[0-9]+", pid_text):
        issues.append(
            Issue(line, "position_id", f"{pid_text!r} is not a position id (a whole number)")
        )
    else:
        position_id = int(pid_text)
    date_text = (values.get("date") or "").strip()
    valuation_date = parse_date(date_text) if date_text else None
    if not date_text:
        issues.append(Issue(line, "date", "required: an ISO date YYYY-MM-DD"))
    elif valuation_date is None:
        issues.append(
            Issue(line, "date", f"{date_text!r} is not an ISO date (expected YYYY-MM-DD)")
        )
    elif valuation_date > on:
        issues.append(Issue(line, "date", f"{valuation_date} is in the future (today is {on})"))
    elif (before := bounds.date_problem(valuation_date)) is not None:
        issues.append(Issue(line, "date", before))
    value_text = (values.get("value") or "").strip()
    value = parse_number(value_text) if value_text else None
    if not value_text:
        issues.append(Issue(line, "value", "required: the position's total value, e.g. 250,000"))
    elif value is None:
        issues.append(
            Issue(line, "value", f"{value_text!r} is not a number (expected e.g. 250,000)")
        )
    elif value < 0:
        issues.append(Issue(line, "value", "must not be negative"))
    elif (too_far := bounds.VALUE.problem(value)) is not None:
        issues.append(Issue(line, "value", too_far))
    if issues:
        return None, issues
    assert position_id is not None and valuation_date is not None and value is not None
    return Valuation(line, position_id, valuation_date, value), []


def parse_valuations_csv(path: str | Path, on: dt.date | None = None) -> list[Valuation]:
    """A valuations file (position_id,date,value), validated as a whole; ValidationError lists
    every problem."""
    label = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FolioError(f"cannot read {path}: {exc.strerror}") from exc
    records = read_csv_records(data, label)
    if not records:
        raise ValidationError(
            label,
            [Issue(1, None, "the file is empty: expected a header line position_id,date,value")],
        )
    header_line, header = records[0]
    mapping, issues = map_header(header, header_line, VALUATION_COLUMNS, VALUATION_COLUMNS)
    if len(records) == 1:
        issues.append(
            Issue(header_line, None, "no valuations: the file has a header but no data rows")
        )
    found: list[Valuation] = []
    for line, record in records[1:]:
        if len(record) > len(header) and any(v.strip() for v in record[len(header) :]):
            issues.append(
                Issue(line, None, f"{len(record)} fields but the header has {len(header)}")
            )
            continue
        values = {col: record[idx] for col, idx in mapping.items() if idx < len(record)}
        valuation, row_issues = parse_valuation(values, line, on)
        issues += row_issues
        if valuation:
            found.append(valuation)
    if issues:
        raise ValidationError(label, sorted(issues, key=lambda i: i.line or 0))
    return found


def _check_against_positions(conn: psycopg.Connection, valuations: list[Valuation]) -> list[Issue]:
    """Valuations need a live PRIVATE or OPTIONS position, a date within its holding, and one
    value per position and date."""
    ids = sorted({v.position_id for v in valuations})
    positions = {
        row[0]: row[1:]
        for row in conn.execute(
            "select position_id, investment_class::text, entry_date, exit_date, deleted_at"
            " from core.positions where position_id = any(%s)",
            [ids],
        ).fetchall()
    }
    issues: list[Issue] = []
    seen: dict[tuple[int, dt.date], int | None] = {}
    for v in valuations:
        key = (v.position_id, v.valuation_date)
        if key in seen:
            issues.append(
                Issue(
                    v.line,
                    "date",
                    f"position {v.position_id} is already valued on "
                    f"{v.valuation_date} on line {seen[key]}",
                )
            )
            continue
        seen[key] = v.line
        if v.position_id not in positions:
            issues.append(Issue(v.line, "position_id", f"no position with id {v.position_id}"))
            continue
        investment_class, entry_date, exit_date, deleted_at = positions[v.position_id]
        if deleted_at is not None:
            issues.append(Issue(v.line, "position_id", f"position {v.position_id} is deleted"))
        elif investment_class == "PUBLIC":
            issues.append(
                Issue(
                    v.line,
                    "position_id",
                    f"position {v.position_id} is PUBLIC (valued from market prices); manual "
                    "valuations are for PRIVATE positions and OPTIONS marks",
                )
            )
        elif v.valuation_date < entry_date:
            issues.append(
                Issue(
                    v.line,
                    "date",
                    f"{v.valuation_date} is before the position's entry {entry_date}",
                )
            )
        elif exit_date is not None and v.valuation_date > exit_date:
            issues.append(
                Issue(
                    v.line, "date", f"{v.valuation_date} is after the position's exit {exit_date}"
                )
            )
    return issues


def _owner_of(conn: psycopg.Connection, portfolio_id: int) -> int:
    """The user owning a portfolio."""
    return conn.execute(
        "select user_id from core.portfolios where portfolio_id = %s", [portfolio_id]
    ).fetchone()[0]


def _owners(conn: psycopg.Connection, position_ids: list[int]) -> dict[int, int]:
    """position_id → the user owning its portfolio."""
    rows = conn.execute(
        "select positions.position_id, portfolios.user_id from core.positions as positions"
        " inner join core.portfolios as portfolios using (portfolio_id)"
        " where positions.position_id = any(%s)",
        [position_ids],
    ).fetchall()
    return dict(rows)


def set_valuations(
    conn: psycopg.Connection, valuations: list[Valuation], source: str = "<arguments>"
) -> list[int]:
    """Write (or replace) manual valuations in one transaction; returns the portfolios touched.

    Checks read on ``conn`` as it is (the CLI's: the refresh role); the writes go as the app
    writer acting for each owner (:func:`foliodb.db.acting_as`), and ``conn`` is handed back
    with its role and acting user unchanged. A failure writes nothing.
    """
    with conn.transaction():
        issues = _check_against_positions(conn, valuations)
        if issues:
            raise ValidationError(source, issues)
        owners = _owners(conn, [v.position_id for v in valuations])
        touched: set[int] = set()
        for user_id in sorted(set(owners.values())):
            mine = [v for v in valuations if owners[v.position_id] == user_id]
            with acting_as(conn, WRITER, user_id):
                rows = conn.execute(
                    "select core.set_valuation(given.position_id, given.valuation_date,"
                    " given.value)"
                    " from unnest(%s::bigint[], %s::date[], %s::numeric[])"
                    " as given (position_id, valuation_date, value)",
                    [
                        [v.position_id for v in mine],
                        [v.valuation_date for v in mine],
                        [v.value for v in mine],
                    ],
                ).fetchall()
            touched.update(r[0] for r in rows)
    return sorted(touched)


def add_position(
    conn: psycopg.Connection,
    portfolio: str | int,
    values: dict[str, str],
    email: str | None = None,
) -> tuple[int, int]:
    """Validate one position like an import line and add it; (portfolio_id, position_id).

    Reads on ``conn`` as it is, writes as the app writer acting for the owner; ``conn`` is
    handed back unchanged (see :func:`set_valuations`).
    """
    row, issues = validate_position(values)
    with conn.transaction():
        # the position's rules are the database's (core.import_problems)
        reported = {issue.field for issue in issues}
        issues += [
            issue for issue in database_issues(conn, [dict(values)]) if issue.field not in reported
        ]
        if issues:
            raise ValidationError("position", issues)
        assert row is not None
        pid = resolve_portfolio(conn, portfolio, email)
        try:
            with acting_as(conn, WRITER, _owner_of(conn, pid)):
                found = conn.execute(
                    "select core.add_positions(%s, %s)", [pid, Jsonb([row.as_json()])]
                ).fetchone()
        except psycopg.Error as exc:
            raise _db_error(exc) from exc
    assert found is not None
    return pid, found[0][0]


def _live_position(conn: psycopg.Connection, position_id: int) -> dict[str, Any]:
    row = conn.execute(
        "select positions.portfolio_id, positions.symbol, positions.entry_date,"
        " positions.exit_date, positions.deleted_at, portfolios.user_id"
        " from core.positions as positions"
        " inner join core.portfolios as portfolios using (portfolio_id)"
        " where positions.position_id = %s",
        [position_id],
    ).fetchone()
    if row is None:
        raise FolioError(f"no position with id {position_id}")
    keys = ("portfolio_id", "symbol", "entry_date", "exit_date", "deleted_at", "user_id")
    found = dict(zip(keys, row, strict=True))
    if found["deleted_at"] is not None:
        raise FolioError(
            f"position {position_id} was deleted at {found['deleted_at']:%Y-%m-%d %H:%M}"
        )
    return found


def close_position(
    conn: psycopg.Connection,
    position_id: int,
    exit_date: dt.date,
    exit_price: Decimal | None = None,
) -> int:
    """Set a position's exit (date after its entry, not in the future); returns its portfolio.

    Reads on ``conn`` as it is, writes as the app writer acting for the owner; ``conn`` is
    handed back unchanged (see :func:`set_valuations`).
    """
    if exit_date > today():
        raise FolioError(f"exit date {exit_date} is in the future (today is {today()})")
    if exit_price is not None and exit_price <= 0:
        raise FolioError(f"exit price must be greater than 0, got {exit_price}")
    if exit_price is not None and (too_far := bounds.PRICE.problem(exit_price)) is not None:
        raise FolioError(f"exit price {too_far}")
    with conn.transaction():
        pos = _live_position(conn, position_id)
        if pos["exit_date"] is not None:
            raise FolioError(
                f"position {position_id} ({pos['symbol']}) is already closed on {pos['exit_date']}"
            )
        if exit_date <= pos["entry_date"]:
            raise FolioError(
                f"exit date {exit_date} is not after position {position_id}'s entry {pos['entry_date']}"
            )
        try:
            with acting_as(conn, WRITER, pos["user_id"]):
                conn.execute(
                    "select core.close_position(%s, %s, %s)", [position_id, exit_date, exit_price]
                )
        except psycopg.Error as exc:
            raise _db_error(exc) from exc
    return pos["portfolio_id"]


SETTINGS = ("base_currency", "is_public", "benchmark_symbol", "cost_method")


def set_portfolio(
    conn: psycopg.Connection,
    portfolio: str | int,
    settings: dict[str, Any],
    email: str | None = None,
) -> dict[str, Any]:
    """Change a portfolio's settings (``SETTINGS``; None keeps one) through core.set_portfolio,
    as its owner; returns the portfolio's settings afterwards.

    Reads on ``conn`` as it is, writes as the app writer acting for the owner; ``conn`` is
    handed back unchanged (see :func:`set_valuations`).
    """
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise FolioError(f"unknown setting(s) {sorted(unknown)}; expected {list(SETTINGS)}")
    with conn.transaction():
        pid = resolve_portfolio(conn, portfolio, email)
        try:
            with acting_as(conn, WRITER, _owner_of(conn, pid)):
                conn.execute(
                    "select core.set_portfolio(%s, %s, %s, %s, %s)",
                    [pid, *(settings.get(name) for name in SETTINGS)],
                )
        except psycopg.Error as exc:
            raise _db_error(exc) from exc
        row = conn.execute(
            "select portfolio_id, name, base_currency, is_public, benchmark_symbol,"
            " cost_method::text from core.portfolios where portfolio_id = %s",
            [pid],
        ).fetchone()
    return dict(zip(("portfolio_id", "name", *SETTINGS), row, strict=True))


def delete_position(conn: psycopg.Connection, position_id: int) -> int:
    """Soft-delete a position (kept, ignored everywhere); returns its portfolio.

    Reads on ``conn`` as it is, writes as the app writer acting for the owner; ``conn`` is
    handed back unchanged (see :func:`set_valuations`).
    """
    with conn.transaction():
        pos = _live_position(conn, position_id)
        try:
            with acting_as(conn, WRITER, pos["user_id"]):
                conn.execute("select core.delete_position(%s)", [position_id])
        except psycopg.Error as exc:
            raise _db_error(exc) from exc
    return pos["portfolio_id"]


def list_positions(
    conn: psycopg.Connection,
    portfolio: str | int,
    email: str | None = None,
    include_deleted: bool = False,
) -> dict[str, Any]:
    """A portfolio's positions with their ids (what `value`, `close` and `delete` take), read
    on ``conn``.

    One dict per position, oldest entry first: position_id, symbol, investment_class,
    quantity, entry_date, entry_price, exit_date, exit_price, notes, state (``open``,
    ``closed`` when an exit is recorded, ``deleted``), and for PRIVATE and OPTIONS positions
    the last manual valuation (date and value). Soft-deleted positions only on request.
    """
    portfolio_id = resolve_portfolio(conn, portfolio, email)
    name = conn.execute(
        "select name from core.portfolios where portfolio_id = %s", [portfolio_id]
    ).fetchone()[0]
    cur = conn.execute(
        """
        select
            positions.position_id,
            positions.symbol,
            positions.investment_class::text as investment_class,
            positions.quantity,
            positions.entry_date,
            positions.entry_price,
            positions.exit_date,
            positions.exit_price,
            positions.notes,
            case
                when positions.deleted_at is not null then 'deleted'
                when positions.exit_date is not null then 'closed'
                else 'open'
            end as state,
            last_valuation.valuation_date as last_valuation_date,
            last_valuation.value as last_valuation
        from core.positions as positions
        left join lateral (
            select valuations.valuation_date, valuations.value
            from core.valuations as valuations
            where valuations.portfolio_id = positions.portfolio_id
                and valuations.position_id = positions.position_id
            order by valuations.valuation_date desc
            limit 1
        ) as last_valuation on true
        where positions.portfolio_id = %s
            and (%s or positions.deleted_at is null)
        order by positions.entry_date, positions.position_id
        """,
        [portfolio_id, include_deleted],
    )
    names = [column.name for column in cur.description]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return {"portfolio_id": portfolio_id, "portfolio_name": name, "positions": rows}
