"""What people and apps look at, read only through the read contract (schema ``app``).

Every query here is one indexed lookup on an ``app`` view (see README, "Reading: the
contract for apps"), run as the read-only role ``folio_reader`` when the connecting user may
take it, so the CLI proves the contract is enough.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from foliodb.db import connect
from foliodb.errors import BadArgument, FolioError

PERIODS: tuple[str, ...] = ("1D", "5D", "1M", "3M", "6M", "YTD", "1Y", "5Y", "MAX")
SPARK_BARS = "▁▂▃▄▅▆▇█"
READER_ROLE = "folio_reader"


def check_period(period: str) -> str:
    """The canonical spelling of a period (``1y`` → ``1Y``); FolioError if unknown."""
    canonical = period.strip().upper()
    if canonical not in PERIODS:
        raise BadArgument(
            f"unknown period {period!r}: use one of {', '.join(PERIODS)}", param_hint="--period"
        )
    return canonical


def _reader(conn: psycopg.Connection) -> None:
    """Take the read-only role for this transaction when the user may (the contract, nothing more)."""
    row = conn.execute(
        "select exists (select from pg_roles where rolname = %(role)s)"
        " and pg_has_role(current_user, %(role)s, 'member') as may",
        {"role": READER_ROLE},
    ).fetchone()
    if row["may"]:
        conn.execute(f"set local role {READER_ROLE}")


def open_reader(url: str | None = None) -> psycopg.Connection:
    """A connection for the reads below (rows as dicts), as the reader when the login may.

    A caller opens one and passes it to each read (``dashboard``, ``leaderboard``, ``chart``):
    one connection per command, not one per function. A URL: opening the app reader's session
    (as folio_reader) is this function's job.
    """
    conn = connect(url, row_factory=dict_row)
    try:
        _reader(conn)
    except psycopg.Error:
        conn.close()
        raise
    return conn


def resolve(conn: psycopg.Connection, portfolio: str | int) -> int:
    """A portfolio id from an id or a unique name, through app.portfolio_dashboard."""
    text = str(portfolio).strip()
    if text.isdigit():
        row = conn.execute(
            "select portfolio_id from app.portfolio_dashboard where portfolio_id = %s",
            [int(text)],
        ).fetchone()
        if row is None:
            raise FolioError(f"no portfolio with id {text}")
        return row["portfolio_id"]
    rows = conn.execute(
        "select portfolio_id from app.portfolio_dashboard"
        " where lower(portfolio_name) = lower(%s) order by portfolio_id limit 6",
        [text],
    ).fetchall()
    if not rows:
        raise FolioError(f"no portfolio named {text!r}: give its id (see `folio leaderboard`)")
    if len(rows) > 1:
        ids = ", ".join(str(r["portfolio_id"]) for r in rows[:5])
        raise FolioError(f"{len(rows)} portfolios are named {text!r} (ids {ids}…): give the id")
    return rows[0]["portfolio_id"]


def require_portfolio(conn: psycopg.Connection, portfolio: str | int) -> int:
    """The id of an existing portfolio (id or unique name); FolioError naming it if none.

    `folio refresh --portfolio ID` asks this first, so a typo fails instead of refreshing
    nothing and reporting success.
    """
    _reader(conn)
    return resolve(conn, portfolio)


def sparkline(values: Sequence[float | None], width: int = 24) -> str:
    """A unicode sparkline of at most ``width`` characters (``▁▂▃▄▅▆▇█``).

    Values are averaged into ``width`` buckets; a flat series is drawn at mid height.

    >>> sparkline([0, 1, 2, 3, 4, 5, 6, 7])
    '▁▂▃▄▅▆▇█'
    """
    points = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not points:
        return ""
    if len(points) > width:
        buckets = []
        for i in range(width):
            lo, hi = i * len(points) // width, (i + 1) * len(points) // width
            chunk = points[lo : max(hi, lo + 1)]
            buckets.append(sum(chunk) / len(chunk))
        points = buckets
    low, high = min(points), max(points)
    if high - low < 1e-12:
        return SPARK_BARS[3] * len(points)
    scale = (len(SPARK_BARS) - 1) / (high - low)
    return "".join(SPARK_BARS[round((v - low) * scale)] for v in points)


def holdings(conn: psycopg.Connection, portfolio: str | int) -> list[dict[str, Any]]:
    """A portfolio's holdings at its latest snapshot (app.holdings), largest first."""
    _reader(conn)
    return conn.execute(
        "select symbol, investment_class, as_of, quantity, cost_basis, market_value,"
        " unrealized_pnl, weight, day_change, trading_currency, local_market_value, fx_rate,"
        " fx_rule from app.holdings where portfolio_id = %s"
        " order by market_value desc, symbol",
        [resolve(conn, portfolio)],
    ).fetchall()


def dashboard(conn: psycopg.Connection, portfolio: str | int) -> dict[str, Any]:
    """A portfolio's dashboard: its app.portfolio_dashboard row and, per period, the return,
    the benchmark's, the start date and the points (for sparklines)."""
    _reader(conn)
    portfolio_id = resolve(conn, portfolio)
    row = conn.execute(
        "select * from app.portfolio_dashboard where portfolio_id = %s", [portfolio_id]
    ).fetchone()
    points = conn.execute(
        "select period, point_date, value, cum_return, benchmark_cum_return"
        " from app.chart_points where portfolio_id = %s order by period, point_no",
        [portfolio_id],
    ).fetchall()
    by_period: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        by_period.setdefault(point["period"], []).append(point)
    partial = set(row["partial_periods"] or [])
    periods = []
    for period in PERIODS:
        key = period.lower()
        series = by_period.get(period, [])
        periods.append(
            {
                "period": period,
                "start_date": series[0]["point_date"] if series else None,
                "end_date": series[-1]["point_date"] if series else None,
                "twr": row[f"twr_{key}"],
                "benchmark_return": row[f"benchmark_{key}"],
                "excess_return": row[f"excess_{key}"],
                "is_partial": period in partial,
                "n_points": len(series),
                "cum_returns": [p["cum_return"] for p in series],
                "benchmark_cum_returns": [p["benchmark_cum_return"] for p in series],
            }
        )
    summary = {k: v for k, v in row.items() if not k.startswith(("twr_", "benchmark_", "excess_"))}
    summary["benchmark_symbol"] = row["benchmark_symbol"]
    summary["benchmark_cum_return"] = row["benchmark_cum_return"]
    summary["periods"] = periods
    return summary


def leaderboard(
    conn: psycopg.Connection, period: str, limit: int = 20, include_excluded: bool = False
) -> dict[str, Any]:
    """The leaderboard of a period: ranked rows (best first) and, on request, the excluded."""
    period = check_period(period)
    if limit < 1:
        raise BadArgument(f"must be at least 1, got {limit}", param_hint="--limit")
    _reader(conn)
    ranked = conn.execute(
        "select rank, portfolio_id, portfolio_name, period_twr, benchmark_return,"
        " relative_return, percentile, n_ranked, start_date, as_of"
        " from app.leaderboards where period = %s and is_ranked"
        " order by rank, portfolio_id limit %s",
        [period, limit],
    ).fetchall()
    excluded = conn.execute(
        "select portfolio_id, portfolio_name, exclusion_reason, start_date, as_of"
        " from app.leaderboards where period = %s and not is_ranked"
        " order by portfolio_id limit %s",
        [period, limit if include_excluded else 0],
    ).fetchall()
    n_excluded = conn.execute(
        "select count(*) filter (where not is_ranked) as n from app.leaderboards where period = %s",
        [period],
    ).fetchone()["n"]
    return {
        "period": period,
        "n_ranked": ranked[0]["n_ranked"] if ranked else 0,
        "n_excluded": n_excluded,
        "ranked": ranked,
        "excluded": excluded,
    }


def chart(conn: psycopg.Connection, portfolio: str | int, period: str) -> dict[str, Any]:
    """A chart's data: the summary (returns, dates, partial) and its points."""
    period = check_period(period)
    data = dashboard(conn, portfolio)
    info = next(p for p in data["periods"] if p["period"] == period)
    points = conn.execute(
        "select point_no, point_date, value, cum_return, benchmark_cum_return"
        " from app.chart_points where portfolio_id = %s and period = %s order by point_no",
        [data["portfolio_id"], period],
    ).fetchall()
    if not points:
        raise FolioError(
            f"portfolio {data['portfolio_id']} has no {period} chart yet: run `folio refresh`"
        )
    return {
        "portfolio_id": data["portfolio_id"],
        "portfolio_name": data["portfolio_name"],
        "benchmark_symbol": data["benchmark_symbol"],
        "period": period,
        "start_date": info["start_date"],
        "end_date": info["end_date"],
        "twr": info["twr"],
        "benchmark_return": info["benchmark_return"],
        "excess_return": info["excess_return"],
        "is_partial": info["is_partial"],
        "is_stale": data["is_stale"],
        "points": points,
    }


def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:+.{digits}f}%"


CHART_FORMATS = ("png", "svg")


def chart_format(out: str | Path) -> str:
    """The image format a chart file name asks for (its suffix); BadArgument if unsupported."""
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in CHART_FORMATS:
        raise BadArgument(
            f"{str(out)!r}: a chart is written as {' or '.join(CHART_FORMATS)};"
            " name the file with one of those suffixes",
            param_hint="--out",
        )
    return suffix


def session_positions(dates: Sequence[dt.date]) -> list[int]:
    """x positions of session dates: weekdays counted from the first date.

    Weekends take no room on the axis (a 1D chart spans one step, not a weekend of hours);
    a holiday leaves a one-step gap, which keeps long thinned charts true to time.
    """
    import numpy as np

    if not dates:
        return []
    days = np.array(dates, dtype="datetime64[D]")
    return [int(n) for n in np.busday_count(days[0], days)]


def _date_ticks(dates: Sequence[dt.date], positions: Sequence[int], most: int = 7):
    """At most ``most`` ticks, on the points' own sessions, first and last included."""
    n = len(dates)
    if n <= most:
        chosen = list(range(n))
    else:
        chosen = sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})
    span = (dates[-1] - dates[0]).days if dates else 0
    fmt = "%d %b" if span <= 370 else "%b %Y"
    if span <= 370 and dates and dates[0].year != dates[-1].year:
        fmt = "%d %b %y"
    return [positions[i] for i in chosen], [dates[i].strftime(fmt) for i in chosen]


def render_chart(data: dict[str, Any], out: str | Path) -> Path:
    """Portfolio against benchmark, cumulative return in percent (matplotlib, Agg).

    The file's suffix picks the format (``.png`` or ``.svg``); its directory must exist.
    The x axis shows sessions only (no weekend days, no hours), the y axis even percent
    steps, and the legend sits below the plot, never over the lines.
    """
    fmt = chart_format(out)
    path = Path(out)
    if not path.parent.is_dir():
        raise FolioError(
            f"cannot write the chart to {path}: directory {path.parent} does not exist"
        )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    dates = [p["point_date"] for p in data["points"]]
    xs = session_positions(dates)
    mine = [
        100 * p["cum_return"] if p["cum_return"] is not None else math.nan for p in data["points"]
    ]
    bench = [
        100 * p["benchmark_cum_return"] if p["benchmark_cum_return"] is not None else math.nan
        for p in data["points"]
    ]
    portfolio_color, benchmark_color = "#1f5fbf", "#8a8f98"
    fig, ax = plt.subplots(figsize=(10, 5.6), dpi=150)
    fig.patch.set_facecolor("white")
    ax.axhline(0, color="#c9ccd1", linewidth=1, zorder=1)
    ax.plot(
        xs, bench, color=benchmark_color, linewidth=1.6, linestyle="--",
        label=f"{data['benchmark_symbol']} {_pct(data['benchmark_return'])}", zorder=2,
    )  # fmt: skip
    ax.plot(
        xs, mine, color=portfolio_color, linewidth=2.2,
        label=f"{data['portfolio_name']} {_pct(data['twr'])}", zorder=3,
    )  # fmt: skip
    ax.fill_between(xs, mine, 0, color=portfolio_color, alpha=0.08, zorder=1)
    if xs:
        ax.scatter([xs[-1]], [mine[-1]], color=portfolio_color, s=28, zorder=4)
        ax.annotate(
            _pct(data["twr"]), (xs[-1], mine[-1]), xytext=(6, 0), textcoords="offset points",
            va="center", fontsize=10, fontweight="bold", color=portfolio_color,
        )  # fmt: skip
    # even steps (1, 2, 2.5 or 5 times a power of ten) and as many decimals as the step needs
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ticks = [t for t in ax.get_yticks() if math.isfinite(t)]
    step = min((b - a for a, b in zip(ticks, ticks[1:], strict=False)), default=1.0) or 1.0
    exponent = Decimal(repr(round(float(step), 8))).normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 1
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=min(decimals, 4)))
    tick_x, tick_labels = _date_ticks(dates, xs)
    ax.set_xticks(tick_x, tick_labels)
    ax.set_xlabel("Session")
    ax.set_ylabel("Cumulative return (time-weighted)")
    ax.grid(axis="y", color="#eceef1", linewidth=0.8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9aa0a6")
    ax.margins(x=0.04)
    title = f"{data['portfolio_name']} vs {data['benchmark_symbol']} · {data['period']}"
    ax.set_title(title, loc="left", fontsize=14, fontweight="bold", pad=22)
    notes = [f"{_fmt_date(data['start_date'])} → {_fmt_date(data['end_date'])}"]
    notes.append(f"excess return {_pct(data['excess_return'])}")
    if data["is_partial"]:
        notes.append("since the portfolio's first session (younger than the period)")
    if data["is_stale"]:
        notes.append("stale: behind the last closed session")
    ax.text(0, 1.02, "  ·  ".join(notes), transform=ax.transAxes, fontsize=9.5, color="#5f6368")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(0, -0.16), ncol=2,
        frameon=False, fontsize=10,
    )  # fmt: skip
    fig.tight_layout()
    try:
        fig.savefig(path, format=fmt)
    except OSError as exc:
        raise FolioError(f"cannot write the chart to {path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(fig)
    return path


def _span(*series: Sequence[float]) -> float:
    values = [v for s in series for v in s if not math.isnan(v)]
    return (max(values) - min(values)) if values else 0.0


def _fmt_date(value: dt.date | None) -> str:
    return value.strftime("%d %b %Y") if value else "?"
