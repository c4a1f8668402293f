"""Reading factor exposures and risk figures (computed in the database by the factor models).

The numbers come from ``analytics.fct_symbol_exposures``, ``analytics.fct_portfolio_exposures``
and ``analytics.fct_portfolio_risk`` (dbt_project/models/marts/factors, method in
docs/factors.md). This module only reads them, one indexed lookup each.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from foliodb.errors import FolioError
from foliodb.portfolio_io import resolve_portfolio

_EXPOSURES = """
select
    exposures.factor,
    exposures.proxy_symbol,
    exposures.is_market,
    exposures.exposure,
    exposures.covered_share,
    exposures.missing_share,
    exposures.n_symbols_covered,
    exposures.missing_symbols,
    exposures.as_of_date,
    exposures.positions_held,
    exposures.market_value,
    exposures.public_share,
    exposures.options_share,
    exposures.private_share,
    exposures.computed_by_run
from analytics.fct_portfolio_exposures as exposures
left join market.factors as factors on exposures.factor = factors.factor
where exposures.portfolio_id = %s
order by exposures.is_market desc, factors.created_at, exposures.factor
"""

_RISK = """
select
    period, start_date, end_date, is_partial, n_returns, n_quoted_returns, annualized_volatility,
    max_drawdown, drawdown_peak_date, drawdown_trough_date, sharpe_ratio, sharpe_null_reason,
    risk_free_symbol, risk_free_annual_rate, risk_free_coverage, risk_free_note, benchmark_beta,
    benchmark_correlation, n_benchmark_returns, best_day_return, best_day_date,
    worst_day_return, worst_day_date
from analytics.fct_portfolio_risk
where portfolio_id = %s
order by period_order
"""

_SYMBOL = """
select
    factor, proxy_symbol, is_market, as_of_date, is_published, exposure, intercept,
    r_squared, n_obs, window_sessions, min_observations, unpublished_reason
from analytics.fct_symbol_exposures
where symbol = %s
    and as_of_idx = (select max(latest.as_of_idx) from analytics.fct_symbol_exposures as latest
                     where latest.symbol = %s)
order by is_market desc, factor
"""


def _models_missing(exc: Exception) -> FolioError:
    return FolioError(
        f"factor models are not installed ({exc}): run `folio refresh --via dbt` once"
    )


def portfolio_exposures(conn: psycopg.Connection, portfolio: str | int) -> dict[str, Any]:
    """A portfolio's factor exposures as of the last refresh, read on ``conn``.

    Returns ``{"portfolio_id", "as_of_date", "market_value", "positions_held", "shares":
    {"public", "options", "private", "missing"}, "missing_symbols": [...], "factors": [{"factor",
    "proxy_symbol", "is_market", "exposure", "covered_share", "missing_share",
    "n_symbols_covered", "missing_symbols"}, ...]}``; the market factor comes first.
    ``missing_symbols`` at the top lists every PUBLIC symbol held that lacks an exposure to at
    least one factor. Raises FolioError for an unknown portfolio or before the first refresh.
    """
    portfolio_id = resolve_portfolio(conn, portfolio)
    try:
        rows = conn.cursor(row_factory=dict_row).execute(_EXPOSURES, [portfolio_id]).fetchall()
    except psycopg.errors.UndefinedTable as exc:
        raise _models_missing(exc) from exc
    if not rows:
        raise FolioError(
            f"portfolio {portfolio_id} has no exposures yet: run `folio refresh` (or it has no prices)"
        )
    first = rows[0]
    missing = sorted({symbol for row in rows for symbol in row["missing_symbols"]})
    market = next((row for row in rows if row["is_market"]), first)
    return {
        "portfolio_id": portfolio_id,
        "as_of_date": first["as_of_date"],
        "market_value": first["market_value"],
        "positions_held": first["positions_held"],
        "shares": {
            "public": first["public_share"],
            "options": first["options_share"],
            "private": first["private_share"],
            "missing": market["missing_share"],
        },
        "missing_symbols": missing,
        "computed_by_run": first["computed_by_run"],
        "factors": [
            {
                key: row[key]
                for key in (
                    "factor",
                    "proxy_symbol",
                    "is_market",
                    "exposure",
                    "covered_share",
                    "missing_share",
                    "n_symbols_covered",
                    "missing_symbols",
                )
            }
            for row in rows
        ],
    }


def portfolio_risk(conn: psycopg.Connection, portfolio: str | int) -> list[dict[str, Any]]:
    """A portfolio's risk figures, one dict per chart period (1D … MAX), as of the last refresh,
    read on ``conn``.

    Keys: period, start_date, end_date, is_partial, n_returns, n_quoted_returns,
    annualized_volatility, max_drawdown (≤ 0), drawdown_peak_date, drawdown_trough_date,
    sharpe_ratio, sharpe_null_reason (why it is null), risk_free_symbol,
    risk_free_annual_rate, risk_free_coverage (zero rate / full / partial / none),
    risk_free_note, benchmark_beta, benchmark_correlation, n_benchmark_returns (real-quote
    pairs), best_day_return, best_day_date, worst_day_return, worst_day_date. Empty before the
    first refresh.
    """
    portfolio_id = resolve_portfolio(conn, portfolio)
    try:
        return conn.cursor(row_factory=dict_row).execute(_RISK, [portfolio_id]).fetchall()
    except psycopg.errors.UndefinedTable as exc:
        raise _models_missing(exc) from exc


def symbol_exposures(conn: psycopg.Connection, symbol: str) -> list[dict[str, Any]]:
    """A symbol's latest exposures, one dict per factor (market first), unpublished ones with
    their reason, read on ``conn``. Empty when the symbol has none."""
    try:
        return (
            conn.cursor(row_factory=dict_row)
            .execute(_SYMBOL, [symbol.upper(), symbol.upper()])
            .fetchall()
        )
    except psycopg.errors.UndefinedTable as exc:
        raise _models_missing(exc) from exc
