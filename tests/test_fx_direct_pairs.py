"""A pair stored without USD (EURGBP) converts between its two currencies when its rate is no
older than the cross rate through USD (issue 16; docs/semantics.md, "Currencies"),
hand-worked: stored either way round, the session's rate or its last one, a fresher cross
rate winning over a stale direct one, and a new direct rate queuing the portfolios that need
either currency. Computed by a real refresh."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from tests.builders import add_portfolio, add_position, add_prices, refresh, snapshots
from tests.test_fx_conversion import SESSIONS, add_fx_market, add_rates, conversions

# 1 EUR in GBP: none on 01-06 (before its first) and on 01-13 (01-10's, one session old)
EURGBP = {"2025-01-07": "0.84", "2025-01-08": "0.835", "2025-01-10": "0.83"}


@pytest.fixture
def portfolios(conn: psycopg.Connection) -> tuple[int, int]:
    """A EUR portfolio holding a pence-quoted London listing and a GBP one holding a EUR
    listing, both from 01-06; EURUSD (none on 01-08), GBPUSD and EURGBP stored."""
    add_fx_market(conn)  # VOD.L in pence, EURUSD (none on 01-08) and GBPUSD
    add_prices(conn, "SAP.DE", dict(zip(SESSIONS, [200, 202, 204, 203, 205], strict=True)))
    conn.execute("update market.symbols set currency = 'EUR' where symbol = 'SAP.DE'")
    eur = add_portfolio(conn, "eur")
    gbp = add_portfolio(conn, "gbp")
    for pid, base in ((eur, "EUR"), (gbp, "GBP")):
        conn.execute(
            "update core.portfolios set base_currency = %s where portfolio_id = %s", [base, pid]
        )
    add_position(conn, eur, "VOD.L", 100, "2025-01-06", 7000)
    add_position(conn, gbp, "SAP.DE", 10, "2025-01-06", 200)
    add_rates(conn, "EUR", "GBP", EURGBP)
    assert refresh(conn, "full")["status"] == "succeeded"
    return eur, gbp


def close_to(value: Decimal, expected: Decimal) -> bool:
    return abs(value - expected) <= abs(expected) * Decimal("1e-15")


def test_gbp_into_eur_takes_the_inverted_direct_rate_unless_the_cross_is_fresher(
    conn: psycopg.Connection, portfolios: tuple[int, int]
) -> None:
    gbp = conversions(conn, "GBP", "EUR")
    assert list(gbp) == SESSIONS
    # 01-06: no EURGBP yet: the cross through USD, GBPUSD / EURUSD
    assert close_to(gbp["2025-01-06"][0], Decimal("1.25") / Decimal("1.04"))
    assert gbp["2025-01-06"][1:] == ("session", 0)
    # 01-07: both of the day: the direct pair, 1 / EURGBP
    assert close_to(gbp["2025-01-07"][0], 1 / Decimal("0.84"))
    assert gbp["2025-01-07"][1:] == ("session", 0)
    # 01-08: no EURUSD (the cross is a day old), EURGBP of the day
    assert close_to(gbp["2025-01-08"][0], 1 / Decimal("0.835"))
    assert gbp["2025-01-08"][1:] == ("session", 0)
    # 01-13: EURGBP is 01-10's, the cross of the day: the fresher cross
    assert close_to(gbp["2025-01-13"][0], Decimal("1.21") / Decimal("1.02"))
    assert gbp["2025-01-13"][1:] == ("session", 0)


def test_eur_into_gbp_takes_the_pair_as_stored_and_values_the_holding(
    conn: psycopg.Connection, portfolios: tuple[int, int]
) -> None:
    eur_pid, gbp_pid = portfolios
    eur = conversions(conn, "EUR", "GBP")
    assert close_to(eur["2025-01-08"][0], Decimal("0.835"))
    assert eur["2025-01-08"][1:] == ("session", 0)
    rows = snapshots(conn, gbp_pid)
    # 10 SAP.DE at 204 EUR x 0.835 GBP per EUR on 01-08
    assert rows["2025-01-08"]["market_value"] == pytest.approx(10 * 204 * 0.835, rel=1e-12)
    assert rows["2025-01-08"]["n_fx_session"] == 1
    # the EUR portfolio: 100 VOD.L at 7100 pence = 71.00 GBP each, / 0.835
    eur_rows = snapshots(conn, eur_pid)
    assert eur_rows["2025-01-08"]["market_value"] == pytest.approx(100 * 71.00 / 0.835, rel=1e-12)


def test_a_new_direct_rate_queues_the_portfolios_needing_either_currency(
    conn: psycopg.Connection, portfolios: tuple[int, int]
) -> None:
    eur_pid, gbp_pid = portfolios
    conn.execute("delete from ops.dirty_portfolios")
    usd_pid = add_portfolio(conn, "usd")
    add_position(conn, usd_pid, "^GSPC", 1, "2025-01-06", 100)
    assert refresh(conn, "incremental")["status"] == "succeeded"
    add_rates(conn, "EUR", "GBP", {"2025-01-13": "0.828"})
    queued = {
        pid for (pid,) in conn.execute("select distinct portfolio_id from ops.dirty_portfolios")
    }
    assert queued == {eur_pid, gbp_pid}  # not the USD portfolio
    assert refresh(conn, "incremental")["status"] == "succeeded"
    gbp = conversions(conn, "GBP", "EUR")
    assert close_to(gbp["2025-01-13"][0], 1 / Decimal("0.828"))
    assert snapshots(conn, eur_pid)["2025-01-13"]["market_value"] == pytest.approx(
        100 * 71.20 / 0.828, rel=1e-12
    )
