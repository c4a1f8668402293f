"""OCC option symbols: the Python parser, and the SQL twin (market.occ_error / parse_occ)."""

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
    ("1AAP240119C00150000", "starting with a letter"),
    ("BRK.B240119C00150000", "letters and digits"),
    ("12345", "no root and no C/P"),
]


@pytest.mark.parametrize(("symbol", "underlying", "expiry", "kind", "strike"), WELL_FORMED)
def test_occ_symbol_is_split_into_its_parts(
    symbol: str, underlying: str, expiry: dt.date, kind: str, strike: Decimal
) -> None:
    contract = occ.parse(symbol)
    assert contract.underlying == underlying
    assert contract.expiry_date == expiry
    assert contract.option_type == kind
    assert contract.strike == strike
    assert contract.multiplier == 100
    assert " " not in contract.symbol and contract.symbol == contract.symbol.upper()


def test_one_letter_underlying() -> None:
    contract = occ.parse("F260116P00012500")
    assert (contract.underlying, contract.strike, contract.option_type) == (
        "F",
        Decimal("12.500"),
        "put",
    )


@pytest.mark.parametrize(("symbol", "words"), MALFORMED)
def test_malformed_occ_symbol_names_the_wrong_part(symbol: str, words: str) -> None:
    with pytest.raises(occ.OccError) as info:
        occ.parse(symbol)
    assert words in str(info.value)


def test_intrinsic_value_at_expiry() -> None:
    call = occ.parse("AAPL240119C00150000")
    put = occ.parse("F260116P00012500")
    assert call.intrinsic_value(Decimal("162.30")) == Decimal("12.30")  # in the money
    assert call.intrinsic_value(Decimal("149.99")) == 0  # expires worthless
    assert put.intrinsic_value(Decimal("10.25")) == Decimal("2.25")
    assert put.intrinsic_value(Decimal("13")) == 0


@pytest.mark.parametrize("symbol", [m[0] for m in MALFORMED] + [w[0] for w in WELL_FORMED])
def test_sql_parser_agrees_with_python(conn: psycopg.Connection, symbol: str) -> None:
    sql_problem = conn.execute("select market.occ_error(%s)", [symbol]).fetchone()[0]
    assert sql_problem == occ.diagnose(symbol)
    if sql_problem is None:
        row = conn.execute(
            "select symbol, underlying, expiry_date, option_type, strike, multiplier"
            " from market.parse_occ(%s)",
            [symbol],
        ).fetchone()
        c = occ.parse(symbol)
        assert row == (c.symbol, c.underlying, c.expiry_date, c.option_type, c.strike, 100)
    else:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("select * from market.parse_occ(%s)", [symbol])


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
