"""Scenario h's check of a large ledger (bench/ledger_bench.expected_end) on a hand-worked ledger:
no database, milliseconds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bench import ledger_bench


def test_expected_end_sums_cash_with_dividends_split_and_implicit_deposits() -> None:
    d = dt.date
    market = ledger_bench.Market(
        sessions=[],
        symbols=["H00", "H01"],
        split=("H00", d(2024, 1, 10), Decimal(4)),
        dividends=[("H01", d(2024, 1, 5), Decimal("0.4")), ("H01", d(2024, 3, 1), Decimal("0.4"))],
    )
    rows = [
        {"activity_date": "2024-01-02", "activity_type": "DEPOSIT", "amount": "1000"},
        {
            "activity_date": "2024-01-02",
            "activity_type": "BUY",
            "symbol": "H01",
            "quantity": "10",
            "unit_price": "100",
            "fee": "1",
        },
        {
            "activity_date": "2024-01-03",
            "activity_type": "BUY",
            "symbol": "H00",
            "quantity": "5",
            "unit_price": "20",
        },
        # on the ex-date: not paid on these 2
        {
            "activity_date": "2024-01-05",
            "activity_type": "BUY",
            "symbol": "H01",
            "quantity": "2",
            "unit_price": "100",
        },
        # after the 4:1 split: 20 held
        {
            "activity_date": "2024-01-10",
            "activity_type": "SELL",
            "symbol": "H00",
            "quantity": "8",
            "unit_price": "6",
        },
        # 15 days after the 01-05 ex-date: that payment, recorded (the market's is not paid)
        {
            "activity_date": "2024-01-20",
            "activity_type": "DIVIDEND",
            "symbol": "H01",
            "amount": "3.5",
        },
        {"activity_date": "2024-03-05", "activity_type": "FEE", "amount": "2"},
        # 50 days after the 03-01 ex-date: not that payment (the market's 12 x 0.4 is paid)
        {
            "activity_date": "2024-04-20",
            "activity_type": "DIVIDEND",
            "symbol": "H01",
            "amount": "3.5",
        },
    ]
    cash, units = ledger_bench.expected_end(rows, market)
    # cumulative cash by day: -1, -101, -301, -253, -249.5, (03-01: +4.8) -244.7, -246.7, -243.2;
    # the lowest, -301, is deposited implicitly: -243.2 + 301
    assert cash == Decimal("57.8")
    assert units == {"H01": Decimal(12), "H00": Decimal(12)}  # H00: 5 x 4 - 8
