"""Currencies and FX rates (issue 16): the reference, trading and base currencies, FX ingest
through the price loader's checks, quarantine and ledger, and the pairs a portfolio needs."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner

from cli.main import cli
from ingest import fx
from ingest.load import LoadError
from tests import ingest_fakes
from tests.builders import add_portfolio, add_position, d

LAST_CLOSED = dt.date(2025, 1, 17)
# XNYS sessions; 2025-01-09 was closed (a national day of mourning), FX still traded
JAN = [dt.date(2025, 1, day) for day in (6, 7, 8, 10, 13)]


def fx_history(dates: list[dt.date], rates: list[float]):
    """What yfinance's Ticker.history(auto_adjust=False) returns for an FX ticker such as
    EURUSD=X: a Europe/London index, Close = Adj Close, Volume 0."""

    def behaviour(start: dt.date, end: dt.date) -> pd.DataFrame:
        keep = [(day, r) for day, r in zip(dates, rates, strict=True) if start <= day < end]
        index = pd.DatetimeIndex([pd.Timestamp(day) for day, _ in keep], name="Date")
        close = np.array([r for _, r in keep], dtype="float64")
        return pd.DataFrame(
            {
                "Open": close,
                "High": close * 1.002,
                "Low": close * 0.998,
                "Close": close,
                "Adj Close": close,
                "Volume": np.zeros(len(close), dtype="int64"),
            },
            index=index.tz_localize("Europe/London"),
        )

    return behaviour


def rates(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select base_currency, quote_currency, rate_date, rate, source from market.fx_rates"
        " order by 1, 2, 3"
    ).fetchall()


def write_csv(tmp_path: Path, text: str, name: str = "fx.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- the reference


def test_pence_are_a_part_of_the_pound_and_iso_codes_are_checked(conn: psycopg.Connection) -> None:
    assert conn.execute(
        "select unit_of, units_per, is_subunit from market.currencies where currency = 'GBp'"
    ).fetchone() == ("GBP", 100, True)
    assert conn.execute(
        "select minor_units from market.currencies where currency = 'JPY'"
    ).fetchone() == (0,)
    conn.execute("insert into market.symbols (symbol, currency) values ('VOD.L', 'GBp')")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("insert into market.symbols (symbol, currency) values ('X1', 'XYZ')")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "insert into market.currencies (currency, name, minor_units) values ('Usd', 'x', 2)"
        )


def test_a_portfolio_is_in_usd_unless_given_a_base_currency(conn: psycopg.Connection) -> None:
    pid = add_portfolio(conn)
    assert conn.execute(
        "select base_currency from core.portfolios where portfolio_id = %s", [pid]
    ).fetchone() == ("USD",)
    conn.execute("delete from ops.dirty_portfolios")
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [pid])
    # a new base currency changes every number of the portfolio: recomputed whole
    assert conn.execute("select portfolio_id, reason from ops.dirty_portfolios").fetchall() == [
        (pid, "portfolio settings changed")
    ]
    # a base currency is a whole currency: totals are never in pence
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "update core.portfolios set base_currency = 'GBp' where portfolio_id = %s", [pid]
        )
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "update core.portfolios set base_currency = 'EUX' where portfolio_id = %s", [pid]
        )


def test_activities_take_any_currency_of_the_reference_and_no_other(
    conn: psycopg.Connection,
) -> None:
    pid = add_portfolio(conn)
    insert = (
        "insert into core.activities (portfolio_id, activity_date, activity_type, amount,"
        " currency, external_id) values (%s, '2025-01-06', 'DEPOSIT', 100, %s, %s)"
    )
    conn.execute(insert, [pid, "EUR", "a"])
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(insert, [pid, "EUX", "b"])


def test_fx_rates_are_between_whole_currencies(conn: psycopg.Connection) -> None:
    insert = (
        "insert into market.fx_rates (base_currency, quote_currency, rate_date, rate, source)"
        " values (%s, %s, '2025-01-06', %s, 'manual')"
    )
    conn.execute(insert, ["EUR", "USD", Decimal("1.03")])
    with pytest.raises(psycopg.errors.ForeignKeyViolation):  # no pair of pence
        conn.execute(insert, ["GBp", "USD", Decimal("0.0125")])
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(insert, ["USD", "USD", Decimal("1")])
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(insert, ["GBP", "USD", Decimal("0")])


def test_an_fx_rate_after_the_injected_today_is_refused(conn: psycopg.Connection) -> None:
    # the clock is an input: pinned to 2025-01-06, a rate of 2025-01-07 lies in the future,
    # whatever the wall clock says
    conn.execute("select set_config('foliodb.now', '2025-01-06 12:00:00+00', false)")
    insert = (
        "insert into market.fx_rates (base_currency, quote_currency, rate_date, rate, source)"
        " values ('EUR', 'USD', %s, 1.03, 'manual')"
    )
    conn.execute(insert, ["2025-01-06"])
    with pytest.raises(psycopg.errors.CheckViolation, match="rate_not_in_future"):
        conn.execute(insert, ["2025-01-07"])


def test_trading_currencies_are_set_from_metadata_and_checked(conn: psycopg.Connection) -> None:
    pid = add_portfolio(conn)
    add_position(conn, pid, "VOD.L", 100, "2025-01-06", 70.5)
    conn.execute("delete from ops.dirty_portfolios")
    # yfinance's Ticker.fast_info['currency'] for a London listing is 'GBp'
    changed = conn.execute(
        "select * from market.set_symbol_currencies(%s::jsonb)", ['{"VOD.L": "GBp", "SPY": "USD"}']
    ).fetchall()
    assert changed == [("VOD.L", "GBp", "USD")]
    assert conn.execute(
        "select portfolio_id, from_date, reason from ops.dirty_portfolios"
    ).fetchall() == [(pid, d("2025-01-06"), "symbol currency changed")]
    with pytest.raises(psycopg.errors.CheckViolation, match="field currency.*'gbp'"):
        conn.execute("select * from market.set_symbol_currencies(%s::jsonb)", ['{"VOD.L": "gbp"}'])


# ---------------------------------------------------------------- the pairs needed


def test_the_pairs_needed_are_each_currency_and_the_base_against_usd(
    conn: psycopg.Connection,
) -> None:
    eur = add_portfolio(conn, "eur")
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [eur])
    conn.execute("update market.symbols set currency = 'USD' where symbol = '^GSPC'")
    add_position(conn, eur, "SPY", 10, "2025-01-06", 590)
    add_position(conn, eur, "VOD.L", 100, "2025-01-08", 70.5)
    conn.execute("update market.symbols set currency = 'GBp' where symbol = 'VOD.L'")
    usd = add_portfolio(conn, "usd")
    add_position(conn, usd, "SPY", 1, "2024-06-03", 530)  # all in USD: needs no rate
    needed = conn.execute(
        "select portfolio_id, base_currency, currency, needed_from from ops.currencies_needed()"
        " order by 1, 3"
    ).fetchall()
    assert needed == [(eur, "EUR", "GBP", d("2025-01-08")), (eur, "EUR", "USD", d("2025-01-06"))]
    pairs = conn.execute("select * from ops.fx_pairs_needed() order by pair").fetchall()
    # GBp is converted through GBP; EUR (the base) and GBP each against USD (cross via USD)
    assert pairs == [
        ("EURUSD=X", "EUR", "USD", d("2025-01-06")),
        ("GBPUSD=X", "GBP", "USD", d("2025-01-08")),
    ]


# ---------------------------------------------------------------- loading


def test_yfinance_pairs_load_through_the_price_checks_into_fx_rates(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a EUR portfolio holding a USD ETF and a Tokyo listing needs EUR and JPY against USD
    pid = add_portfolio(conn)
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [pid])
    add_position(conn, pid, "SPY", 10, "2025-01-06", 590)
    add_position(conn, pid, "7203.T", 100, "2025-01-07", 2900)
    conn.execute("update market.symbols set currency = 'JPY' where symbol = '7203.T'")
    days = [dt.date(2025, 1, 6), dt.date(2025, 1, 7), dt.date(2025, 1, 9), dt.date(2025, 1, 10)]
    download = ingest_fakes.RealDownload(
        monkeypatch,
        {
            "EURUSD=X": fx_history(days, [1.0386, 1.0342, 1.0299, 1.0301]),
            "JPYUSD=X": fx_history(days, [0.006345, 0.006325, 0.006317, 0.006329]),
        },
    )
    summary = fx.ingest_fx(conn=conn, fetch=download, sleep=lambda s: None, rate=None)
    assert summary.status == "succeeded", summary.message
    assert download.calls == [["EURUSD=X", "JPYUSD=X"]]
    stored = rates(conn)
    # 2025-01-09 is no XNYS session: left out (counted), not quarantined
    assert [r[:3] for r in stored if r[0] == "EUR"] == [
        ("EUR", "USD", day) for day in (d("2025-01-06"), d("2025-01-07"), d("2025-01-10"))
    ]
    assert stored[0][3] == Decimal("1.0386") and stored[0][4] == "yfinance"
    assert ("JPY", "USD", d("2025-01-06"), Decimal("0.006345"), "yfinance") in stored
    assert (summary.rows_inserted, summary.rows_off_session, summary.rows_quarantined) == (6, 2, 0)
    run = conn.execute(
        "select kind, status, rows from ops.runs where run_id = %s", [summary.run_id]
    ).fetchone()
    assert run == ("ingest_fx", "succeeded", 6)
    # again: from a few sessions before the last stored rate; nothing new
    again = fx.ingest_fx(conn=conn, fetch=download, sleep=lambda s: None, rate=None)
    assert (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, 6)


def test_yfinance_spells_usd_against_a_currency_with_its_code_alone(
    conn: psycopg.Connection,
) -> None:
    frame = pd.DataFrame({"symbol": ["JPY=X"], "price_date": [JAN[0]], "close": [157.6]})
    res = fx.load_fx_rows(conn, frame, "yfinance", last_closed=LAST_CLOSED)
    assert res.inserted == 1
    assert rates(conn) == [("USD", "JPY", JAN[0], Decimal("157.6"), "yfinance")]


def test_bad_provider_rates_are_quarantined_with_the_price_reasons(
    conn: psycopg.Connection,
) -> None:
    frame = pd.DataFrame(
        {
            "symbol": ["EURUSD=X", "EURUSD=X", "EURXYZ=X"],
            "price_date": [JAN[0], JAN[1], JAN[0]],
            "close": [1.04, -1.0, 2.0],
        }
    )
    res = fx.load_fx_rows(conn, frame, "yfinance", last_closed=LAST_CLOSED)
    assert (res.inserted, res.quarantined) == (1, 2)
    reasons = conn.execute(
        "select symbol, reason from market.quarantine order by symbol"
    ).fetchall()
    assert reasons[0] == ("EURUSD=X", "close: expected a positive number, got -1")
    assert reasons[1][0] == "EURXYZ=X" and "market.currencies" in reasons[1][1]


def test_an_fx_file_with_each_kind_of_bad_row_is_refused_by_line_and_field(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "pair,date,rate\n"
        "EURUSD=X,2025-01-06,1.0386\n"  # 2: fine
        "EUR-USD,2025-01-07,1.03\n"  # 3: not a pair
        "EURUSD,2025-13-01,1.03\n"  # 4: not a date
        "EUR/USD,2025-01-08,abc\n"  # 5: not a number
        "EURUSD,2025-01-09,1.03\n"  # 6: no session
        "EURUSD,2025-01-10,-1.03\n"  # 7: not positive
        "EURXYZ,2025-01-10,1.03\n"  # 8: unknown currency
        "EURUSD,2025-01-06,1.04\n"  # 9: given twice (line 2)
        "GBpUSD,2025-01-06,0.0125\n"  # 10: pence have no pair
        "EURUSD,2025-01-21,1.02\n",  # 11: after the last closed session
    )
    with pytest.raises(LoadError) as raised, fx.FxCsv(path) as rows:
        fx.load_fx_rows(conn, rows, "csv", last_closed=LAST_CLOSED, strict=True, origin=str(path))
    found = {(e.line, e.field) for e in raised.value.errors}
    assert found == {
        (2, "pair,date"),
        (3, "pair"),
        (4, "date"),
        (5, "rate"),
        (6, "date"),
        (7, "rate"),
        (8, "pair"),
        (9, "pair,date"),
        (10, "pair"),
        (11, "date"),
    }
    message = str(raised.value)
    assert f"{path} line 6, field date: expected a XNYS trading day" in message
    assert f"{path} line 7, field rate: expected a positive number, got -1.03" in message
    assert rates(conn) == [] and conn.execute(
        "select count(*) from market.quarantine"
    ).fetchone() == (0,)


def test_an_fx_file_with_a_bad_header_names_it(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "symbol,date,close\nEURUSD=X,2025-01-06,1.03\n")
    with (
        pytest.raises(LoadError, match=r"line 1, field header: expected columns pair,date,rate"),
        fx.FxCsv(path),
    ):
        pass


def test_a_csv_run_loads_good_files_and_names_the_refused_one(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    good = write_csv(tmp_path, "date,pair,rate\n2025-01-06,GBPUSD,1.2345\n", "good.csv")
    bad = write_csv(tmp_path, "pair,date,rate\nGBPUSD,2025-01-07,x\n", "bad.csv")
    summary = fx.ingest_fx(conn=conn, source="csv", paths=[good, bad])
    assert summary.status == "partial"
    assert rates(conn) == [("GBP", "USD", d("2025-01-06"), Decimal("1.2345"), "csv")]
    assert "bad.csv line 2, field rate" in summary.failures[str(bad)]


def test_a_corrected_rate_queues_every_portfolio_converting_it_from_its_date(
    conn: psycopg.Connection,
) -> None:
    eur = add_portfolio(conn, "eur")
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [eur])
    add_position(conn, eur, "SPY", 10, "2025-01-06", 590)
    usd = add_portfolio(conn, "usd")
    add_position(conn, usd, "SPY", 10, "2025-01-06", 590)
    frame = pd.DataFrame(
        {"symbol": "EURUSD=X", "price_date": JAN, "close": [1.04, 1.03, 1.02, 1.03, 1.025]}
    )
    fx.load_fx_rows(conn, frame, "csv", last_closed=LAST_CLOSED)
    conn.execute("delete from ops.dirty_portfolios")
    corrected = frame.copy()
    corrected.loc[2, "close"] = 1.021
    res = fx.load_fx_rows(conn, corrected, "csv", last_closed=LAST_CLOSED)
    assert (res.updated, res.unchanged) == (1, 4)
    # the EUR portfolio converts USD into EUR; the USD one needs no rate
    assert conn.execute(
        "select portfolio_id, from_date, reason from ops.dirty_portfolios"
    ).fetchall() == [(eur, d("2025-01-08"), "fx rate corrected")]


def test_a_corrected_rate_against_usd_queues_only_the_portfolios_needing_its_other_currency(
    conn: psycopg.Connection,
) -> None:
    """EURUSD is the value of the euro in dollars: correcting it concerns a EUR portfolio
    (it converts USD into EUR) and a USD one holding a euro share (from its entry, later than
    the corrected date), not a USD portfolio that needs only yen (its USDJPY leg is
    unchanged). Corrected on 01-07 and on 01-10 in one write: each from its own first date."""
    conn.execute("insert into market.symbols (symbol, currency) values ('SAP.DE', 'EUR'),"
                 " ('7203.T', 'JPY') on conflict (symbol) do update set currency = excluded.currency")  # fmt: skip
    eur = add_portfolio(conn, "eur")
    conn.execute("update core.portfolios set base_currency = 'EUR' where portfolio_id = %s", [eur])
    add_position(conn, eur, "SPY", 10, "2025-01-06", 590)
    holds_euros = add_portfolio(conn, "usd with a euro share")
    add_position(conn, holds_euros, "SAP.DE", 10, "2025-01-08", 240)
    holds_yen = add_portfolio(conn, "usd with a yen share")
    add_position(conn, holds_yen, "7203.T", 100, "2025-01-06", 2900)
    frame = pd.DataFrame(
        {"symbol": "EURUSD=X", "price_date": JAN, "close": [1.04, 1.03, 1.02, 1.03, 1.025]}
    )
    fx.load_fx_rows(conn, frame, "csv", last_closed=LAST_CLOSED)
    yen = pd.DataFrame({"symbol": "JPY=X", "price_date": JAN, "close": [157, 158, 158, 159, 157]})
    fx.load_fx_rows(conn, yen, "csv", last_closed=LAST_CLOSED)
    conn.execute("delete from ops.dirty_portfolios")
    corrected = frame.copy()
    corrected.loc[1, "close"] = 1.031
    corrected.loc[3, "close"] = 1.031
    assert fx.load_fx_rows(conn, corrected, "csv", last_closed=LAST_CLOSED).updated == 2
    assert sorted(
        conn.execute("select portfolio_id, from_date, reason from ops.dirty_portfolios")
    ) == [
        (eur, d("2025-01-07"), "fx rate corrected"),
        (holds_euros, d("2025-01-08"), "fx rate corrected"),  # 01-07's is before its entry
    ]


def test_pairs_are_read_as_yfinance_spells_them() -> None:
    assert fx.pair_symbol("EURUSD=X") == "EURUSD=X"
    assert fx.pair_symbol("EUR/USD") == "EURUSD=X"
    assert fx.pair_symbol("JPY=X") == "JPY=X"  # 1 USD in JPY
    assert fx.pair_symbol("GBpUSD") is None  # pence are not a currency of a pair
    assert fx.pair_symbol("EUR-USD") is None


# ---------------------------------------------------------------- the commands


@pytest.mark.parametrize("args", [["ingest", "fx", "--help"], ["ingest", "currencies", "-h"]])
def test_the_fx_commands_have_help_with_an_example(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_ingest_fx_from_a_file_and_a_refused_file_exits_1(use_db: str, tmp_path: Path) -> None:
    good = write_csv(tmp_path, "pair,date,rate\nEURUSD=X,2025-01-06,1.0386\n", "good.csv")
    result = CliRunner().invoke(cli, ["ingest", "fx", "--source", "csv", str(good), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["status"], summary["rows_inserted"]) == ("succeeded", 1)
    bad = write_csv(tmp_path, "pair,date,rate\nEURUSD=X,2025-01-07,0\n", "bad.csv")
    result = CliRunner().invoke(cli, ["ingest", "fx", "--source", "csv", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv line 2, field rate: expected a positive number, got 0" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["ingest", "fx", "--pairs", "EURUSD=X,EUR-USD"])
    assert result.exit_code == 2 and "not a pair: 'EUR-USD'" in result.output


def test_trading_currencies_from_yfinance_metadata_or_an_operator(
    conn: psycopg.Connection, use_db: str
) -> None:
    pid = add_portfolio(conn)
    add_position(conn, pid, "VOD.L", 100, "2025-01-06", 7050)
    add_position(conn, pid, "SPY", 1, "2025-01-06", 590)
    asked: list[list[str]] = []

    def fast_info_lookup(symbols: list[str]) -> dict[str, str]:
        # what Ticker(symbol).fast_info["currency"] answers for these listings
        asked.append(symbols)
        return {s: {"VOD.L": "GBp", "SPY": "USD"}[s] for s in symbols if s in ("VOD.L", "SPY")}

    changed = fx.set_symbol_currencies(conn, lookup=fast_info_lookup)
    assert changed == [("VOD.L", "GBp", "USD")]
    assert "VOD.L" in asked[0] and not any(s.startswith("^") for s in asked[0])
    result = CliRunner().invoke(cli, ["ingest", "currencies", "SPY=EUR", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"symbol": "SPY", "currency": "EUR", "previous": "USD"}]
    result = CliRunner().invoke(cli, ["ingest", "currencies", "SPY=EURO"])
    assert result.exit_code == 1 and "field currency" in result.output
    result = CliRunner().invoke(cli, ["ingest", "currencies", "SPY"])
    assert result.exit_code == 2


def test_a_second_fx_ingest_while_one_runs_is_skipped_naming_it(
    conn: psycopg.Connection, db_url: str
) -> None:
    running = conn.execute(
        "insert into ops.runs (kind, target) values ('ingest_fx', 'demo') returning run_id"
    ).fetchone()[0]
    with psycopg.connect(db_url, autocommit=True) as other:  # the running ingest's session
        other.execute("select pg_advisory_lock(%s)", [fx.FX_LOCK])
        summary = fx.ingest_fx(conn=conn, source="demo", pairs=["EURUSD=X"])
        assert summary.status == "skipped"
        assert summary.message == f"another FX ingest is running (run {running})"
        assert conn.execute("select count(*) from market.fx_rates").fetchone() == (0,)
        status = conn.execute(
            "select status::text, message from ops.runs where run_id = %s", [summary.run_id]
        ).fetchone()
        assert status == ("skipped", summary.message)
