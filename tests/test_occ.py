"""OCC option symbols: the one parser, in the database (market.occ_match / occ_error / parse_occ)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from foliodb import occ

WELL_FORMED = [
    # symbol, underlying, expiry, type, strike (all worked out by hand from the OSI layout)
    ("AAPL240119C00150000", "AAPL", dt.date(2024, 1, 19), "call", Decimal("150")),
    ("F260116P00012500", "F", dt.date(2026, 1, 16), "put", Decimal("12.5")),
    ("F     260116P00012500", "F", dt.date(2026, 1, 16), "put", Decimal("12.5")),
    ("SPXW250103C05900000", "SPXW", dt.date(2025, 1, 3), "call", Decimal("5900")),
    ("BRKB250620P00412500", "BRKB", dt.date(2025, 6, 20), "put", Decimal("412.5")),
    ("GOOGL241220C00000500", "GOOGL", dt.date(2024, 12, 20), "call", Decimal("0.5")),
    ("AAPL1240119C00150000", "AAPL1", dt.date(2024, 1, 19), "call", Decimal("150")),
    # the OSI root is 1 to 6 letters or digits, in any order (an adjusted contract's root)
    ("1AAP240119C00150000", "1AAP", dt.date(2024, 1, 19), "call", Decimal("150")),
    ("2B     240119C00150000", "2B", dt.date(2024, 1, 19), "call", Decimal("150")),
    (" aapl240119c00150000 ", "AAPL", dt.date(2024, 1, 19), "call", Decimal("150")),
]

MALFORMED = [
    # symbol, words the message must contain (which part is wrong)
    ("", "empty"),
    ("AAPL", "without a strike"),
    ("AAPL240119X00150000", "option type must be C or P, found 'X'"),
    ("AAPL24011C00150000", "expiry must be 6 digits YYMMDD"),
    ("AAPLXYZ240119C00150000", "root must be 1 to 6 characters, found 'AAPLXYZ' (7)"),
    ("240119C00150000", "root is missing"),
    ("AAPL240119C0015000", "strike must be 8 digits"),
    ("AAPL240119C001500000", "strike must be 8 digits"),
    ("AAPL240231C00150000", "expiry '240231' is not a calendar date"),
    ("AAPL241301C00150000", "expiry '241301' is not a calendar date"),
    ("AAPL240119C00000000", "strike must be greater than 0"),
    ("BRK.B240119C00150000", "letters A-Z and digits 0-9, found 'BRK.B'"),
    ("BRK/B240119C00150000", "letters A-Z and digits 0-9, found 'BRK/B'"),
    ("12345", "no root and no C/P"),
]


@pytest.mark.parametrize(("symbol", "underlying", "expiry", "kind", "strike"), WELL_FORMED)
def test_occ_symbol_is_split_into_its_parts(
    conn: psycopg.Connection,
    symbol: str,
    underlying: str,
    expiry: dt.date,
    kind: str,
    strike: Decimal,
) -> None:
    contract = occ.parse(conn, symbol)
    assert contract.underlying == underlying
    assert contract.expiry_date == expiry
    assert contract.option_type == kind
    assert contract.strike == strike
    assert contract.multiplier == 100
    assert " " not in contract.symbol and contract.symbol == contract.symbol.upper()
    assert occ.diagnose(conn, symbol) is None


def test_one_letter_underlying(conn: psycopg.Connection) -> None:
    contract = occ.parse(conn, "F260116P00012500")
    assert (contract.underlying, contract.strike, contract.option_type) == (
        "F",
        Decimal("12.500"),
        "put",
    )


@pytest.mark.parametrize(("symbol", "words"), MALFORMED)
def test_malformed_occ_symbol_names_the_wrong_part(
    conn: psycopg.Connection, symbol: str, words: str
) -> None:
    with pytest.raises(occ.OccError) as info:
        occ.parse(conn, symbol)
    assert words in str(info.value)
    # the import refuses it with the same words, and market.parse_occ raises
    assert words in occ.diagnose(conn, symbol)
    with pytest.raises(psycopg.errors.InvalidParameterValue), conn.transaction():
        conn.execute("select * from market.parse_occ(%s)", [symbol])


def test_intrinsic_value_at_expiry(conn: psycopg.Connection) -> None:
    call = occ.parse(conn, "AAPL240119C00150000")
    put = occ.parse(conn, "F260116P00012500")
    assert call.intrinsic_value(Decimal("162.30")) == Decimal("12.30")  # in the money
    assert call.intrinsic_value(Decimal("149.99")) == 0  # expires worthless
    assert put.intrinsic_value(Decimal("10.25")) == Decimal("2.25")
    assert put.intrinsic_value(Decimal("13")) == 0


def test_the_ingester_finds_the_underlying_of_a_root_with_digits(conn: psycopg.Connection) -> None:
    # one rule: the price ingester's "which symbols matter" uses market.occ_match too
    conn.execute("insert into core.users (email) values ('o@example.com')")
    conn.execute("insert into core.portfolios (user_id, name) select user_id, 'p' from core.users")
    conn.execute(
        "insert into market.symbols (symbol, kind) values ('AAPL1240119C00150000', 'option')"
    )
    conn.execute(
        "insert into core.positions (portfolio_id, symbol, investment_class, quantity,"
        " entry_date, entry_price) select portfolio_id, 'AAPL1240119C00150000', 'OPTIONS', 1,"
        " '2023-11-01', 4 from core.portfolios"
    )
    rows = conn.execute(
        "select symbol, needed_from from ops.symbols_needed() where reason = 'underlying'"
    ).fetchall()
    assert rows == [("AAPL1", dt.date(2023, 11, 1))]


def test_option_contract_rules_are_enforced_by_the_database(conn: psycopg.Connection) -> None:
    conn.execute("insert into market.symbols (symbol, kind) values ('X', 'unknown')")
    conn.execute("insert into market.symbols (symbol, kind) values ('X250117C00000000', 'option')")
    with pytest.raises(psycopg.errors.CheckViolation, match="strike_positive"):
        conn.execute(
            "insert into market.option_contracts (symbol, underlying, expiry_date, option_type,"
            " strike) values ('X250117C00000000', 'X', '2025-01-17', 'call', 0)"
        )
    with pytest.raises(psycopg.errors.CheckViolation, match="option_type_known"):
        conn.execute(
            "insert into market.option_contracts (symbol, underlying, expiry_date, option_type,"
            " strike) values ('X250117C00000000', 'X', '2025-01-17', 'C', 1)"
        )
