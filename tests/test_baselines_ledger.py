"""The pandas baseline follows the market's splits and dividends and computes activity
ledgers by docs/semantics.md ("Activities"), and agrees with foliodb on the bench's ledger
datasets (issues 15 and 17).

Hand-worked first: AAA splits 2:1 on 2025-01-08 (its stored closes are as traded: 51 then 26)
and pays 0.25 a share ex 2025-01-10. A FIFO ledger deposits 10,000, buys 100 AAA at 50 (fee 5)
and 50 at 51, holds 300 after the split, receives the dividend on them, sells 250 at 26.5 (fee
2.5) on the ex-date and withdraws 1,000; the same activities under average cost, recording the
dividend itself (63.75 after withholding, so the market's 75 is not paid again); a position of
10 AAA held through the split. Then the bench's generated data with ledgers, dividends and
splits on: pandas equals foliodb on every snapshot (cash, income, costs, realized gain and the
income and cost parts included), chart cache, chart point and leaderboard row after a full
refresh and after a new session; and with them off the generator's rows are main's.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import psycopg
import pytest

from bench import datagen, runner
from bench.baselines import pandas_impl as P
from tests.builders import add_portfolio, add_position, add_prices, refresh
from tests.test_baselines_fx import _assert_pandas_equals_foliodb, _frames

SESSIONS = ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13"]  # 01-09 closed
AAA = [50, 51, 26, 26.5, 27]  # as traded: 2:1 from 01-08


def _activities(conn: psycopg.Connection, portfolio_id: int, rows: list[tuple]) -> None:
    """(date, type, symbol, quantity, unit price, amount, fee) rows into core.activities."""
    with conn.cursor() as cur:
        for n, (day, kind, symbol, qty, price, amount, fee) in enumerate(rows):
            cur.execute(
                "insert into core.activities (portfolio_id, activity_date, activity_type, symbol,"
                " quantity, unit_price, amount, fee, source, external_id)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, 'test', %s)",
                [
                    portfolio_id,
                    day,
                    kind,
                    symbol,
                    *(None if v is None else Decimal(str(v)) for v in (qty, price, amount)),
                    Decimal(str(fee)),
                    f"{portfolio_id}-{n}",
                ],
            )


@pytest.fixture
def hand_worked(conn: psycopg.Connection) -> dict[str, int]:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "AAA", dict(zip(SESSIONS, AAA, strict=True)))
    conn.execute(
        "insert into market.splits (symbol, ex_date, ratio) values ('AAA', '2025-01-08', 2)"
    )
    conn.execute(
        "insert into market.dividends (symbol, ex_date, amount_per_share)"
        " values ('AAA', '2025-01-10', 0.25)"
    )
    trades = [
        ("2025-01-06", "DEPOSIT", None, None, None, 10_000, 0),
        ("2025-01-06", "BUY", "AAA", 100, 50, None, 5),
        ("2025-01-07", "BUY", "AAA", 50, 51, None, 0),
        ("2025-01-10", "SELL", "AAA", 250, 26.5, None, 2.5),
        ("2025-01-13", "WITHDRAWAL", None, None, None, 1_000, 0),
    ]
    fifo = add_portfolio(conn, "fifo", email="fifo@example.com", is_public=True)
    _activities(conn, fifo, trades)
    average = add_portfolio(conn, "average", email="average@example.com", is_public=True)
    conn.execute(
        "update core.portfolios set cost_method = 'average' where portfolio_id = %s", [average]
    )
    _activities(conn, average, [*trades, ("2025-01-13", "DIVIDEND", "AAA", None, None, 63.75, 0)])
    held = add_portfolio(conn, "position", email="position@example.com", is_public=True)
    add_position(conn, held, "AAA", 10, "2025-01-06", 50)
    return {"fifo": fifo, "average": average, "position": held}


def _by_date(snaps: pd.DataFrame, portfolio_id: int) -> pd.DataFrame:
    rows = snaps[snaps["portfolio_id"] == portfolio_id].copy()
    rows.index = pd.to_datetime(rows["session_date"]).dt.strftime("%Y-%m-%d")
    return rows


def _check(rows: pd.DataFrame, column: str, expected: dict[str, float]) -> None:
    for day in SESSIONS:
        assert rows.loc[day, column] == pytest.approx(
            expected.get(day, 0.0), rel=1e-12, abs=1e-9
        ), (
            column,
            day,
        )


def test_pandas_ledger_by_the_rules_hand_worked(db_url: str, hand_worked: dict) -> None:
    snaps = P.compute_snapshots(P.load(db_url))
    assert set(P.LEDGER_SNAPSHOT_COLUMNS) <= set(snaps.columns)

    fifo = _by_date(snaps, hand_worked["fifo"])
    assert list(fifo.index) == SESSIONS
    # cash: 10,000 - 100 x 50 - 5; - 50 x 51; the dividend on the 300 units held at the 01-08
    # close (after the split): + 300 x 0.25; the sell on the ex-date: + 250 x 26.5 - 2.5; - 1,000
    cash = {"2025-01-06": 4_995.0, "2025-01-07": 2_445.0, "2025-01-08": 2_445.0}
    cash |= {"2025-01-10": 2_445 + 75 + 6_625 - 2.5, "2025-01-13": 2_445 + 75 + 6_625 - 2.5 - 1_000}
    units = {"2025-01-06": 100, "2025-01-07": 150, "2025-01-08": 300, "2025-01-10": 50}
    units["2025-01-13"] = 50
    close = dict(zip(SESSIONS, AAA, strict=True))
    value = {day: cash[day] + units[day] * close[day] for day in SESSIONS}
    # FIFO: the 250 sold are the first 200 (100 at 50 = 200 at 25 after the split) and 50 of
    # the second lot (50 at 51 = 100 at 25.5): cost 5,000 + 1,275, realized 6,625 - 6,275
    cost = {"2025-01-06": 5_000.0, "2025-01-07": 7_550.0, "2025-01-08": 7_550.0}
    cost |= {"2025-01-10": 1_275.0, "2025-01-13": 1_275.0}
    _check(fifo, "cash_balance", cash)
    _check(fifo, "market_value", value)
    _check(fifo, "cost_basis", cost)
    _check(fifo, "unrealized_pnl", {d: value[d] - cash[d] - cost[d] for d in SESSIONS})
    _check(fifo, "realized_gain", {"2025-01-10": 350.0})
    _check(fifo, "income", {"2025-01-10": 75.0})
    _check(fifo, "costs", {"2025-01-06": 5.0, "2025-01-10": 2.5})
    _check(fifo, "inflow", {"2025-01-06": 10_000.0})  # the deposit: no implicit one needed
    _check(fifo, "outflow", {"2025-01-13": 1_000.0})
    returns = {
        "2025-01-06": value["2025-01-06"] / 10_000 - 1,
        "2025-01-07": value["2025-01-07"] / value["2025-01-06"] - 1,
        # the split moves nothing: 300 x 26 against 150 x 51
        "2025-01-08": value["2025-01-08"] / value["2025-01-07"] - 1,
        "2025-01-10": value["2025-01-10"] / value["2025-01-08"] - 1,
        # the withdrawal leaves at the end of the day: no loss
        "2025-01-13": (value["2025-01-13"] + 1_000) / value["2025-01-10"] - 1,
    }
    _check(fifo, "daily_return", returns)
    _check(fifo, "income_return", {"2025-01-10": 75 / value["2025-01-08"]})
    _check(
        fifo,
        "cost_return",
        {"2025-01-06": -5 / 10_000, "2025-01-10": -2.5 / value["2025-01-08"]},
    )
    assert fifo["cum_twr"].iloc[-1] == pytest.approx(np.prod([1 + r for r in returns.values()]) - 1)
    assert fifo["positions_held"].tolist() == [1, 1, 1, 1, 1]
    assert fifo["n_close"].tolist() == [1, 1, 1, 1, 1]

    # Average cost: one pool of 150 at 7,550 (300 after the split); the sell takes 250/300
    # of its cost. The ledger records the dividend itself (63.75 on 01-13): the market's 75
    # on 01-10 is not paid.
    average = _by_date(snaps, hand_worked["average"])
    avg_cash = dict(cash)
    avg_cash["2025-01-10"] = 2_445 + 6_625 - 2.5
    avg_cash["2025-01-13"] = avg_cash["2025-01-10"] + 63.75 - 1_000
    avg_cost = {"2025-01-06": 5_000.0, "2025-01-07": 7_550.0, "2025-01-08": 7_550.0}
    avg_cost |= {"2025-01-10": 7_550 * 50 / 300, "2025-01-13": 7_550 * 50 / 300}
    _check(average, "cash_balance", avg_cash)
    _check(average, "market_value", {d: avg_cash[d] + units[d] * close[d] for d in SESSIONS})
    _check(average, "cost_basis", avg_cost)
    _check(average, "realized_gain", {"2025-01-10": 6_625 - 7_550 * 250 / 300})
    _check(average, "income", {"2025-01-13": 63.75})

    # A position held through the split: 20 at 25 after it (cost continuous), the dividend on
    # the 20 into the portfolio's cash, which stays
    held = _by_date(snaps, hand_worked["position"])
    _check(
        held,
        "market_value",
        {
            "2025-01-06": 500.0,
            "2025-01-07": 510.0,
            "2025-01-08": 520.0,
            "2025-01-10": 530.0 + 5,
            "2025-01-13": 540.0 + 5,
        },
    )
    _check(held, "cost_basis", {d: 500.0 for d in SESSIONS})
    _check(held, "cash_balance", {"2025-01-10": 5.0, "2025-01-13": 5.0})
    _check(held, "income", {"2025-01-10": 5.0})
    _check(held, "inflow", {"2025-01-06": 500.0})
    _check(
        held,
        "daily_return",
        {
            "2025-01-07": 510 / 500 - 1,
            "2025-01-08": 520 / 510 - 1,
            "2025-01-10": 535 / 520 - 1,
            "2025-01-13": 545 / 535 - 1,
        },
    )


def test_pandas_equals_foliodb_on_the_hand_worked_ledgers(
    db_url: str, conn: psycopg.Connection, hand_worked: dict
) -> None:
    assert refresh(conn, "full")["status"] == "succeeded"
    _assert_pandas_equals_foliodb(db_url, _frames(db_url))


def _fingerprint(url: str) -> tuple:
    """md5 of the generated positions (with their portfolios and owners), valuations, prices
    and symbols."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select (select md5(string_agg(concat_ws(',', u.email, p.name, p.is_public,"
            " p.cost_method, x.symbol, x.investment_class, x.quantity, x.entry_date,"
            " x.entry_price, x.exit_date,"
            " x.exit_price), ';' order by x.position_id)) from core.positions as x"
            " inner join core.portfolios as p using (portfolio_id)"
            " inner join core.users as u using (user_id)),"
            " (select md5(string_agg(concat_ws(',', valuation_date, value), ';'"
            " order by position_id, valuation_date)) from core.valuations),"
            " (select md5(string_agg(concat_ws(',', symbol, price_date, close, adj_close, volume),"
            " ';' order by symbol, price_date)) from market.prices),"
            " (select md5(string_agg(concat_ws(',', symbol, kind, name, currency), ';'"
            " order by symbol)) from market.symbols)"
        ).fetchone()


# bench/datagen.py's rows for ("tiny", seed 7) before ledgers, dividends and splits existed
# (commit bd43f6d): with them off, the generator must give exactly these.
MAIN_TINY_SEED_7 = (
    "8af0ad697515dc0b8a76107542b5bb60",
    "d48e77ff25bce8222ebae067029c6106",
    "5248ddb60f159824f3f7af4bda213289",
    "0cd0e4cfe3ac0d2abd5a2f2b6e85a2b1",
)


def test_ledger_dataset_agrees_with_foliodb_and_off_is_mains(
    db_url: str, conn: psycopg.Connection, other_db_url: str
) -> None:
    params = dict(runner.LEDGER_DATASET)
    summary = datagen.generate(db_url, "tiny", seed=7, **params)
    assert summary["ledger_portfolios"] == 10 and summary["ledger_average_cost"] > 0
    assert {"BUY", "SELL", "DEPOSIT", "WITHDRAWAL", "INTEREST", "FEE", "DIVIDEND"} <= set(
        summary["activities_by_type"]
    )
    assert sorted(s["ratio"] for s in summary["splits"]) == [0.2, 2.0, 3.0, 4.0]
    assert summary["dividends"] > 0
    # closes as traded: each split symbol's close drops by its ratio on the ex-date
    moves = conn.execute(
        "select s.ratio, (select close from market.prices as p where p.symbol = s.symbol"
        " and p.price_date < s.ex_date order by price_date desc limit 1)"
        " / (select close from market.prices as p where p.symbol = s.symbol"
        " and p.price_date = s.ex_date) from market.splits as s"
    ).fetchall()
    assert all(0.9 < float(move) / float(ratio) < 1.1 for ratio, move in moves)
    # and positions are held through them
    assert (
        conn.execute(
            "select count(*) from core.positions as p inner join market.splits as s using (symbol)"
            " where p.entry_date < s.ex_date and (p.exit_date is null or p.exit_date > s.ex_date)"
        ).fetchone()[0]
        > 0
    )

    with_off = datagen.generate(other_db_url, "tiny", seed=7)
    assert _fingerprint(other_db_url) == MAIN_TINY_SEED_7
    assert "ledger_portfolios" not in with_off and "splits" not in with_off

    assert refresh(conn, "full")["status"] == "succeeded"
    frames = _frames(db_url)
    snaps = frames["snapshots"]
    # the data exercises each rule: realized gains, income, costs, implicit deposits (more
    # inflow than the deposits)
    assert (snaps["realized_gain"] != 0).any() and (snaps["income"] > 0).any()
    assert (snaps["costs"] > 0).any()
    deposits = conn.execute(
        "select coalesce(sum(amount), 0)::float8 from core.activities"
        " where activity_type = 'DEPOSIT'"
    ).fetchone()[0]
    ledgers = conn.execute(
        "select array_agg(distinct portfolio_id) from core.activities"
    ).fetchone()
    assert snaps.loc[snaps["portfolio_id"].isin(ledgers[0]), "inflow"].sum() > deposits
    _assert_pandas_equals_foliodb(db_url, frames)

    # the nightly: a new session's prices, an incremental refresh
    added = datagen.add_session(db_url, seed=0)
    assert refresh(conn)["status"] == "succeeded"
    frames = _frames(db_url)
    assert frames["snapshots"]["session_date"].max() == pd.Timestamp(added["session_date"])
    _assert_pandas_equals_foliodb(db_url, frames)
