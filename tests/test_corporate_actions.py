"""The market's splits and dividends (market.splits, market.dividends) applied to the classic
positions and to ledgers (issue 15), on hand-worked cases: every expected number is worked out
in the comments from the closes, the splits and the dividends, never taken from the code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.baselines import ledger_impl as L
from bench.baselines import pandas_impl as P
from tests.builders import add_portfolio, add_position, add_prices, refresh, snapshots
from tests.test_ledger import SESSIONS, buy, import_activities, sell


@pytest.fixture
def split_market(conn):
    """^GSPC 100..105; BBB as traded: 100, 104, then 4:1 on 01-08 (106 / 4 = 26.5), 27, 26."""
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "BBB", dict(zip(SESSIONS, [100, 104, 26.5, 27, 26], strict=True)))
    conn.execute(
        "insert into market.splits (symbol, ex_date, ratio) values ('BBB', '2025-01-08', 4)"
    )
    return conn


def test_a_position_follows_a_market_split_with_value_continuous(split_market) -> None:
    conn = split_market
    held = add_portfolio(conn, "held")
    add_position(conn, held, "BBB", 10, "2025-01-06", 100)
    sold = add_portfolio(conn, "sold")
    add_position(conn, sold, "BBB", 10, "2025-01-06", 100, "2025-01-10", 27)
    refresh(conn)
    snaps = snapshots(conn, held)
    # 01-06: 10 × 100 in; 01-07: 10 × 104 = 1040
    assert (snaps["2025-01-06"]["market_value"], snaps["2025-01-06"]["inflow"]) == (1000, 1000)
    assert snaps["2025-01-07"]["market_value"] == 1040
    # 01-08: the 10 are 40 at 100 / 4 = 25 each: worth 40 × 26.5 = 1060 (not 10 × 26.5 = 265),
    # cost 40 × 25 = 1000, and the cut is no flow
    s = snaps["2025-01-08"]
    assert (s["market_value"], s["cost_basis"], s["inflow"], s["outflow"]) == (1060, 1000, 0, 0)
    assert s["positions_held"] == 1
    assert s["daily_return"] == pytest.approx(1060 / 1040 - 1, abs=1e-12)
    # 01-13: 40 × 26 = 1040 against the 1000 paid: +4 %
    assert snaps["2025-01-13"]["market_value"] == 1040
    assert snaps["2025-01-13"]["cum_twr"] == pytest.approx(0.04, abs=1e-12)
    holding = conn.execute(
        "select quantity, cost_basis, market_value, day_change from app.holdings"
        " where portfolio_id = %s",
        [held],
    ).fetchone()
    # 40 units, cost 1000, worth 1040; the day: 40 × (26 − 27)
    assert holding == (40, 1000, 1040, -40)
    # the position closed on 01-10 at 27 (the price of the 40 it had become): 40 × 27 = 1080 out
    s = snapshots(conn, sold)["2025-01-10"]
    assert (s["market_value"], s["outflow"]) == (0, 1080)
    assert s["cum_twr"] == pytest.approx(1080 / 1000 - 1, abs=1e-12)


def test_a_position_sold_on_the_ex_date_is_sold_after_the_split(split_market) -> None:
    conn = split_market
    pid = add_portfolio(conn)
    # sold on 01-08 at the as-traded 26.5: the 10 entered were 40 then, 40 × 26.5 = 1060 out
    add_position(conn, pid, "BBB", 10, "2025-01-06", 100, "2025-01-08", 26.5)
    refresh(conn)
    s = snapshots(conn, pid)["2025-01-08"]
    assert (s["market_value"], s["outflow"]) == (0, 1060)
    assert s["daily_return"] == pytest.approx(1060 / 1040 - 1, abs=1e-12)


def test_a_split_on_the_last_session_keeps_the_day_change_of_the_holding(conn) -> None:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    # CCC: 50, 50, 50, 52, then 4:1 on 01-13 at 13 (52 / 4: flat)
    add_prices(conn, "CCC", dict(zip(SESSIONS, [50, 50, 50, 52, 13], strict=True)))
    conn.execute(
        "insert into market.splits (symbol, ex_date, ratio) values ('CCC', '2025-01-13', 4)"
    )
    pid = add_portfolio(conn)
    add_position(conn, pid, "CCC", 5, "2025-01-06", 50)
    refresh(conn)
    holding = conn.execute(
        "select quantity, cost_basis, market_value, day_change from app.holdings"
        " where portfolio_id = %s",
        [pid],
    ).fetchone()
    # 20 units at 12.5 (cost 250), worth 20 × 13 = 260; the day: 260 − 5 × 52 = 0
    assert holding == (20, 250, 260, 0)


def test_a_split_written_later_queues_the_holders_of_the_symbol_from_its_ex_date(
    split_market,
) -> None:
    conn = split_market
    held = add_portfolio(conn, "held")
    add_position(conn, held, "BBB", 10, "2025-01-06", 100)
    gone = add_portfolio(conn, "gone")
    add_position(conn, gone, "BBB", 10, "2025-01-06", 100, "2025-01-07", 104)
    refresh(conn)
    conn.execute(
        "insert into market.splits (symbol, ex_date, ratio) values ('BBB', '2025-01-13', 2)"
    )
    queued = conn.execute(
        "select portfolio_id, from_date::text from ops.dirty_portfolios"
    ).fetchall()
    # the position closed on 01-07 held nothing on 01-13
    assert queued == [(held, "2025-01-13")]


def test_a_split_moved_or_deleted_queues_its_holders_from_the_earlier_ex_date(
    split_market,
) -> None:
    conn = split_market
    held = add_portfolio(conn, "held")
    add_position(conn, held, "BBB", 10, "2025-01-06", 100)
    late = add_portfolio(conn, "late")
    add_position(conn, late, "BBB", 10, "2025-01-09", 26.5)
    refresh(conn)

    def queued() -> list[tuple[int, str]]:
        rows = conn.execute(
            "select portfolio_id, min(from_date)::text from ops.dirty_portfolios"
            " group by portfolio_id order by portfolio_id"
        ).fetchall()
        conn.execute("delete from ops.dirty_portfolios")
        return rows

    # moved from 01-08 to 01-10: whoever held BBB on either date, from the earlier one; "late"
    # (entered 01-09) did not hold it on 01-08 but does on 01-10
    conn.execute("update market.splits set ex_date = '2025-01-10' where symbol = 'BBB'")
    assert queued() == [(held, "2025-01-08"), (late, "2025-01-10")]
    # deleted: its holders on 01-10, from 01-10
    conn.execute("delete from market.splits where symbol = 'BBB'")
    assert queued() == [(held, "2025-01-10"), (late, "2025-01-10")]


def test_a_market_dividend_is_paid_to_the_cash_of_a_position(conn) -> None:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "AAA", dict(zip(SESSIONS, [10, 11, 12, 12, 13], strict=True)))
    conn.execute(
        "insert into market.dividends (symbol, ex_date, amount_per_share)"
        " values ('AAA', '2025-01-10', 0.5)"
    )
    pid = add_portfolio(conn)
    add_position(conn, pid, "AAA", 50, "2025-01-06", 10)
    # entered on the ex-date: not paid
    add_position(conn, pid, "AAA", 10, "2025-01-10", 12)
    refresh(conn)
    snaps = snapshots(conn, pid)
    # 01-10: 50 × 0.5 = 25 of income into cash; 60 × 12 + 25 = 745; the day's return:
    # (745) / (600 + 120 in at the start of the day) − 1 = 25 / 720
    s = snaps["2025-01-10"]
    assert (s["income"], s["cash_balance"], s["market_value"], s["inflow"]) == (25, 25, 745, 120)
    assert s["daily_return"] == pytest.approx(25 / 720, abs=1e-12)
    # 01-13: 60 × 13 + 25 = 805; the cash stays
    s = snaps["2025-01-13"]
    assert (s["market_value"], s["cash_balance"], s["income_to_date"]) == (805, 25, 25)


# DDD: 40, 41, 39.5 (ex-dividend 0.80), 2:1 on 01-10 at 20.5, 20.75 (ex-dividend 0.25 a
# post-split share)
DDD = dict(zip(SESSIONS, [40, 41, 39.5, 20.5, 20.75], strict=True))


def test_buy_and_hold_with_dividends_to_cash_returns_the_hand_computed_total_return(conn) -> None:
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "DDD", DDD)
    conn.execute(
        "insert into market.dividends (symbol, ex_date, amount_per_share)"
        " values ('DDD', '2025-01-08', 0.80), ('DDD', '2025-01-13', 0.25)"
    )
    conn.execute(
        "insert into market.splits (symbol, ex_date, ratio) values ('DDD', '2025-01-10', 2)"
    )
    ledger, _, _ = import_activities(conn, [buy("2025-01-06", 100, 40, "DDD")])
    positions = add_portfolio(conn, "positions")
    add_position(conn, positions, "DDD", 100, "2025-01-06", 40)
    refresh(conn)
    # by hand: 100 bought at 40 = 4000; 100 × 0.80 = 80 paid on 01-08; 200 units after the
    # split; 200 × 0.25 = 50 paid on 01-13; at the end 200 × 20.75 + 80 + 50 = 4280:
    # a total return of 4280 / 4000 − 1 = 7 %
    for pid in (ledger, positions):
        snaps = snapshots(conn, pid)
        s = snaps["2025-01-13"]
        assert (s["market_value"], s["cash_balance"], s["income_to_date"]) == (4280, 130, 130)
        assert s["cum_twr"] == pytest.approx(0.07, abs=1e-12)
        # the days: 4100 / 4000, (3950 + 80) / 4100, (4100 + 80) / 4030, 4280 / 4180
        days = [snaps[day]["daily_return"] for day in SESSIONS[1:]]
        assert days == pytest.approx(
            [4100 / 4000 - 1, 4030 / 4100 - 1, 4180 / 4030 - 1, 4280 / 4180 - 1], abs=1e-12
        )


@pytest.fixture
def split_after_closure(conn):
    """BBB as traded: 100, 104, 106, then 4:1 on 01-10 (the session after the 01-09 closure:
    106 / 4 = 26.5), 27."""
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "BBB", dict(zip(SESSIONS, [100, 104, 106, 26.5, 27], strict=True)))
    conn.execute(
        "insert into market.splits (symbol, ex_date, ratio) values ('BBB', '2025-01-10', 4)"
    )
    return conn


def _by_date(frame, portfolio_id: int) -> dict:
    rows = frame[frame["portfolio_id"] == portfolio_id]
    return {str(pd.Timestamp(r["session_date"]).date()): r for r in rows.to_dict("records")}


def test_a_trade_dated_before_the_ex_date_splits_though_it_counts_on_the_ex_date_session(
    split_after_closure, db_url: str
) -> None:
    # A buy dated 2025-01-09 (the closure: it counts on 01-10, the ex-date's session) was made
    # before the split, at the last close before it: its 10 units become 40 at 106 / 4 = 26.5.
    # A buy dated on the ex-date is in the split's terms already: 4 at 26.5. (Counted on the
    # session after its split, the first buy was a fake -75 % day: 10 units at 26.5.)
    conn = split_after_closure
    pid, _, _ = import_activities(
        conn,
        [
            buy("2025-01-09", 10, 106, "BBB"),
            buy("2025-01-10", 4, 26.5, "BBB"),
            sell("2025-01-13", 20, 27, "BBB"),
        ],
    )
    refresh(conn)
    # 01-10: 44 units × 26.5 = 1166, their cost 1060 + 106, paid by an implicit deposit of 1166;
    # 01-13: 20 sold at 27 from the first lot (26.5 each, FIFO): realized 20 × 0.5 = 10; left
    # 20 + 4 units at 26.5 = 636 cost, worth 24 × 27 = 648, and 540 in cash
    expected = {
        "2025-01-10": {
            "market_value": 1166,
            "cost_basis": 1166,
            "inflow": 1166,
            "cash_balance": 0,
            "daily_return": 0,
        },
        "2025-01-13": {
            "market_value": 1188,
            "cost_basis": 636,
            "cash_balance": 540,
            "realized_gain": 10,
            "daily_return": 1188 / 1166 - 1,
        },
    }
    inputs = L.load(db_url, [pid])
    oracle, _, _ = L.compute(inputs)
    with np.errstate(invalid="ignore", divide="ignore"):
        pandas = P.compute_snapshots(P.load(db_url))
    for name, snaps in (
        ("foliodb", snapshots(conn, pid)),
        ("ledger oracle", _by_date(oracle, pid)),
        ("pandas baseline", _by_date(pandas, pid)),
    ):
        for day, figures in expected.items():
            for column, value in figures.items():
                assert snaps[day][column] == pytest.approx(value, abs=1e-9), (name, day, column)


def test_a_position_entered_or_exited_before_the_ex_date_is_in_the_terms_before_it(
    split_after_closure, db_url: str
) -> None:
    # Entered on the 01-09 closure at 106, a position enters on 01-10 with 10 × 4 = 40 units
    # at 26.5: worth 40 × 26.5 = 1060 (not 10 × 26.5 = 265), 40 × 27 = 1080 on 01-13. Another,
    # entered on 01-06 at 100 and exited on the closure at 106, leaves on 01-10 with 10 × 106 =
    # 1060 (not 40 × 106).
    conn = split_after_closure
    entered = add_portfolio(conn, "entered", email="e@example.com")
    add_position(conn, entered, "BBB", 10, "2025-01-09", 106)
    exited = add_portfolio(conn, "exited", email="x@example.com")
    add_position(conn, exited, "BBB", 10, "2025-01-06", 100, "2025-01-09", 106)
    refresh(conn)
    with np.errstate(invalid="ignore", divide="ignore"):
        pandas = P.compute_snapshots(P.load(db_url))
    for name, of in (
        ("foliodb", lambda pid: snapshots(conn, pid)),
        ("pandas baseline", lambda pid: _by_date(pandas, pid)),
    ):
        s = of(entered)
        assert (s["2025-01-10"]["market_value"], s["2025-01-10"]["cost_basis"]) == (1060, 1060)
        assert s["2025-01-10"]["inflow"] == 1060, name
        assert s["2025-01-13"]["market_value"] == 1080, name
        s = of(exited)
        assert s["2025-01-08"]["market_value"] == 1060, name  # 10 × 106
        assert s["2025-01-10"]["outflow"] == 1060, name
        assert s["2025-01-10"]["market_value"] == 0, name
