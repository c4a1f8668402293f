"""Converting into a portfolio's base currency (issue 16, step 3), hand-worked: the rate on the
session, else the last rate before it with its age, else none (no rate is never 1.0); cross
rates through USD; pence-quoted listings as pounds / 100. Computed by a real refresh."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from tests.builders import add_portfolio, add_position, add_prices, refresh

SESSIONS = ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13"]  # 01-09 closed
# 1 EUR in USD: no rate on 2025-01-08
EURUSD = {"2025-01-06": "1.04", "2025-01-07": "1.03", "2025-01-10": "1.025", "2025-01-13": "1.02"}
# 1 GBP in USD, every session
GBPUSD = dict(zip(SESSIONS, ["1.25", "1.24", "1.23", "1.22", "1.21"], strict=True))


def add_rates(conn: psycopg.Connection, base: str, quote: str, rates: dict[str, str]) -> None:
    with conn.cursor() as cur:
        for day, rate in rates.items():
            cur.execute(
                "insert into market.fx_rates (base_currency, quote_currency, rate_date, rate, source)"
                " values (%s, %s, %s, %s, 'csv')",
                [base, quote, day, Decimal(rate)],
            )


def add_fx_market(conn: psycopg.Connection) -> None:
    """The S&P 500 and SPY (USD), VOD.L (a London listing quoted in pence, GBp) and NESN.SW
    (CHF, which has no rate at all) on the five sessions; EURUSD (none on 01-08) and GBPUSD."""
    add_prices(conn, "^GSPC", dict(zip(SESSIONS, [100, 101, 102, 104, 105], strict=True)))
    add_prices(conn, "SPY", dict(zip(SESSIONS, [590, 592, 594, 596, 598], strict=True)))
    add_prices(conn, "VOD.L", dict(zip(SESSIONS, [7000, 7050, 7100, 7080, 7120], strict=True)))
    add_prices(conn, "NESN.SW", dict(zip(SESSIONS, [75, 76, 77, 78, 79], strict=True)))
    conn.execute(
        "update market.symbols set currency = case symbol when 'VOD.L' then 'GBp'"
        " when 'NESN.SW' then 'CHF' else 'USD' end"
        " where symbol in ('VOD.L', 'NESN.SW', 'SPY', '^GSPC')"
    )
    add_rates(conn, "EUR", "USD", EURUSD)
    add_rates(conn, "GBP", "USD", GBPUSD)


@pytest.fixture
def eur_portfolio(conn: psycopg.Connection) -> int:
    """A EUR portfolio holding a USD ETF (from 01-06), a pence-quoted London listing (from
    01-07) and a Swiss share (from 01-06) whose CHF has no rate at all."""
    add_fx_market(conn)
    pid = add_portfolio(conn, "eur")
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [pid])
    add_position(conn, pid, "SPY", 10, "2025-01-06", 590)
    add_position(conn, pid, "VOD.L", 100, "2025-01-07", 7050)
    add_position(conn, pid, "NESN.SW", 5, "2025-01-06", 75)
    run = refresh(conn, "full")
    assert run["status"] == "succeeded", run
    return pid


def conversions(conn: psycopg.Connection, currency: str, base: str = "EUR") -> dict[str, tuple]:
    rows = conn.execute(
        """
        select days.session_date::text, conversions.fx_rate, conversions.fx_rule,
            conversions.stale_sessions
        from analytics.int_fx_conversions_daily as conversions
        inner join market.trading_days as days
            on days.calendar = 'XNYS' and days.session_idx = conversions.session_idx
        where conversions.currency = %s and conversions.base_currency = %s
        order by conversions.session_idx
        """,
        [currency, base],
    ).fetchall()
    return {day: (rate, rule, stale) for day, rate, rule, stale in rows}


def test_usd_converts_into_eur_at_the_inverse_of_eurusd(
    conn: psycopg.Connection, eur_portfolio: int
) -> None:
    usd = conversions(conn, "USD")
    assert list(usd) == SESSIONS
    assert usd["2025-01-06"][0] == pytest.approx(Decimal(1) / Decimal("1.04"), rel=Decimal("1e-15"))
    assert usd["2025-01-06"][1:] == ("session", 0)
    # 10 SPY at 590 USD on 01-06 are 5900 / 1.04 = 5673.08 EUR
    assert float(10 * 590 * usd["2025-01-06"][0]) == pytest.approx(5673.076923, abs=1e-6)


def test_a_missing_rate_uses_the_last_rate_before_it_and_counts_its_age(
    conn: psycopg.Connection, eur_portfolio: int
) -> None:
    usd = conversions(conn, "USD")
    # no EURUSD on 01-08: 01-07's 1.03, one session old
    assert usd["2025-01-08"][0] == pytest.approx(Decimal(1) / Decimal("1.03"), rel=Decimal("1e-15"))
    assert usd["2025-01-08"][1:] == ("last_rate", 1)
    assert usd["2025-01-10"][1:] == ("session", 0)


def test_a_cross_rate_goes_through_usd_and_pence_are_pounds_over_100(
    conn: psycopg.Connection, eur_portfolio: int
) -> None:
    gbp = conversions(conn, "GBP")
    assert list(gbp) == SESSIONS[1:]  # needed from VOD.L's entry on 01-07
    # GBP → EUR = GBPUSD / EURUSD = 1.24 / 1.03 on 01-07
    assert gbp["2025-01-07"][0] == pytest.approx(
        Decimal("1.24") / Decimal("1.03"), rel=Decimal("1e-15")
    )
    assert gbp["2025-01-07"][1:] == ("session", 0)
    # 01-08: GBPUSD of the day, EURUSD of 01-07: the stale leg's age
    assert gbp["2025-01-08"][0] == pytest.approx(
        Decimal("1.23") / Decimal("1.03"), rel=Decimal("1e-15")
    )
    assert gbp["2025-01-08"][1:] == ("last_rate", 1)
    # 100 VOD.L at 7050 GBp = 70.50 GBP each: 7050 GBP = 7050 * 1.24 / 1.03 EUR on 01-07
    value = conn.execute(
        """
        select 100 * prices.close / currencies.units_per_whole * conversions.fx_rate
        from market.prices as prices
        inner join market.symbols as symbols on symbols.symbol = prices.symbol
        inner join analytics.stg_market__currencies as currencies
            on currencies.currency = symbols.currency
        inner join market.trading_days as days
            on days.calendar = 'XNYS' and days.session_date = prices.price_date
        inner join analytics.int_fx_conversions_daily as conversions
            on conversions.currency = currencies.whole_currency
            and conversions.base_currency = 'EUR' and conversions.session_idx = days.session_idx
        where prices.symbol = 'VOD.L' and prices.price_date = '2025-01-07'
        """
    ).fetchone()[0]
    assert float(value) == pytest.approx(7050 * 1.24 / 1.03, abs=1e-9)


def test_a_currency_with_no_rate_at_all_is_flagged_never_one(
    conn: psycopg.Connection, eur_portfolio: int
) -> None:
    chf = conversions(conn, "CHF")
    assert list(chf) == SESSIONS
    assert set(chf.values()) == {(None, "none", None)}


def test_a_usd_portfolio_needs_no_conversion(conn: psycopg.Connection, eur_portfolio: int) -> None:
    usd_pid = add_portfolio(conn, "usd")
    add_position(conn, usd_pid, "SPY", 1, "2025-01-06", 590)
    assert conn.execute("select count(*) from ops.currencies_needed(%s)", [usd_pid]).fetchone() == (
        0,
    )
    assert conn.execute(
        "select count(*) from analytics.int_fx_conversions_daily where base_currency = 'USD'"
    ).fetchone() == (0,)


def snapshot_rows(conn: psycopg.Connection, pid: int) -> dict[str, dict]:
    cur = conn.execute(
        "select session_date::text as day, * from analytics.fct_portfolio_snapshots"
        " where portfolio_id = %s order by session_idx",
        [pid],
    )
    names = [c.name for c in cur.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def test_snapshots_are_in_the_base_currency_and_count_each_rate_rule(
    conn: psycopg.Connection, eur_portfolio: int
) -> None:
    rows = snapshot_rows(conn, eur_portfolio)
    first, second, third = rows["2025-01-06"], rows["2025-01-07"], rows["2025-01-08"]
    assert first["base_currency"] == "EUR"
    # 01-06: 10 SPY at 590 USD / 1.04; the CHF share has no rate: left out and counted
    assert first["market_value"] == pytest.approx(10 * 590 / 1.04, rel=1e-12)
    assert (first["n_fx_session"], first["n_fx_last_rate"], first["n_fx_none"]) == (1, 0, 1)
    assert first["inflow"] == pytest.approx(10 * 590 / 1.04, rel=1e-12)
    assert first["cost_basis"] == pytest.approx(10 * 590 / 1.04, rel=1e-12)
    # 01-07: SPY at 592 / 1.03, and 100 VOD.L at 7050 pence = 70.50 GBP at 1.24 / 1.03
    vod = 100 * 70.50 * 1.24 / 1.03
    assert second["market_value"] == pytest.approx(10 * 592 / 1.03 + vod, rel=1e-12)
    assert second["inflow"] == pytest.approx(vod, rel=1e-12)
    assert (second["n_fx_session"], second["n_fx_none"]) == (2, 1)
    # 01-08: no EURUSD: 01-07's rate, one session old, for both (GBP crosses through USD)
    assert third["market_value"] == pytest.approx(
        10 * 594 / 1.03 + 100 * 71.00 * 1.23 / 1.03, rel=1e-12
    )
    assert (third["n_fx_session"], third["n_fx_last_rate"], third["max_fx_stale_sessions"]) == (
        0,
        2,
        1,
    )
    assert rows["2025-01-10"]["n_fx_last_rate"] == 0
    # the S&P 500 (USD) measured in EUR, its local return beside it
    assert second["benchmark_cum_return"] == pytest.approx(
        (101 / 1.03) / (100 / 1.04) - 1, rel=1e-12
    )
    assert second["benchmark_cum_return_local"] == pytest.approx(101 / 100 - 1, rel=1e-12)
    assert second["benchmark_close"] == pytest.approx(101 / 1.03, rel=1e-12)


def test_a_usd_etf_in_a_eur_portfolio_returns_the_price_and_the_currency_move(
    conn: psycopg.Connection, eur_portfolio: int
) -> None:
    pid = add_portfolio(conn, "spy only")
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [pid])
    add_position(conn, pid, "SPY", 10, "2025-01-06", 590)
    assert refresh(conn, "full")["status"] == "succeeded"
    rows = snapshot_rows(conn, pid)
    local = 592 / 590 - 1  # the ETF in USD
    currency = (1 / 1.03) / (1 / 1.04) - 1  # the dollar against the euro: 1.04 / 1.03 - 1
    assert rows["2025-01-07"]["daily_return"] == pytest.approx(
        (1 + local) * (1 + currency) - 1, rel=1e-12
    )
    # 01-08 at the last EURUSD (1.03): only the price moved
    assert rows["2025-01-08"]["daily_return"] == pytest.approx(594 / 592 - 1, rel=1e-12)


def test_holdings_show_the_local_value_and_the_rate_and_the_dashboard_its_currency(
    conn: psycopg.Connection, eur_portfolio: int
) -> None:
    cur = conn.execute(
        "select symbol, market_value, local_market_value, trading_currency, fx_rate, fx_rule,"
        " cost_basis from app.holdings where portfolio_id = %s order by symbol",
        [eur_portfolio],
    )
    holdings = {row[0]: row[1:] for row in cur.fetchall()}
    # as of 01-13: EURUSD 1.02, GBPUSD 1.21
    spy = holdings["SPY"]
    assert spy[0] == pytest.approx(10 * 598 / 1.02, rel=1e-12)
    assert spy[1:3] == (10 * 598, "USD") and spy[4] == "session"
    assert spy[3] == pytest.approx(1 / 1.02, rel=1e-12)
    assert spy[5] == pytest.approx(10 * 590 / 1.04, rel=1e-12)  # cost at the entry's rate
    vod = holdings["VOD.L"]
    assert vod[0] == pytest.approx(100 * 71.20 * 1.21 / 1.02, rel=1e-12)
    assert vod[1:3] == (100 * 7120, "GBp")  # as quoted: pence
    assert vod[3] == pytest.approx(1.21 / 1.02, rel=1e-12)  # per pound
    # no CHF rate: no value, flagged, left out of the portfolio's value
    assert holdings["NESN.SW"][0] is None and holdings["NESN.SW"][4] == "none"
    dashboard = conn.execute(
        "select base_currency, market_value, n_fx_session, n_fx_last_rate, n_fx_none"
        " from app.portfolio_dashboard where portfolio_id = %s",
        [eur_portfolio],
    ).fetchone()
    assert dashboard[0] == "EUR"
    assert dashboard[1] == pytest.approx(spy[0] + vod[0], rel=1e-12)
    assert dashboard[2:] == (2, 0, 1)
