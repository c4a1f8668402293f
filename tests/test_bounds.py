"""Bounds on stored inputs: refused at every entry point with line and field,
refused by the database itself, and a refresh that isolates a portfolio whose computation
still fails; dates before the trading calendar refused with a message that says where it
starts."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from foliodb import bounds, portfolio_edit, portfolio_io
from foliodb.errors import FolioError
from foliodb.portfolio_io import ValidationError
from ingest.load import LoadError, load_rows
from ingest.prices import ingest_prices
from tests.builders import (
    add_portfolio,
    add_position,
    add_prices,
    import_file,
    refresh,
    snapshots,
)
from tests.test_portfolio_import import HEADER, db_state

DIGITS_401 = "1" + "0" * 400  # a 401-digit quantity: fits numeric, not float8
TINY_400 = "0." + "0" * 399 + "1"  # 1e-400 written out
PRICE_EXPECTED = "expected a price between 0.000001 and 1,000,000,000,000"
QUANTITY_EXPECTED = "expected a quantity between 0.00000001 and 1,000,000,000,000"
VALUE_EXPECTED = "expected a value of 0 or between 0.000001 and 1,000,000,000,000,000,000"
CALENDAR_WORDS = "is before the first session of the XNYS calendar, 2000-01-03"


# ---------------------------------------------------------------------------- one definition


def test_python_bounds_equal_the_database_bounds(conn: psycopg.Connection) -> None:
    rows = {
        kind: (low, high, zero, expected)
        for kind, low, high, zero, expected in conn.execute(
            "select kind, min_value, max_value, allows_zero, expected from ops.input_bounds"
        )
    }
    assert rows == {b.kind: (b.minimum, b.maximum, b.allows_zero, b.expected) for b in bounds.ALL}
    start, first = conn.execute(
        "select market.calendar_start(),"
        " (select min(session_date) from market.trading_days where calendar = 'XNYS')"
    ).fetchone()
    # 2000-01-03, a Monday, was the NYSE's first session of 2000 (2000-01-01 a Saturday).
    assert (start, first) == (bounds.CALENDAR_START, bounds.FIRST_XNYS_SESSION)


def _bound_checks(conn: psycopg.Connection) -> dict[tuple[str, str], str]:
    return {
        (table, name): definition
        for table, name, definition in conn.execute(
            "select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint"
            " where contype = 'c' and (conname like '%within_bounds' or conname like '%in_calendar')"
        )
    }


def test_every_bound_check_is_generated_from_one_list(conn: psycopg.Connection) -> None:
    """ops.bounded_columns lists every bound and calendar check of the database, and
    ops.apply_input_bounds() re-creates each exactly as it stands."""
    stored = _bound_checks(conn)
    listed = set(conn.execute("select table_name, constraint_name from ops.bounded_columns"))
    assert listed == set(stored)
    # prices 4, positions 4, valuations 2, options 2, ledger 6 (fx_rate: 0250), actions 4,
    # fx rates 2
    assert len(stored) == 24
    assert conn.execute("select ops.apply_input_bounds()").fetchone() == (24,)
    assert _bound_checks(conn) == stored


def test_a_changed_bound_reaches_every_table_that_uses_it(conn: psycopg.Connection) -> None:
    pid = add_portfolio(conn)
    add_prices(conn, "AAA", {"2025-01-06": 10})
    with conn.transaction(force_rollback=True):
        conn.execute("update ops.input_bounds set max_value = 1000 where kind = 'price'")
        conn.execute("select ops.apply_input_bounds()")
        refused = {
            "entry_price_within_bounds": "insert into core.positions"
            " (portfolio_id, symbol, quantity, entry_date, entry_price)"
            f" values ({pid}, 'AAA', 1, '2025-01-06', 1000.5)",
            "unit_price_within_bounds": "insert into core.activities (portfolio_id, activity_date,"
            " activity_type, symbol, quantity, unit_price, external_id)"
            f" values ({pid}, '2025-01-06', 'BUY', 'AAA', 1, 1000.5, 'x')",
            "amount_per_share_within_bounds": "insert into market.dividends"
            " (symbol, ex_date, amount_per_share) values ('AAA', '2025-01-06', 1000.5)",
            "close_within_bounds": "update market.prices set close = 1000.5 where symbol = 'AAA'",
        }
        for constraint, statement in refused.items():
            with (
                pytest.raises(psycopg.errors.CheckViolation, match=constraint),
                conn.transaction(),
            ):
                conn.execute(statement)
        # at the bound itself: accepted
        conn.execute(refused["amount_per_share_within_bounds"].replace("1000.5", "1000"))


def test_numbers_are_shown_short_in_messages(conn: psycopg.Connection) -> None:
    cases = {
        DIGITS_401: "1e+400",
        TINY_400: "1e-400",
        "123.45": "123.45",
        "-0.000000003": "-0.000000003",
        "1000000000000000001": "1000000000000000001",
        "9" * 310: "9" * 40 + "… (310 characters)",
        "1" + "0" * 50: "1e+50",
        "1.5" + "0" * 50: "1.5",
    }
    for text, expected in cases.items():
        assert bounds.shown(Decimal(text)) == expected
        assert conn.execute("select core.number_shown(%s::numeric)", [text]).fetchone()[0] == (
            expected
        )


# ---------------------------------------------------------------------------- portfolio CSV

POISON_POSITIONS = [
    pytest.param(
        f"VUG,{DIGITS_401},2025-01-06,492.16",
        "quantity",
        "1e+400 is too large",
        id="401-digit quantity",
    ),
    pytest.param(
        "VUG,0.000000001,2025-01-06,492.16",
        "quantity",
        "0.000000001 is too small",
        id="tiny quantity",
    ),
    pytest.param(
        f"VUG,1,2025-01-06,{TINY_400}",
        "entry_price",
        "1e-400 is too small",
        id="entry price 1e-400",
    ),
    pytest.param(
        "VUG,1,2025-01-06,1000000000000.5",
        "entry_price",
        "1000000000000.5 is too large",
        id="entry price above 1e12",
    ),
    pytest.param(
        f"VUG,1,2025-01-06,492.16,PUBLIC,2025-02-03,{'9' * 310}",
        "exit_price",
        "9999999999… (310 characters) is too large",
        id="exit price 1e310",
    ),
    pytest.param(
        "AAPL240119C00150000,-2000000000000,2023-11-01,4.10,OPTIONS",
        "quantity",
        "-2000000000000 is too large",
        id="short option quantity",
    ),
    pytest.param("VUG,1,1999-12-31,492.16", "entry_date", CALENDAR_WORDS, id="entry before 2000"),
]


@pytest.mark.parametrize(("line", "field", "words"), POISON_POSITIONS)
def test_poison_in_a_portfolio_csv_is_refused_with_line_and_field_and_writes_nothing(
    conn: psycopg.Connection, db_url: str, line: str, field: str, words: str
) -> None:
    before = db_state(conn)
    content = HEADER + "VTV,10,2025-01-06,173.10\n" + line + "\n"
    with pytest.raises(ValidationError) as info:
        portfolio_io.import_portfolio(conn, content.encode(), "bob@example.com", "New", url=db_url)
    [issue] = info.value.issues
    assert (issue.line, issue.field) == (3, field)
    assert words in issue.message
    assert len(str(info.value)) < 400  # the value is shown short, never echoed whole
    assert db_state(conn) == before


def _import_sql(conn: psycopg.Connection, positions_json: str) -> None:
    conn.execute(
        "select core.import_portfolio('bob@example.com', 'From app', false, %s::jsonb)",
        [positions_json],
    )


def _json_position(**fields: str) -> str:
    """A position as JSON text; numbers given as literal JSON numbers (1e400 stays 1e400)."""
    base = {
        "symbol": '"VUG"',
        "quantity": "1",
        "entry_date": '"2025-01-06"',
        "entry_price": "492.16",
    }
    base.update(fields)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in base.items()) + "}"


SQL_POISON = [
    pytest.param(
        {"quantity": "1e400"},
        "quantity",
        "1e+400 is too large: " + QUANTITY_EXPECTED,
        id="quantity 1e400",
    ),
    pytest.param(
        {"quantity": f'"{DIGITS_401}"'},
        "quantity",
        "1e+400 is too large",
        id="quantity 401 digits as text",
    ),
    pytest.param(
        {"entry_price": "1e-400"},
        "entry_price",
        "1e-400 is too small: " + PRICE_EXPECTED,
        id="entry price 1e-400",
    ),
    pytest.param(
        {"entry_price": "1e309"}, "entry_price", "1e+309 is too large", id="entry price 1e309"
    ),
    pytest.param(
        {"exit_date": '"2025-02-03"', "exit_price": "1e309"},
        "exit_price",
        "1e+309 is too large",
        id="exit price 1e309",
    ),
    pytest.param(
        {"entry_date": '"1999-12-31"'},
        "entry_date",
        "1999-12-31 " + CALENDAR_WORDS,
        id="entry 1999-12-31",
    ),
]


@pytest.mark.parametrize(("fields", "field", "words"), SQL_POISON)
def test_poison_through_core_import_portfolio_is_refused_and_writes_nothing(
    conn: psycopg.Connection, fields: dict, field: str, words: str
) -> None:
    before = db_state(conn)
    good = _json_position(symbol='"VTV"')
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        _import_sql(conn, f"[{good}, {_json_position(**fields)}]")
    message = info.value.diag.message_primary
    assert "portfolio import refused, nothing written (1 problem)" in message
    assert f"position 2 ({field}): {words}" in message
    assert len(message) < 600
    assert db_state(conn) == before


def test_core_add_positions_refuses_poison_too(conn: psycopg.Connection) -> None:
    _import_sql(conn, f"[{_json_position()}]")
    pid = conn.execute("select portfolio_id from core.portfolios").fetchone()[0]
    before = db_state(conn)
    with pytest.raises(
        psycopg.errors.InvalidParameterValue, match=r"position 1 \(quantity\): 1e\+400"
    ):
        conn.execute(
            "select core.add_positions(%s, %s::jsonb)",
            [pid, f"[{_json_position(quantity='1e400')}]"],
        )
    assert db_state(conn) == before


def test_values_at_the_bounds_are_accepted_and_compute_finite_numbers(
    conn: psycopg.Connection,
) -> None:
    """The widest position the bounds allow: 10^12 options × 100 × a 10^12 price = 10^26, and
    the narrowest, 10^-8 units at 10^-6. Both value and chain finitely in float8."""
    add_prices(conn, "^GSPC", {"2025-01-06": 100, "2025-01-07": 101})
    add_prices(conn, "HUGE", {"2025-01-06": "1000000000000", "2025-01-07": "1000000000000"})
    add_prices(conn, "TINY", {"2025-01-06": "0.000001", "2025-01-07": "0.000002"})
    big = add_portfolio(conn, "big")
    add_position(conn, big, "HUGE", 1_000_000_000_000, "2025-01-06", 1_000_000_000_000)
    small = add_portfolio(conn, "small")
    add_position(conn, small, "TINY", Decimal("0.00000001"), "2025-01-06", Decimal("0.000001"))
    assert refresh(conn, "full")["status"] == "succeeded"
    # 10^12 × 10^12 = 10^24, flat: r = 0
    s = snapshots(conn, big)["2025-01-07"]
    assert s["market_value"] == pytest.approx(1e24, rel=1e-12)
    assert s["cum_twr"] == pytest.approx(0, abs=1e-12)
    # 10^-8 × 2·10^-6 = 2·10^-14 against 10^-14 the day before: +100 %
    s = snapshots(conn, small)["2025-01-07"]
    assert s["market_value"] == pytest.approx(2e-14, rel=1e-12)
    assert s["daily_return"] == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------------------- price CSV

PRICES_HEADER = "symbol,date,close,adj_close,volume\nSPY,2025-01-06,595.25,590.10,47679400\n"

PRICE_POISON = [
    pytest.param(
        "SPY,2025-01-07,1e309,,", "close", f"{PRICE_EXPECTED}, got 1e+309", id="close 1e309"
    ),
    pytest.param(
        "SPY,2025-01-07,1e-400,,", "close", f"{PRICE_EXPECTED}, got 1e-400", id="close 1e-400"
    ),
    pytest.param(
        f"SPY,2025-01-07,{TINY_400},,",
        "close",
        # refused by the reader already: numbers have at most 30 digits on each side
        f"expected a finite positive number, got '{TINY_400[:40]}'… (402 characters)",
        id="close 1e-400 written out",
    ),
    pytest.param(
        "SPY,2025-01-07,0.0000009,,",
        "close",
        f"{PRICE_EXPECTED}, got 0.0000009",
        id="close below 1e-6",
    ),
    pytest.param(
        "SPY,2025-01-07,588,1e309,",
        "adj_close",
        f"{PRICE_EXPECTED}, or nothing, got 1e+309",
        id="adj_close 1e309",
    ),
    pytest.param(
        "SPY,2025-01-07,588,,2000000000000000",
        "volume",
        "expected a whole number between 0 and 1,000,000,000,000,000, or nothing, got 2000000000000000",
        id="volume 2e15",
    ),
    pytest.param(
        "SPY,1999-12-31,588,,",
        "date",
        "expected a date on or after 2000-01-01: the XNYS calendar starts at 2000-01-03",
        id="date 1999-12-31",
    ),
]


def _price_counts(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "select (select count(*) from market.prices), (select count(*) from market.quarantine),"
        " (select count(*) from market.symbols), (select count(*) from ops.dirty_symbols)"
    ).fetchone()


@pytest.mark.parametrize(("line", "field", "words"), PRICE_POISON)
def test_poison_in_a_price_csv_is_refused_with_line_and_field_and_writes_nothing(
    conn: psycopg.Connection, tmp_path: Path, line: str, field: str, words: str
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(PRICES_HEADER + line + "\n", encoding="utf-8")
    before = _price_counts(conn)
    summary = ingest_prices(source="csv", paths=[path], conn=conn)
    assert summary.status == "failed"
    assert f"{path} line 3, field {field}: {words}" in summary.failures[str(path)]
    assert _price_counts(conn) == before


def test_the_loader_refuses_poison_in_strict_mode_and_quarantines_it_otherwise(
    conn: psycopg.Connection,
) -> None:
    last = dt.date(2025, 1, 17)
    rows = [
        (2, "SPY", dt.date(2025, 1, 6), Decimal("590"), None, None),
        (3, "SPY", dt.date(2025, 1, 7), Decimal("1e309"), None, None),
        (4, "SPY", dt.date(2025, 1, 8), Decimal("1e-400"), None, None),
    ]
    with pytest.raises(LoadError) as info:
        load_rows(conn, rows, "csv", last_closed=last, strict=True, origin="p.csv")
    assert [str(e) for e in info.value.errors] == [
        f"p.csv line 3, field close: {PRICE_EXPECTED}, got 1e+309",
        f"p.csv line 4, field close: {PRICE_EXPECTED}, got 1e-400",
    ]
    assert conn.execute("select count(*) from market.prices").fetchone() == (0,)
    # yfinance's path: the good row is loaded, the others quarantined with the reason
    result = load_rows(conn, rows, "yfinance", last_closed=last)
    assert (result.inserted, result.quarantined) == (1, 2)
    reasons = [
        r[0] for r in conn.execute("select reason from market.quarantine order by price_date")
    ]
    assert reasons == [
        f"close: {PRICE_EXPECTED}, got 1e+309",
        f"close: {PRICE_EXPECTED}, got 1e-400",
    ]


# ---------------------------------------------------------------------------- valuations, edits


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1000000000000000001", f"1000000000000000001 is too large: {VALUE_EXPECTED}"),
        ("9" * 401, "9… (401 characters) is too large"),
        (TINY_400, "1e-400 is too small"),
    ],
)
def test_a_valuation_out_of_bounds_is_refused_with_line_and_field(
    tmp_path: Path, value: str, words: str
) -> None:
    path = tmp_path / "valuations.csv"
    path.write_text(f"position_id,date,value\n1,2025-01-06,100\n2,2025-01-06,{value}\n")
    with pytest.raises(ValidationError) as info:
        portfolio_edit.parse_valuations_csv(path)
    [issue] = info.value.issues
    assert (issue.line, issue.field) == (3, "value")
    assert words in issue.message


def test_a_valuation_before_the_calendar_is_refused() -> None:
    valuation, issues = portfolio_edit.parse_valuation(
        {"position_id": "1", "date": "1999-06-30", "value": "100"}, line=7
    )
    assert valuation is None
    assert [(i.line, i.field) for i in issues] == [(7, "date")]
    assert "1999-06-30 " + CALENDAR_WORDS in issues[0].message


def test_closing_at_an_absurd_price_is_refused(conn: psycopg.Connection, db_url: str) -> None:
    pid = add_portfolio(conn)
    position = add_position(conn, pid, "VUG", 1, "2025-01-06", 492.16)
    with pytest.raises(FolioError, match="exit price 1e\\+309 is too large: " + PRICE_EXPECTED):
        portfolio_edit.close_position(conn, position, dt.date(2025, 2, 3), Decimal("1e309"))
    assert conn.execute(
        "select exit_date from core.positions where position_id = %s", [position]
    ).fetchone() == (None,)


# ---------------------------------------------------------------------------- the database


def _setup_rows(conn: psycopg.Connection) -> dict[str, int]:
    pid = add_portfolio(conn)
    position = add_position(conn, pid, "ACME", 1, "2025-01-06", 100, investment_class="PRIVATE")
    return {"pid": pid, "position": position}


DIRECT_INSERTS = [
    pytest.param(
        "insert into core.positions (portfolio_id, symbol, quantity, entry_date, entry_price)"
        f" values (%(pid)s, 'ACME', {DIGITS_401}, '2025-01-06', 1)",
        "quantity_within_bounds",
        id="positions quantity 401 digits",
    ),
    pytest.param(
        "insert into core.positions (portfolio_id, symbol, quantity, entry_date, entry_price)"
        " values (%(pid)s, 'ACME', 1, '2025-01-06', 1e-400)",
        "entry_price_within_bounds",
        id="positions entry_price 1e-400",
    ),
    pytest.param(
        "insert into core.positions (portfolio_id, symbol, quantity, entry_date, entry_price,"
        " exit_date, exit_price) values (%(pid)s, 'ACME', 1, '2025-01-06', 1, '2025-02-03', 1e309)",
        "exit_price_within_bounds",
        id="positions exit_price 1e309",
    ),
    pytest.param(
        "insert into core.positions (portfolio_id, symbol, quantity, entry_date, entry_price)"
        " values (%(pid)s, 'ACME', 1, '1999-12-31', 1)",
        "entry_date_in_calendar",
        id="positions entry 1999",
    ),
    pytest.param(
        "insert into market.prices (symbol, price_date, close, source)"
        " values ('ACME', '2025-01-06', 1e309, 'csv')",
        "close_within_bounds",
        id="prices close 1e309",
    ),
    pytest.param(
        "insert into market.prices (symbol, price_date, close, source)"
        " values ('ACME', '2025-01-06', 1e-400, 'csv')",
        "close_within_bounds",
        id="prices close 1e-400",
    ),
    pytest.param(
        "insert into market.prices (symbol, price_date, close, adj_close, source)"
        " values ('ACME', '2025-01-06', 1, 1e309, 'csv')",
        "adj_close_within_bounds",
        id="prices adj_close 1e309",
    ),
    pytest.param(
        "insert into market.prices (symbol, price_date, close, volume, source)"
        " values ('ACME', '2025-01-06', 1, 2000000000000000, 'csv')",
        "volume_within_bounds",
        id="prices volume 2e15",
    ),
    pytest.param(
        "insert into market.prices (symbol, price_date, close, source)"
        " values ('ACME', '1999-12-31', 1, 'csv')",
        "price_date_in_calendar",
        id="prices date 1999",
    ),
    pytest.param(
        "insert into core.valuations (portfolio_id, position_id, valuation_date, value)"
        " values (%(pid)s, %(position)s, '2025-01-07', 1e19)",
        "value_within_bounds",
        id="valuations value 1e19",
    ),
    pytest.param(
        "insert into core.valuations (portfolio_id, position_id, valuation_date, value)"
        " values (%(pid)s, %(position)s, '2025-01-07', 1e-400)",
        "value_within_bounds",
        id="valuations value 1e-400",
    ),
    pytest.param(
        "insert into core.valuations (portfolio_id, position_id, valuation_date, value)"
        " values (%(pid)s, %(position)s, '1999-12-31', 1)",
        "valuation_date_in_calendar",
        id="valuations date 1999",
    ),
    pytest.param(
        "insert into market.option_contracts (symbol, underlying, expiry_date, option_type, strike)"
        " values ('ACME', 'ACME', '2025-06-20', 'call', 1e13)",
        "strike_within_bounds",
        id="option strike 1e13",
    ),
]


@pytest.mark.parametrize(("statement", "constraint"), DIRECT_INSERTS)
def test_the_database_refuses_a_direct_insert_out_of_bounds(
    conn: psycopg.Connection, statement: str, constraint: str
) -> None:
    ids = _setup_rows(conn)
    with pytest.raises(psycopg.errors.CheckViolation) as info:
        conn.execute(statement, ids)
    assert info.value.diag.constraint_name == constraint


def test_zero_valuation_and_edges_are_accepted(conn: psycopg.Connection) -> None:
    ids = _setup_rows(conn)
    conn.execute(
        "insert into core.valuations (portfolio_id, position_id, valuation_date, value)"
        " values (%(pid)s, %(position)s, '2025-01-07', 0), (%(pid)s, %(position)s, '2025-01-08',"
        " 1000000000000000000)",
        ids,
    )
    conn.execute(
        "insert into market.prices (symbol, price_date, close, adj_close, volume, source) values"
        " ('ACME', '2000-01-03', 0.000001, 1000000000000, 1000000000000000, 'csv')"
    )


# ---------------------------------------------------------------------------- isolation


@pytest.fixture
def three_portfolios(conn: psycopg.Connection):
    """AAA 10 → 11 → 12, SPY and ^GSPC over three sessions; three portfolios refreshed once.

    Exposures are published from 2 returns on (instead of 60), so every refresh re-fits AAA
    and fct_portfolio_exposures recomputes its holders, in scope or not."""
    conn.execute("update ops.settings set value = '2' where key = 'factor_min_observations'")
    add_prices(conn, "^GSPC", {"2025-01-06": 100, "2025-01-07": 101, "2025-01-08": 102})
    add_prices(conn, "SPY", {"2025-01-06": 500, "2025-01-07": 510, "2025-01-08": 505})
    add_prices(conn, "AAA", {"2025-01-06": 10, "2025-01-07": 11, "2025-01-08": 12})
    pids = [add_portfolio(conn, name) for name in ("first", "poisoned", "third")]
    for quantity, pid in zip((10, 20, 30), pids, strict=True):
        add_position(conn, pid, "AAA", quantity, "2025-01-06", 10)
    first_run = refresh(conn, "full")
    assert first_run["status"] == "succeeded"
    assert conn.execute(
        "select count(*) from analytics.fct_symbol_exposures"
        " where symbol = 'AAA' and factor = 'market' and is_published"
    ).fetchone() == (1,)
    return conn, pids, first_run["run_id"]


def _exposures_by(conn: psycopg.Connection) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for pid, run_id in conn.execute(
        "select portfolio_id, computed_by_run from analytics.fct_portfolio_exposures"
    ):
        found.setdefault(pid, set()).add(run_id)
    return found


def _poison(conn: psycopg.Connection, pid: int) -> int:
    """A row that passes every remaining constraint and breaks the float8 computation: the
    quantity bound is dropped in this test database only, a 401-digit quantity inserted."""
    conn.execute("alter table core.positions drop constraint quantity_within_bounds")
    return conn.execute(
        "insert into core.positions (portfolio_id, symbol, quantity, entry_date, entry_price)"
        f" values (%s, 'AAA', {DIGITS_401}, '2025-01-07', 11) returning position_id",
        [pid],
    ).fetchone()[0]


def _run(conn: psycopg.Connection, run_id: int) -> dict:
    cur = conn.execute(
        "select status::text, message, error, details from ops.runs where run_id = %s", [run_id]
    )
    names = [c.name for c in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def _computed_by(conn: psycopg.Connection, pid: int) -> set[int]:
    return {
        r[0]
        for r in conn.execute(
            "select distinct computed_by_run from analytics.fct_portfolio_snapshots"
            " where portfolio_id = %s",
            [pid],
        )
    }


def test_a_failing_portfolio_is_isolated_the_others_publish_and_the_run_is_partial(
    three_portfolios,
) -> None:
    conn, (first, poisoned, third), first_run = three_portfolios
    _poison(conn, poisoned)
    before = snapshots(conn, poisoned)

    run = refresh(conn, "full")
    assert run["status"] == "partial"
    row = _run(conn, run["run_id"])
    assert row["message"] == (
        f"1 portfolio left out, kept queued with its previous results: {poisoned}"
    )
    # PostgreSQL's message echoes the 401 digits: the ledger keeps the first 20 (of the
    # quantity, or of its value at 12, whichever step of the dbt graph's order meets it first)
    assert re.fullmatch(
        rf'portfolio {poisoned}: "(1|12)0+…" is out of range for type double precision',
        row["error"],
    )
    assert len(row["error"].split('"')[1]) == 21
    [isolated] = row["details"]["isolated_portfolios"]
    assert isolated["portfolio_id"] == poisoned
    assert isolated["sqlstate"] == "22003"  # numeric_value_out_of_range
    # trials: no portfolio (passes: not market-wide); {first} passes, so the failure is in
    # {poisoned, third}: {poisoned} fails, {third} passes. 4 trials.
    assert row["details"]["isolation_trials"] == 4

    # Every other portfolio published by this run, with the numbers of its own positions:
    # 10 × 12 and 30 × 12 on 2025-01-08, +20 % since entry at 10.
    for pid, quantity in ((first, 10), (third, 30)):
        assert _computed_by(conn, pid) == {run["run_id"]}
        s = snapshots(conn, pid)["2025-01-08"]
        assert s["market_value"] == quantity * 12
        assert s["cum_twr"] == pytest.approx(0.2, abs=1e-12)
    # The poisoned one keeps what the previous run computed, and stays queued.
    assert snapshots(conn, poisoned) == before
    assert _computed_by(conn, poisoned) == {first_run}
    # so do its exposures (a holder of re-fitted AAA), while the others' were recomputed
    assert _exposures_by(conn) == {
        first: {run["run_id"]},
        poisoned: {first_run},
        third: {run["run_id"]},
    }
    queued = conn.execute(
        "select portfolio_id, from_date, reason from ops.dirty_portfolios order by portfolio_id"
    ).fetchall()
    # a full refresh covers the whole history: queued again from the calendar's first session
    assert [(pid, day) for pid, day, _ in queued] == [(poisoned, dt.date(2000, 1, 3))]
    assert queued[0][2].startswith(f"refresh failed (isolated by run {run['run_id']})")
    assert conn.execute(
        "select portfolio_id from ops.refresh_isolated where run_id = %s", [run["run_id"]]
    ).fetchall() == [(poisoned,)]
    # The run's state moved on: the next incremental refresh only retries the queued one.
    assert conn.execute("select last_run_id from ops.refresh_state").fetchone() == (run["run_id"],)


def test_after_the_row_is_fixed_the_next_refresh_succeeds(three_portfolios) -> None:
    conn, (first, poisoned, third), _ = three_portfolios
    position = _poison(conn, poisoned)
    assert refresh(conn)["status"] == "partial"

    conn.execute("update core.positions set quantity = 5 where position_id = %s", [position])
    conn.execute(
        "alter table core.positions add constraint quantity_within_bounds"
        " check (abs(quantity) between 0.00000001 and 1000000000000)"
    )
    run = refresh(conn)
    assert run["status"] == "succeeded"
    assert conn.execute("select count(*) from ops.dirty_portfolios").fetchone() == (0,)
    # recomputed from its queued session, 2025-01-07 (the new position's entry)
    assert run["run_id"] in _computed_by(conn, poisoned)
    # 20 AAA since 01-06 at 10, 5 more bought on 01-07 at 11: 25 × 12 = 300 on 01-08.
    # r(01-07) = 20·11 + 5·11 over 20·10 + 5·11 = 275/255; r(01-08) = 300/275.
    s = snapshots(conn, poisoned)["2025-01-08"]
    assert s["market_value"] == 300
    assert s["cum_twr"] == pytest.approx(275 / 255 * 300 / 275 - 1, abs=1e-12)


def test_the_nightly_incremental_refresh_isolates_too(three_portfolios) -> None:
    conn, (first, poisoned, third), first_run = three_portfolios
    _poison(conn, poisoned)
    add_prices(conn, "^GSPC", {"2025-01-10": 103})
    add_prices(conn, "AAA", {"2025-01-10": 15})  # 2025-01-09 was closed
    run = refresh(conn)
    assert run["status"] == "partial"
    # the new session is published for the others only
    assert snapshots(conn, first)["2025-01-10"]["market_value"] == 150
    assert snapshots(conn, third)["2025-01-10"]["market_value"] == 450
    assert "2025-01-10" not in snapshots(conn, poisoned)
    # the chart caches of the others moved on too (a later step than snapshots)
    ends = dict(
        conn.execute(
            "select portfolio_id, max(end_date) from analytics.fct_chart_caches group by 1"
        ).fetchall()
    )
    assert ends[first] == ends[third] == dt.date(2025, 1, 10)
    assert ends[poisoned] == dt.date(2025, 1, 8)
    # it stays queued from its own first dirty session (the new position's entry)
    assert conn.execute("select portfolio_id, from_date from ops.dirty_portfolios").fetchall() == [
        (poisoned, dt.date(2025, 1, 7))
    ]


def test_a_refresh_of_the_failing_portfolio_alone_names_it(three_portfolios) -> None:
    conn, (first, poisoned, third), _ = three_portfolios
    _poison(conn, poisoned)
    run = refresh(conn, "portfolio", poisoned)
    assert run["status"] == "partial"
    assert str(poisoned) in run["message"]
    assert conn.execute("select portfolio_id from ops.dirty_portfolios").fetchall() == [(poisoned,)]


def test_several_failing_portfolios_are_all_found(conn: psycopg.Connection) -> None:
    add_prices(conn, "^GSPC", {"2025-01-06": 100, "2025-01-07": 101})
    add_prices(conn, "AAA", {"2025-01-06": 10, "2025-01-07": 11})
    pids = [add_portfolio(conn, f"p{i}") for i in range(9)]
    for pid in pids:
        add_position(conn, pid, "AAA", 1, "2025-01-06", 10)
    conn.execute("alter table core.positions drop constraint quantity_within_bounds")
    bad = [pids[1], pids[6], pids[7]]
    for pid in bad:
        conn.execute(
            "insert into core.positions (portfolio_id, symbol, quantity, entry_date, entry_price)"
            f" values (%s, 'AAA', {DIGITS_401}, '2025-01-06', 10)",
            [pid],
        )
    run = refresh(conn, "full")
    assert run["status"] == "partial"
    row = _run(conn, run["run_id"])
    assert [i["portfolio_id"] for i in row["details"]["isolated_portfolios"]] == bad
    assert row["message"].startswith("3 portfolios left out")
    published = {
        r[0]
        for r in conn.execute(
            "select portfolio_id from analytics.fct_portfolio_snapshots where session_date = '2025-01-07'"
        )
    }
    assert published == set(pids) - set(bad)


def test_a_market_wide_failure_still_fails_the_run(three_portfolios) -> None:
    """No portfolio is to blame when the steps fail with no portfolio in scope: the run fails
    with the original error and the queue keeps every entry."""
    conn, pids, _ = three_portfolios
    conn.execute("alter table market.prices drop constraint close_within_bounds")
    conn.execute(
        f"update market.prices set close = {DIGITS_401}"
        " where symbol = 'SPY' and price_date = '2025-01-08'"
    )
    run = refresh(conn, "full")
    assert run["status"] == "failed"
    assert "out of range for type double precision" in run["error"]
    assert conn.execute("select count(*) from ops.refresh_isolated").fetchone() == (0,)


def test_isolation_is_recorded_in_the_ledger_details_as_json(three_portfolios) -> None:
    conn, (first, poisoned, third), _ = three_portfolios
    _poison(conn, poisoned)
    run = refresh(conn, "full")
    details = _run(conn, run["run_id"])["details"]
    assert json.loads(json.dumps(details))["portfolios_in_scope"] == 3


# ---------------------------------------------------------------------------- the calendar


def test_an_entry_on_the_calendars_first_day_is_valued_from_its_first_session(
    conn: psycopg.Connection, db_url: str
) -> None:
    """2000-01-01 (a Saturday, a holiday) is inside the calendar: it enters on 2000-01-03."""
    add_prices(conn, "^GSPC", {"2000-01-03": 1455.22, "2000-01-04": 1399.42})
    add_prices(conn, "AAA", {"2000-01-03": 10, "2000-01-04": 11})
    data = (HEADER + "AAA,10,2000-01-01,10\n").encode()
    result = import_file(db_url, data, "y2k@example.com", "Y2K", backfill=False)
    assert refresh(conn, "portfolio", result.portfolio_id)["status"] == "succeeded"
    snaps = snapshots(conn, result.portfolio_id)
    assert list(snaps)[:2] == ["2000-01-03", "2000-01-04"]
    assert snaps["2000-01-04"]["market_value"] == 110


# ---------------------------------------------------------------------------- the migration

MIGRATION = Path(__file__).resolve().parents[1] / "sql/migrations/0050_input_bounds.sql"


def test_the_migration_moves_existing_rows_out_of_bounds_aside(conn: psycopg.Connection) -> None:
    """Run migration 0050 again on a database holding rows stored before the bounds: they
    are moved to the quarantine tables with the reason, everything else stays."""
    constraints = conn.execute(
        "select conrelid::regclass::text, conname from pg_constraint"
        " where (conname like '%%\\_within\\_bounds' or conname like '%%\\_in\\_calendar')"
        # the ledger's, the corporate actions' and the FX rates' bounds come from migrations
        # 0140, 0141 and 0240
        " and conrelid not in ('core.activities'::regclass, 'market.splits'::regclass,"
        " 'market.dividends'::regclass, 'market.fx_rates'::regclass)"
    ).fetchall()
    assert len(constraints) == 12
    for table, name in constraints:
        conn.execute(f"alter table {table} drop constraint {name}")
    # (with migration 0220's list of the bounded columns, which refers to the bounds)
    conn.execute("drop table ops.bounded_columns, ops.input_bounds, core.quarantine")
    conn.execute("drop function market.calendar_start()")

    add_prices(conn, "SPY", {"2025-01-06": 590, "2025-01-07": DIGITS_401})
    pid = add_portfolio(conn)
    good = add_position(conn, pid, "ACME", 1, "2025-01-06", 100, investment_class="PRIVATE")
    bad = add_position(conn, pid, "VUG", 1, "2025-01-06", TINY_400)
    old = add_position(conn, pid, "VTV", 1, "1999-12-31", 50)
    conn.execute(
        "insert into core.valuations (portfolio_id, position_id, valuation_date, value) values"
        " (%(pid)s, %(good)s, '2025-01-07', 120), (%(pid)s, %(good)s, '2025-01-08', 1e19)",
        {"pid": pid, "good": good},
    )
    conn.execute("delete from ops.dirty_portfolios; delete from ops.dirty_symbols")

    with conn.transaction():
        conn.execute(MIGRATION.read_text())

    assert conn.execute("select price_date, close from market.prices").fetchall() == [
        (dt.date(2025, 1, 6), 590)
    ]
    assert conn.execute("select symbol, price_date, reason from market.quarantine").fetchall() == [
        (
            "SPY",
            dt.date(2025, 1, 7),
            f"moved out of market.prices by migration 0050: close: {PRICE_EXPECTED}",
        )
    ]
    assert conn.execute("select symbol, from_date from ops.dirty_symbols").fetchall() == [
        ("SPY", dt.date(2025, 1, 7))
    ]
    assert conn.execute("select position_id from core.positions").fetchall() == [(good,)]
    moved = conn.execute(
        "select table_name, position_id, reason, row_data ->> 'symbol' from core.quarantine"
        " order by table_name, position_id, reason"
    ).fetchall()
    assert moved == [
        (
            "core.positions",
            bad,
            f"moved out of core.positions by migration 0050: entry_price: {PRICE_EXPECTED}",
            "VUG",
        ),
        (
            "core.positions",
            old,
            "moved out of core.positions by migration 0050: entry_date: expected a date on or"
            " after 2000-01-01, where the calendar starts",
            "VTV",
        ),
        (
            "core.valuations",
            good,
            f"moved out of core.valuations by migration 0050: value: {VALUE_EXPECTED}",
            None,
        ),
    ]
    assert conn.execute("select valuation_date from core.valuations").fetchall() == [
        (dt.date(2025, 1, 7),)
    ]
    # the portfolio is queued (the delete triggers), and the constraints are back
    assert conn.execute("select distinct portfolio_id from ops.dirty_portfolios").fetchall() == [
        (pid,)
    ]
    assert (
        conn.execute(
            "select count(*) from pg_constraint"
            " where (conname like '%%\\_within\\_bounds' or conname like '%%\\_in\\_calendar')"
            " and conrelid not in ('core.activities'::regclass, 'market.splits'::regclass,"
            " 'market.dividends'::regclass, 'market.fx_rates'::regclass)"
        ).fetchone()[0]
        == 12
    )


def test_folio_refresh_reports_a_partial_run_and_exits_0(three_portfolios, use_db: str) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    conn, (first, poisoned, third), _ = three_portfolios
    _poison(conn, poisoned)
    result = CliRunner().invoke(cli, ["refresh", "--full"])
    assert result.exit_code == 0, result.output
    assert f"partial: 1 portfolio left out, kept queued with its previous results: {poisoned}" in (
        result.output
    )
    assert f"portfolio {poisoned}: " in result.output
    assert "Traceback" not in result.output


def test_isolation_gives_up_past_its_trial_budget_and_fails_the_run(three_portfolios) -> None:
    conn, (first, poisoned, third), _ = three_portfolios
    _poison(conn, poisoned)
    conn.execute("update ops.settings set value = '2' where key = 'refresh_isolation_attempts'")
    run = refresh(conn, "full")
    assert run["status"] == "failed"
    assert run["error"].startswith("refresh isolation gave up after 2 trial runs")
    assert "out of range for type double precision" in run["error"]
    # nothing published, everything still queued (the failed run's scope went back)
    assert conn.execute("select count(*) from ops.refresh_isolated").fetchone() == (0,)
    assert conn.execute("select count(*) from ops.refresh_excluded").fetchone() == (0,)


def test_folio_portfolio_value_refuses_an_absurd_value(use_db: str, conn) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    ids = _setup_rows(conn)
    before = conn.execute("select count(*) from core.valuations").fetchone()
    result = CliRunner().invoke(
        cli,
        ["portfolio", "value", str(ids["position"]), "--date", "2025-01-07", "--value", DIGITS_401],
    )
    assert result.exit_code == 1, result.output
    assert "value: 1e+400 is too large: " + VALUE_EXPECTED in result.output
    assert "Traceback" not in result.output
    assert conn.execute("select count(*) from core.valuations").fetchone() == before
