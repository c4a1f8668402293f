"""Multi-currency ledgers in SQL agree with the independent oracle (issue 16's must-show):
bench/baselines/ledger_impl.py, extended with the conversion rules of docs/semantics.md
("Currencies") and written from them, not from the SQL, on 200 generated multi-currency
ledgers (bench/ledger_datagen.py, ``currencies=True``: bases USD, EUR and one GBP; about 20 %
of the buys in EUR, pence-quoted GBp, JPY or, for one ledger in twenty, CHF, which has no
rate at all; EURUSD, GBPUSD and USDJPY with missing sessions, USDJPY from a sixth of the
way in; half the foreign trades stating their rate; about half the ledgers keeping cash in
another currency without a rate, CHF among them, and dividends restated in the security's
currency without one; about half the other foreign trades paid from cash in the security's
own currency, without a rate), after a full refresh and after
incremental ones: edited activities, new prices (two new sessions and a corrected close) and
an FX rate correction, which queues every portfolio that needs the corrected currency, and
only those, from the corrected date. The incremental results then equal a full rebuild.

Compared, with the tolerance of tests/test_ledger_agreement.py (money to a relative 1e-9,
absolute 1e-6 near zero; returns to an absolute 1e-9; counts, rules and currencies exact):
every snapshot column, every holding, every cash balance per currency (app.cash_balances)
and every period figure (the returns' parts, price,
currency, income and costs, among them: each day's and each period's, the latter summed the
long way by the oracle). The largest differences seen
are printed (``pytest -s``).
"""

from __future__ import annotations

import time

import pandas as pd
import psycopg

from bench import ledger_datagen
from bench.ledger_datagen import FOREIGN
from tests.builders import refresh
from tests.test_ledger_agreement import _assert_agree, _compare

SNAPSHOT_KEYS = ["portfolio_id", "session_date"]


def _lap(timings: dict, name: str, started: list[float]) -> None:
    now = time.monotonic()
    timings[name] = round(timings.get(name, 0) + now - started[0], 1)
    started[0] = now


def _queued(conn: psycopg.Connection) -> dict[int, object]:
    return {
        pid: from_date
        for pid, from_date in conn.execute(
            "select portfolio_id, min(from_date) from ops.dirty_portfolios group by portfolio_id"
        )
    }


def _needing(conn: psycopg.Connection, ids: list[int], currency: str) -> dict[int, object]:
    """The portfolios whose values need ``currency``: based in it, trading a symbol quoted in
    it, or keeping cash in it (an activity in it, or in its pence, without fx_rate); each from
    its first activity (the benchmark is measured from there) when based in it, else from its
    first trade or cash activity in it. Worked out from the generator's symbols and the
    activities' currencies, not from ops.currencies_needed."""
    quoted_in = [s for s, c in FOREIGN.items() if {"GBp": "GBP"}.get(c, c) == currency]
    units = [currency, "GBp"] if currency == "GBP" else [currency]  # the currency and its pence
    needs: dict[int, object] = {}
    for pid, base, first, first_trade in conn.execute(
        "select portfolios.portfolio_id, portfolios.base_currency, min(activities.activity_date),"
        " min(activities.activity_date) filter (where activities.symbol = any(%s)"
        " or (activities.fx_rate is null and activities.currency = any(%s)))"
        " from core.portfolios as portfolios"
        " inner join core.activities as activities using (portfolio_id)"
        " where portfolios.portfolio_id = any(%s)"
        " group by portfolios.portfolio_id, portfolios.base_currency",
        [quoted_in, units, ids],
    ):
        if base == currency:
            needs[pid] = first
        elif first_trade is not None:
            needs[pid] = first_trade
    return needs


def _snapshots(conn: psycopg.Connection, ids: list[int]) -> tuple[pd.DataFrame, ...]:
    out = []
    for table in ["fct_portfolio_snapshots", "fct_portfolio_holdings", "fct_chart_caches"]:
        cur = conn.execute(f"select * from analytics.{table} where portfolio_id = any(%s)", [ids])
        frame = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
        out.append(frame.drop(columns=["computed_by_run"], errors="ignore"))
    return tuple(out)


def test_multi_currency_ledgers_agree_with_the_fx_oracle_after_full_and_incremental_refreshes(
    db_url, conn
) -> None:
    started = time.monotonic()
    timings: dict = {}
    lap = [started]
    generated = ledger_datagen.generate_ledgers(
        db_url, portfolios=200, years=1, seed=16, currencies=True, hold_back=2
    )
    ids, sessions = generated["portfolio_ids"], generated["sessions"]
    _lap(timings, "generate", lap)
    assert set(generated["base_currencies"].values()) == {"USD", "EUR", "GBP"}
    conn.execute("update ops.settings set value = '60' where key = 'refresh_chunk_portfolios'")
    assert refresh(conn, "full")["status"] == "succeeded"
    _lap(timings, "full refresh", lap)
    report = {"full": _assert_agree(db_url, conn, ids)}
    _lap(timings, "oracle", lap)

    # what the ledgers exercise: each rule, in each base, and foreign-quoted holdings
    seen = report["full"]["expected"]
    totals = seen[["n_fx_session", "n_fx_last_rate", "n_fx_activity", "n_fx_none"]].sum()
    assert (totals > 0).all(), totals
    assert seen["max_fx_stale_sessions"].max() >= 3  # EURUSD's three sessions in a row
    assert seen.groupby("base_currency")["n_fx_session"].sum().gt(0).all()
    # the parts of the returns (compared above, day by day and per period): each is exercised
    moved = seen[["currency_return", "income_return", "cost_return"]].abs().gt(1e-9).sum()
    assert (moved > 100).all(), moved
    assert seen.loc[seen["base_currency"] == "USD", "currency_return"].abs().gt(1e-9).any()
    abroad, quoted_in = conn.execute(
        "select avg((trading_currency <> 'USD')::int), count(distinct trading_currency)"
        " from analytics.fct_portfolio_holdings where portfolio_id = any(%s)",
        [ids],
    ).fetchone()
    assert 0.1 < abroad < 0.35, abroad  # about 20 % of holdings quoted in another currency
    assert quoted_in == 5  # USD, EUR, GBp (pence), JPY, CHF
    # the market's dividends paid on lots quoted in another currency than the ledger's base
    # (USD payers in EUR and GBP ledgers; F00 in EUR and F02 in pence), per base
    foreign_paid = dict(
        conn.execute(
            """
            select portfolios.base_currency, count(*)
            from analytics.int_lots_matched as lots
            inner join core.portfolios as portfolios on portfolios.portfolio_id = lots.portfolio_id
            inner join market.symbols as symbols on symbols.symbol = lots.symbol
            inner join market.dividends as dividends on dividends.symbol = lots.symbol
            inner join market.trading_days as days
                on days.calendar = 'XNYS' and days.session_date = dividends.ex_date
            where
                lots.portfolio_id = any(%s)
                and symbols.currency <> portfolios.base_currency
                and days.session_idx > lots.entry_idx
                and days.session_idx <= coalesce(lots.exit_idx, 2147483647)
            group by portfolios.base_currency
            """,
            [ids],
        ).fetchall()
    )
    assert set(foreign_paid) == {"USD", "EUR", "GBP"} and min(foreign_paid.values()) > 0, (
        foreign_paid
    )
    # activities in another currency than the ledger's base, converted at their own rate:
    # trades in the security's currency and a deposit in a second currency, in every base
    in_other = dict(
        conn.execute(
            "select activities.activity_type::text, count(distinct portfolios.base_currency)"
            " from core.activities as activities"
            " inner join core.portfolios as portfolios using (portfolio_id)"
            " where activities.portfolio_id = any(%s)"
            " and activities.currency <> portfolios.base_currency"
            " group by activities.activity_type",
            [ids],
        ).fetchall()
    )
    assert in_other.get("DEPOSIT") == 3 and in_other.get("BUY", 0) >= 2, in_other
    # cash kept in another currency (no fx_rate), in every base: deposits, interest, fees,
    # withdrawals (some more than held: implicit deposits of that currency) and dividends
    # restated in the security's currency, one currency with no rate at all
    kept = conn.execute(
        """
        select
            count(distinct portfolios.base_currency),
            count(distinct cash.currency),
            count(*) filter (where cash.implicit_deposit > 0),
            count(distinct cash.portfolio_id)
        from analytics.int_cash_daily as cash
        inner join core.portfolios as portfolios using (portfolio_id)
        where cash.portfolio_id = any(%s) and cash.currency <> portfolios.base_currency
        """,
        [ids],
    ).fetchone()
    assert kept[0] == 3 and kept[1] >= 4 and kept[2] >= 5 and kept[3] >= 50, kept
    # trades paid from cash in another currency (the security's, no fx_rate): buys, sells and
    # transfers in every base and every foreign currency; their lots priced in the base at
    # the market's rate of the session, its last rate, or none at all (CHF: unknown cost)
    paid = conn.execute(
        """
        select
            count(distinct activities.activity_type),
            count(distinct activities.currency),
            count(distinct portfolios.base_currency),
            count(*)
        from core.activities as activities
        inner join core.portfolios as portfolios using (portfolio_id)
        where
            activities.portfolio_id = any(%s) and activities.symbol is not null
            and activities.activity_type in ('BUY', 'SELL', 'TRANSFER_IN', 'TRANSFER_OUT')
            and activities.fx_rate is null and activities.currency <> portfolios.base_currency
        """,
        [ids],
    ).fetchone()
    assert paid[0] == 4 and paid[1] >= 4 and paid[2] == 3 and paid[3] >= 100, paid
    unknown_cost, stale_trades = conn.execute(
        """
        select
            (select count(distinct portfolios.cost_method) from analytics.int_lots_matched as lots
             inner join core.portfolios as portfolios using (portfolio_id)
             where lots.portfolio_id = any(%s) and lots.entry_price is null),
            count(*) filter (where conversions.fx_rule = 'last_rate')
        from core.activities as activities
        inner join core.portfolios as portfolios using (portfolio_id)
        inner join market.symbols as symbols using (symbol)
        inner join market.currencies as currencies on currencies.currency = symbols.currency
        inner join market.trading_days as days
            on days.calendar = 'XNYS' and days.session_date = activities.activity_date
        inner join analytics.int_fx_conversions_daily as conversions
            on conversions.currency = coalesce(currencies.unit_of, currencies.currency)
            and conversions.base_currency = portfolios.base_currency
            and conversions.session_idx = days.session_idx
        where
            activities.portfolio_id = any(%s) and activities.fx_rate is null
            and activities.activity_type in ('BUY', 'SELL')
            and activities.currency <> portfolios.base_currency
        """,
        [ids, ids],
    ).fetchone()
    assert unknown_cost == 2 and stale_trades > 0, (unknown_cost, stale_trades)  # FIFO, average
    # app.cash_balances (compared with the oracle's cash per currency above): the base's, the
    # ones converted at the last session's rate, and CHF's, with none
    rules = set(report["full"]["expected_cash"]["fx_rule"])
    assert {"base", "session", "none"} <= rules, rules
    restated = conn.execute(
        "select count(distinct activities.currency) from core.activities as activities"
        " inner join core.portfolios as portfolios using (portfolio_id)"
        " where activities.portfolio_id = any(%s) and activities.activity_type = 'DIVIDEND'"
        " and activities.fx_rate is null and activities.currency <> portfolios.base_currency",
        [ids],
    ).fetchone()[0]
    assert restated == 3, (
        restated
    )  # the USD payers' (in EUR and GBP ledgers), F00's in EUR, F02's in GBP
    # EURGBP, a pair without USD, converts GBP into EUR (and EUR into GBP) on some sessions,
    # the cross through USD on others (before its first rate, or where it is the older)
    direct, crossed = conn.execute(
        """
        select
            count(*) filter (where conversions.fx_rate <> gbp.rate / eur.rate),
            count(*) filter (where conversions.fx_rate = gbp.rate / eur.rate)
        from analytics.int_fx_conversions_daily as conversions
        inner join analytics.int_fx_rates_filled_daily as gbp
            on gbp.currency = 'GBP' and gbp.quote_currency = 'USD'
            and gbp.session_idx = conversions.session_idx
        inner join analytics.int_fx_rates_filled_daily as eur
            on eur.currency = 'EUR' and eur.quote_currency = 'USD'
            and eur.session_idx = conversions.session_idx
        where conversions.currency = 'GBP' and conversions.base_currency = 'EUR'
        """
    ).fetchone()
    assert direct > 50 and crossed > 50, (direct, crossed)

    # 1. edited activities: a EUR ledger's buy of a USD-quoted symbol, a GBP ledger's buy of
    # a foreign one, and the rate a CHF trade states (rule activity where CHF has none)
    mid = sessions[len(sessions) // 2]
    edited = {}
    for change, kind, base in [
        ("quantity = quantity + 5", "symbol like 'L%%'", "EUR"),
        ("quantity = quantity + 5", "symbol in ('F00', 'F01', 'F02', 'F03')", "GBP"),
        ("fx_rate = fx_rate * 1.02", "symbol = 'F04' and fx_rate is not null", None),
    ]:
        pid, activity_id, day = conn.execute(
            "select portfolio_id, activity_id, activity_date from core.activities"
            " inner join core.portfolios using (portfolio_id)"
            f" where activity_type = 'BUY' and {kind} and activity_date > %s"
            " and base_currency = coalesce(%s, base_currency)"
            " order by activity_id limit 1",
            [mid, base],
        ).fetchone()
        conn.execute(f"update core.activities set {change} where activity_id = %s", [activity_id])
        edited[pid] = min(day, edited.get(pid, day))
    assert _queued(conn) == edited

    # 2. new prices: the two held-back sessions (every close and rate), and a corrected close;
    # one incremental refresh for these and the edits, as a night would see them
    conn.commit()
    ledger_datagen.write_held_back(db_url, generated)
    conn.execute(
        "update market.prices set close = close * 1.05 where symbol = 'F02' and price_date = %s",
        [sessions[-30]],
    )
    assert refresh(conn)["status"] == "succeeded"
    _lap(timings, "edits and prices refresh", lap)
    report["edits and new prices"] = _assert_agree(db_url, conn, ids)
    _lap(timings, "oracle", lap)
    assert report["edits and new prices"]["expected"]["session_date"].max() == sessions[-1]

    # 3. FX rate corrections of past sessions: EURUSD (stored as 1 EUR in USD) and USDJPY
    # (1 USD in JPY) queue every portfolio needing that currency, and only those, from then
    assert _queued(conn) == {}
    corrections = {"EUR": sessions[len(sessions) // 3], "JPY": sessions[-20]}
    for currency, day in corrections.items():
        pair = ("USD", currency) if currency == "JPY" else (currency, "USD")
        changed = conn.execute(
            "update market.fx_rates set rate = rate * 1.01 where base_currency = %s"
            " and quote_currency = %s and rate_date = %s",
            [*pair, day],
        ).rowcount
        assert changed == 1, (currency, day)
    expected: dict[int, object] = {}
    for currency, day in corrections.items():
        for pid, needed_from in _needing(conn, ids, currency).items():
            start = max(day, needed_from)
            expected[pid] = min(expected.get(pid, start), start)
    queued = _queued(conn)
    assert queued == expected
    assert 0 < len(queued) < len(ids)
    assert refresh(conn)["status"] == "succeeded"
    _lap(timings, "fx refresh", lap)
    report["fx correction"] = _assert_agree(db_url, conn, ids)
    _lap(timings, "oracle", lap)

    # 4. the incremental results equal a full rebuild
    before = _snapshots(conn, ids)
    assert refresh(conn, "full")["status"] == "succeeded"
    _lap(timings, "full rebuild", lap)
    after = _snapshots(conn, ids)
    worst: dict = {}
    for table, keys, old, new in zip(
        ["snapshots", "holdings", "periods"],
        [SNAPSHOT_KEYS, ["portfolio_id", "symbol"], ["portfolio_id", "period"]],
        before,
        after,
        strict=True,
    ):
        assert len(old) == len(new), table
        assert _compare(new, old, keys, worst) == [], table

    elapsed = time.monotonic() - started
    for step, seen in report.items():
        print(
            f"{step}: {len(ids)} ledgers, {seen['snapshots']} snapshots, {seen['holdings']}"
            f" holdings, {seen['periods']} periods, {seen['cash']} cash balances;"
            f" worst {seen['worst']}"
        )
    print(timings)
    print(f"incremental vs full rebuild: worst {worst}; {elapsed:.1f} s; abroad {abroad:.3f}")
