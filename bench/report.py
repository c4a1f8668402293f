"""Render the runner's results: ratios, targets, latest.md, PNG plots, the stdout table.

``python -m bench.report [bench/results]`` re-renders latest.md and the plots from latest.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# The benchmark's targets on this 2-core machine (at 10k portfolios).
TARGET_PORTFOLIOS = 10_000
FLAT_HISTORY_MAX_RATIO = 1.25  # "does not grow with history": 5 y costs at most 1.25x 1 y
FOREIGN_NIGHTLY_MAX_RATIO = 1.15  # issue 16: the nightly with ~20 % foreign holdings / USD-only


def _get(data: Any, *path: Any) -> Any:
    for key in path:
        if data is None:
            return None
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return num / den


def ratios(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Baseline time / foliodb time, measured in the same run (absolute figures alongside)."""
    sc = results.get("scenarios", {})
    out: dict[str, dict[str, Any]] = {}

    def add(name: str, baseline: float | None, ours: float | None, what: str) -> None:
        out[name] = {
            "ratio": None if _ratio(baseline, ours) is None else round(_ratio(baseline, ours), 1),
            "baseline_ms": baseline,
            "foliodb_ms": ours,
            "what": what,
        }

    ours_a = _get(sc, "a", "foliodb", "refresh_call_ms", "median")
    add(
        "onboarding_vs_orm",
        _get(sc, "a", "orm", "ms", "median"),
        ours_a,
        "ORM rebuild of the reference portfolio / call ops.refresh('portfolio') from Python",
    )
    add(
        "onboarding_vs_pandas",
        _get(sc, "a", "pandas", "ms", "median"),
        ours_a,
        "pandas load+compute+COPY of the reference portfolio / the same refresh call",
    )
    ours_c = _get(sc, "c", "foliodb", "db_ms", "median")
    add(
        "charts_vs_orm",
        _get(sc, "c", "orm", "extrapolated_ms"),
        ours_c,
        "ORM rebuild_charts, extrapolated from a subset / int_chart_heads + fct_chart_series + fct_chart_caches steps",
    )
    add(
        "charts_vs_pandas",
        _get(sc, "c", "pandas", "ms", "median"),
        ours_c,
        "pandas compute_charts + COPY / int_chart_heads + fct_chart_series + fct_chart_caches steps",
    )
    ours_d = _get(sc, "d", "foliodb", "wall_ms", "median")
    add(
        "full_vs_orm",
        _get(sc, "d", "orm", "extrapolated_ms"),
        ours_d,
        "ORM snapshots+charts, extrapolated from a subset / call ops.refresh('full')",
    )
    add(
        "full_vs_pandas",
        _get(sc, "d", "pandas", "total_ms", "median"),
        ours_d,
        "pandas load+compute+COPY of everything / call ops.refresh('full')",
    )
    return out


def _by(measured: float | None, target: float, below: bool) -> tuple[bool | None, str]:
    if measured is None:
        return None, "not measured"
    if below:
        met = measured < target
        factor = measured / target
        if met:
            return True, f"{(1 - factor) * 100:.0f}% under"
        return False, f"{factor:.1f}x the target ({measured - target:,.0f} over)"
    met = measured > target
    factor = measured / target
    if met:
        return met, f"{factor:.1f}x the target"
    if measured <= 0:
        return met, "no speed-up measured"
    return met, f"{factor:.2f}x the target (short {target / measured:.1f}x)"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    sc = results.get("scenarios", {})
    rt = results.get("ratios") or ratios(results)
    main = _get(results, "meta", "main_dataset")
    main_pf = _get(results, "datasets", main, "portfolios")
    scale_note = (
        None
        if main_pf == TARGET_PORTFOLIOS
        else f"measured at {main_pf:,} portfolios; the target is for {TARGET_PORTFOLIOS:,}"
        if main_pf
        else None
    )
    rows: list[dict[str, Any]] = []

    def add(
        tid: str,
        text: str,
        measured: float | None,
        target: float,
        below: bool,
        unit: str,
        scaled: bool = True,
    ) -> None:
        met, by = _by(measured, target, below)
        rows.append(
            {
                "id": tid,
                "target": text,
                "measured": None if measured is None else round(measured, 3),
                "unit": unit,
                "met": met,
                "by": by,
                "note": scale_note if scaled else None,
            }
        )

    add(
        "a_db_time",
        "onboarding refresh: < 100 ms database time",
        _get(sc, "a", "foliodb", "db_ms", "median"),
        100,
        True,
        "ms",
    )
    add(
        "a_vs_orm",
        "onboarding: > 100x faster than the ORM baseline",
        _get(rt, "onboarding_vs_orm", "ratio"),
        100,
        False,
        "x",
    )
    add(
        "a_vs_pandas",
        "onboarding: faster than pandas",
        _get(rt, "onboarding_vs_pandas", "ratio"),
        1,
        False,
        "x",
    )
    add(
        "b_nightly",
        "nightly incremental at 10k: < 2 s end to end",
        _get(sc, "b", "foliodb", "wall_ms", "median"),
        2000,
        True,
        "ms",
    )
    years = _get(sc, "g", "by_years") or []
    flat = None
    if len(years) >= 2:
        first = _get(years[0], "incremental_wall_ms", "median")
        last = _get(years[-1], "incremental_wall_ms", "median")
        flat = _ratio(last, first)
    add(
        "b_flat",
        f"nightly cost does not grow with history ({years[-1]['years'] if years else '?'} y"
        f" / {years[0]['years'] if years else '?'} y < {FLAT_HISTORY_MAX_RATIO})",
        flat,
        FLAT_HISTORY_MAX_RATIO,
        True,
        "x",
        scaled=False,
    )
    add(
        "c_charts",
        "chart-cache rebuild at 10k x 9 periods: < 15 s",
        _get(sc, "c", "foliodb", "db_ms", "median"),
        15_000,
        True,
        "ms",
    )
    add(
        "c_vs_orm",
        "chart-cache rebuild: > 100x faster than the ORM baseline",
        _get(rt, "charts_vs_orm", "ratio"),
        100,
        False,
        "x",
    )
    add(
        "d_full",
        "full history rebuild at 10k x 15 positions x 5 y: < 60 s",
        _get(sc, "d", "foliodb", "db_ms", "median"),
        60_000,
        True,
        "ms",
    )
    csv_sizes = _get(sc, "e", "csv", "by_rows") or []
    add(
        "e_csv_rows_per_s",
        f"price CSV load ({csv_sizes[-1]['rows']:,} rows): >= 100,000 rows/s"
        if csv_sizes
        else "price CSV load: >= 100,000 rows/s",
        _get(sc, "e", "csv", "rows_per_s"),
        100_000,
        False,
        "rows/s",
        scaled=False,
    )
    add(
        "e_csv_memory",
        "price CSV load: peak memory the same for 100k and 1M rows (ratio <= 1.2)"
        if not csv_sizes or csv_sizes[-1]["rows"] == 1_000_000
        else f"price CSV load: peak memory the same for {csv_sizes[0]['rows']:,} and"
        f" {csv_sizes[-1]['rows']:,} rows (ratio <= 1.2)",
        _get(sc, "e", "csv", "peak_rss_ratio"),
        1.2,
        True,
        "x",
        scaled=False,
    )
    add(
        "f_p99",
        "reads: p99 < 5 ms at 32 clients during a refresh (paced clients)",
        _get(sc, "f", "during_full_refresh", "paced", "all", "p99"),
        5,
        True,
        "ms",
        scaled=False,
    )
    for quantile in ("p50", "p99"):
        add(
            f"f_rls_{quantile}",
            f"reads: {quantile} with row-level security within 10 % of the same reads without"
            " (on / off, same run)",
            _get(sc, "f", "rls_on_vs_off", f"{quantile}_on_over_off"),
            1.1,
            True,
            "x",
            scaled=False,
        )
    add(
        "f_p99_saturated",
        "reads: the same with saturating clients (no pause; for reference)",
        _get(sc, "f", "during_full_refresh", "saturated", "all", "p99"),
        5,
        True,
        "ms",
        scaled=False,
    )
    ledger = f"{_get(sc, 'h', 'activities') or 2000:,}-activity, {_get(sc, 'h', 'years') or 8} y"
    add(
        "h_rebuild",
        f"a {ledger} ledger rebuilds in < 1 s (database time)",
        _get(sc, "h", "full_rebuild_db_ms", "median"),
        1000,
        True,
        "ms",
        scaled=False,
    )
    add(
        "h_edit",
        f"a {ledger} ledger refreshes after an edit in < 100 ms (database time)",
        _get(sc, "h", "edit_refresh_db_ms", "median"),
        100,
        True,
        "ms",
        scaled=False,
    )
    add(
        "h_edit_new_session",
        f"a {ledger} ledger refreshes after an edit in < 100 ms in a new session, as pg_cron"
        " runs it (its first call plans every statement; database time)",
        _get(sc, "h", "edit_refresh_new_session_db_ms", "median"),
        100,
        True,
        "ms",
        scaled=False,
    )
    large = _get(sc, "h", "large")
    if large:
        # No time target: the issue asks only that a 50,000-activity ledger "works". Met when it
        # was imported, rebuilt and refreshed after an edit (a failed refresh fails the
        # scenario) and its cash balance and units held equal their plain sums.
        check = large.get("check") or {}
        differences = sum(len(v) for v in (check.get("differences") or {}).values())
        rows.append(
            {
                "id": "h_large_works",
                "target": f"a {large['activities']:,}-activity ledger works: imported, rebuilt and"
                " refreshed after an edit, its cash balance and units held equal to their plain"
                " sums",
                "measured": differences,
                "unit": "differences",
                "met": bool(check.get("equal")),
                "by": "equal" if check.get("equal") else f"{differences} figure(s) differ",
                "note": "no time target (the issue gives none); its times are in the summary",
            }
        )
    if "i" in sc:
        # only when scenario i ran (it is not part of --quick)
        add(
            "i_nightly",
            "nightly with ~20 % foreign-currency holdings within 15 % of the USD-only nightly"
            f" (foreign / USD end to end < {FOREIGN_NIGHTLY_MAX_RATIO})",
            _get(sc, "i", "nightly", "ratio_wall_ms"),
            FOREIGN_NIGHTLY_MAX_RATIO,
            True,
            "x",
            scaled=False,
        )
        history = _get(sc, "i", "history") or {}
        add(
            "i_flat",
            "nightly with foreign holdings does not grow with history"
            f" ({history.get('main_years', '?')} y / {history.get('years', '?')} y"
            f" < {FLAT_HISTORY_MAX_RATIO})",
            history.get("ratio_wall_ms"),
            FLAT_HISTORY_MAX_RATIO,
            True,
            "x",
            scaled=False,
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "–"
    if ms >= 60_000:
        return f"{ms / 60_000:.1f} min"
    if ms >= 1_000:
        return f"{ms / 1000:.2f} s"
    if ms >= 10:
        return f"{ms:.0f} ms"
    return f"{ms:.2f} ms"


def fmt_stats(st: dict[str, Any] | None) -> str:
    if not st or st.get("median") is None:
        return "–"
    if st.get("n", 1) <= 1:
        return fmt_ms(st["median"])
    return f"{fmt_ms(st['median'])} ({fmt_ms(st['min'])}–{fmt_ms(st['max'])})"


def fmt_ratio(r: dict[str, Any] | None) -> str:
    if not r or r.get("ratio") is None:
        return "–"
    return f"{r['ratio']:,.1f}x"


def machine_line(results: dict[str, Any]) -> str:
    m = _get(results, "meta", "machine") or {}
    load = m.get("load_avg_at_start")
    return (
        f"{m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GB RAM; "
        f"{m.get('postgresql')}, pg_cron {m.get('pg_cron')}, Python {m.get('python')}; "
        f"load average at start {load[0] if load else '?'} (other sessions share the machine)"
    )


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(scenario, foliodb, pandas, ORM, ratios) for the stdout table and latest.md."""
    sc = results.get("scenarios", {})
    rt = results.get("ratios") or ratios(results)
    main = _get(results, "meta", "main_dataset")
    pf = _get(results, "datasets", main, "portfolios")
    pf_txt = f"{pf:,}" if pf else "?"
    rows = []
    if "a" in sc:
        a = sc["a"]
        rows.append(
            (
                f"a. onboarding, 13 positions, {a.get('other_portfolios', 0):,} others present",
                f"{fmt_stats(a['foliodb']['db_ms'])} db; {fmt_stats(a['foliodb']['refresh_call_ms'])}"
                f" call; {fmt_stats(a['foliodb']['import_ms'])} whole import",
                fmt_stats(a["pandas"]["ms"]),
                fmt_stats(a["orm"]["ms"]),
                f"ORM {fmt_ratio(rt.get('onboarding_vs_orm'))}, pandas {fmt_ratio(rt.get('onboarding_vs_pandas'))}",
            )
        )
    if "b" in sc:
        b = sc["b"]["foliodb"]
        rows.append(
            (
                f"b. nightly incremental, one new session, {pf_txt} portfolios",
                f"{fmt_stats(b['wall_ms'])} end to end; {fmt_stats(b['db_ms'])} db",
                "–",
                "–",
                "–",
            )
        )
    if "c" in sc:
        c = sc["c"]
        rows.append(
            (
                f"c. chart-cache rebuild, {pf_txt} x 9 periods",
                f"{fmt_stats(c['foliodb']['db_ms'])} (int_chart_heads + fct_chart_series + fct_chart_caches steps)",
                fmt_stats(c["pandas"]["ms"]),
                f"{fmt_ms(c['orm']['extrapolated_ms'])} (extrapolated from {c['orm']['measured_portfolios']})",
                f"ORM {fmt_ratio(rt.get('charts_vs_orm'))}, pandas {fmt_ratio(rt.get('charts_vs_pandas'))}",
            )
        )
    if "d" in sc:
        d = sc["d"]
        rows.append(
            (
                f"d. full rebuild of all history, {pf_txt} portfolios",
                f"{fmt_stats(d['foliodb']['db_ms'])} db",
                fmt_stats(d["pandas"]["total_ms"]),
                f"{fmt_ms(d['orm']['extrapolated_ms'])} (extrapolated from {d['orm']['measured_portfolios']})",
                f"ORM {fmt_ratio(rt.get('full_vs_orm'))}, pandas {fmt_ratio(rt.get('full_vs_pandas'))}",
            )
        )
    if "e" in sc:
        e = sc["e"]
        rows.append(
            (
                f"e. price ingest, {e['symbols']} symbols x {e['years']} y ({e['rows']:,} rows)",
                f"{fmt_stats(e['first_load_ms'])}; {e['first_load_rows_per_s']['median']:,.0f} rows/s;"
                f" peak {max(e['peak_python_mb_by_symbols'].values())} MB Python",
                "–",
                "–",
                "–",
            )
        )
        for size in _get(e, "csv", "by_rows") or []:
            rows.append(
                (
                    f"e. price CSV load, {size['rows']:,} rows ({size['file_mb']} MB)",
                    f"{fmt_stats(size['load_ms'])}; {size['rows_per_s']['median']:,.0f} rows/s;"
                    f" peak RSS {size['peak_rss_mb']['median']} MB (loading process)"
                    + (
                        f"; raw COPY of the file {fmt_stats(size['raw_copy_ms'])}"
                        if "raw_copy_ms" in size
                        else ""
                    ),
                    "–",
                    "–",
                    "–",
                )
            )
    if "f" in sc:
        f = sc["f"]
        for ph in ("paced", "saturated"):
            busy, idle = f["during_full_refresh"][ph], f["idle"][ph]
            how = (
                f"one query per {f['idle']['pace_interval_ms']:.0f} ms per client"
                if ph == "paced"
                else "no pause between queries"
            )
            rows.append(
                (
                    f"f. reads, {f['during_full_refresh']['clients']} clients ({ph}: {how})",
                    f"during full refresh: p50 {fmt_ms(busy['all']['p50'])}, p99"
                    f" {fmt_ms(busy['all']['p99'])} ({busy['qps'] or 0:,.0f} q/s); idle: p50"
                    f" {fmt_ms(idle['all']['p50'])}, p99 {fmt_ms(idle['all']['p99'])}"
                    f" ({idle['qps'] or 0:,.0f} q/s)",
                    "–",
                    "–",
                    "–",
                )
            )
    if "g" in sc:
        g = sc["g"]
        pts = "; ".join(
            f"{p['portfolios']:,}: {fmt_ms(p['full_db_ms']['median'])}" for p in g["by_portfolios"]
        )
        yrs = "; ".join(
            f"{p['years']} y: full {fmt_ms(p['full_db_ms']['median'])},"
            f" nightly {fmt_ms(p['incremental_wall_ms']['median'])}"
            for p in g["by_years"]
        )
        rows.append(("g. growth: full refresh vs portfolios", pts, "–", "–", "–"))
        if g["by_years"]:
            rows.append(
                (
                    f"g. growth vs years ({g['by_years'][0]['portfolios']:,} portfolios)",
                    yrs,
                    "–",
                    "–",
                    "–",
                )
            )
    if "h" in sc:
        h = sc["h"]
        rows.append(
            (
                f"h. ledger of {h['activities']:,} activities ({h['years']} y)",
                (f"import {fmt_ms(h['import_db_ms'])}; " if h.get("import_db_ms") else "")
                + f"full rebuild {fmt_stats(h['full_rebuild_db_ms'])}; after an edit"
                f" {fmt_stats(h['edit_refresh_db_ms'])}"
                + (
                    f", in a new session {fmt_stats(h['edit_refresh_new_session_db_ms'])}"
                    if h.get("edit_refresh_new_session_db_ms")
                    else ""
                )
                + " (database time)",
                "–",
                "–",
                "–",
            )
        )
        large = h.get("large")
        if large:
            rows.append(
                (
                    f"h. ledger of {large['activities']:,} activities ({large['years']} y), once",
                    f"import {fmt_ms(large['import_db_ms'])} ({fmt_ms(large['import_ms'])} wall);"
                    f" full rebuild {fmt_ms(large['full_rebuild'][0]['db_ms'])}"
                    f" ({fmt_ms(large['full_rebuild'][0]['wall_ms'])} wall); after an edit"
                    f" {fmt_ms(large['edit_refresh'][0]['db_ms'])}"
                    f" ({fmt_ms(large['edit_refresh'][0]['wall_ms'])} wall); database time",
                    "–",
                    "–",
                    "–",
                )
            )
    if "i" in sc:
        i = sc["i"]
        vs_pandas = _ratio(
            i["pandas"]["foreign"]["total_ms"]["median"], i["full"]["foreign"]["db_ms"]["median"]
        )
        rows.append(
            (
                f"i. ~{i['foreign_share_target']:.0%} foreign-currency holdings"
                f" ({i['portfolios']:,} portfolios), beside USD-only",
                f"nightly {fmt_stats(i['nightly']['foreign']['wall_ms'])} vs"
                f" {fmt_stats(i['nightly']['usd']['wall_ms'])} ({i['nightly']['ratio_wall_ms']}x);"
                f" full rebuild {fmt_stats(i['full']['foreign']['db_ms'])} vs"
                f" {fmt_stats(i['full']['usd']['db_ms'])} ({i['full']['ratio_db_ms']}x)",
                f"{fmt_stats(i['pandas']['foreign']['total_ms'])} vs"
                f" {fmt_stats(i['pandas']['usd']['total_ms'])} ({i['pandas']['ratio']}x)",
                "–",
                f"pandas {vs_pandas or 0:.1f}x (full rebuild, foreign)",
            )
        )
    return rows


def _md_table(header: list[str], rows: list[tuple | list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _measured(target: dict[str, Any]) -> str:
    """A target's measured figure with its unit: a count (an int) as one, else two decimals."""
    value = target["measured"]
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,} {target['unit']}"
    return f"{value:,.2f} {target['unit']}"


def markdown(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    sc = results.get("scenarios", {})
    parts = [
        "# foliodb benchmark",
        "",
        f"Run {meta.get('started_at')} → {meta.get('finished_at')}, scale `{meta.get('scale')}`,"
        f" {meta.get('repeat')} repeat(s) per measurement (median (min–max)),"
        f" commit `{_get(meta, 'machine', 'git_commit')}`.",
        "",
        f"**Machine:** {machine_line(results)}.",
        "",
        "## Results",
        "",
        _md_table(
            ["scenario", "foliodb", "pandas", "ORM (row by row)", "baseline / foliodb"],
            summary_rows(results),
        ),
        "",
        "## Targets",
        "",
        _md_table(
            ["target", "measured", "met", "by how much", "note"],
            [
                (
                    t["target"],
                    _measured(t),
                    {True: "met", False: "**missed**", None: "–"}[t["met"]],
                    t["by"],
                    t.get("note") or "",
                )
                for t in results.get("targets", [])
            ],
        ),
        "",
        "## Datasets",
        "",
        _md_table(
            [
                "dataset",
                "portfolios",
                "positions",
                "symbols",
                "years",
                "sessions",
                "prices",
                "snapshot rows",
                "size",
            ],
            [
                (
                    k,
                    f"{v['portfolios']:,}",
                    f"{v.get('positions') or 0:,}",
                    v["symbols"],
                    v["years"],
                    v.get("sessions"),
                    f"{v.get('prices') or 0:,}",
                    f"{v.get('snapshot_rows') or 0:,}",
                    v.get("database_size"),
                )
                for k, v in results.get("datasets", {}).items()
            ],
        ),
        "",
        "Generated by bench/datagen.py (seed 42): ~15 positions per portfolio, ~5 % PRIVATE with"
        " manual valuations, ~3 % OPTIONS, ~15 % closed, stale and late-listed symbols, ~30 %"
        " public portfolios. A dataset labelled l20_d30_s4_… also has a fifth of its portfolios"
        " as activity ledgers (deposits, a withdrawal, buys, partial sells FIFO or average cost,"
        " fees, interest, taxes, recorded dividends), 30 % of the generated equities paying"
        " quarterly dividends and 4 splits (2:1, 3:1, 4:1, 1:5; closes as traded); fx20_…: about"
        " 20 % of the positions in foreign listings.",
    ]
    if "d" in sc:
        d = sc["d"]["foliodb"]
        parts += [
            "",
            "## Full rebuild per step (ops.run_steps)",
            "",
            _md_table(
                ["step", "rows", "ms median (min–max)"],
                [
                    (s, f"{d['step_rows'].get(s) or 0:,}", fmt_stats(st))
                    for s, st in d["steps_ms"].items()
                ]
                + [("**total (ops.runs)**", "", fmt_stats(d["db_ms"]))],
            ),
        ]
    if "b" in sc:
        b = sc["b"]["foliodb"]
        parts += [
            "",
            "## Nightly incremental per step",
            "",
            _md_table(
                ["step", "ms median (min–max)"],
                [(s, fmt_stats(st)) for s, st in b["steps_ms"].items()],
            ),
        ]
    if "g" in sc:
        g = sc["g"]
        parts += [
            "",
            "## Cost growth",
            "",
            _md_table(
                ["portfolios", "years", "full refresh (db)"],
                [
                    (f"{p['portfolios']:,}", p["years"], fmt_stats(p["full_db_ms"]))
                    for p in g["by_portfolios"]
                ],
            ),
            "",
            _md_table(
                ["years", "sessions", "portfolios", "full refresh (db)", "nightly (end to end)"],
                [
                    (
                        p["years"],
                        p.get("sessions"),
                        f"{p['portfolios']:,}",
                        fmt_stats(p["full_db_ms"]),
                        fmt_stats(p["incremental_wall_ms"]),
                    )
                    for p in g["by_years"]
                ],
            ),
            "",
            "![cost vs portfolios](growth_portfolios.png) ![cost vs years](growth_years.png)",
        ]
    if "f" in sc:
        f = sc["f"]
        rows = []
        for ph in ("paced", "saturated"):
            for k, v in f["during_full_refresh"][ph]["by_relation"].items():
                i = f["idle"][ph]["by_relation"][k]
                rows.append(
                    (
                        ph,
                        k,
                        fmt_ms(i["p50"]),
                        fmt_ms(i["p99"]),
                        fmt_ms(v["p50"]),
                        fmt_ms(v["p99"]),
                        f"{v['n']:,}",
                    )
                )
        parts += [
            "",
            "## Reads",
            "",
            f"{f['connection']}. Paced: each client sends one query every"
            f" {f['idle']['pace_interval_ms']:.0f} ms (users of an app; the target is"
            " judged on this). Saturated: no pause, so latency is mostly queueing of 32"
            " clients on 2 cores (Little's law: 32 / throughput). During the refresh the"
            " first half is paced, the rest saturated.",
            "",
            _md_table(
                [
                    "phase",
                    "relation",
                    "idle p50",
                    "idle p99",
                    "during refresh p50",
                    "during refresh p99",
                    "queries during refresh",
                ],
                rows,
            ),
            "",
            "![read latency](read_latency.png)",
        ]
        rls = f.get("rls_on_vs_off")
        if rls and rls.get("on") and rls.get("off"):
            rls_rows = [
                (
                    relation,
                    fmt_ms(on["p50"]),
                    fmt_ms(rls["off"]["by_relation"][relation]["p50"]),
                    fmt_ms(on["p99"]),
                    fmt_ms(rls["off"]["by_relation"][relation]["p99"]),
                )
                for relation, on in rls["on"]["by_relation"].items()
            ]
            rls_rows.append(
                (
                    "all",
                    fmt_ms(rls["on"]["p50_ms"]),
                    fmt_ms(rls["off"]["p50_ms"]),
                    fmt_ms(rls["on"]["p99_ms"]),
                    fmt_ms(rls["off"]["p99_ms"]),
                )
            )
            parts += [
                "",
                "### Row-level security on vs off",
                "",
                f"Paced idle reads, {rls.get('method', 'on, then off')}; on / off:"
                f" p50 {rls.get('p50_on_over_off')}, p99 {rls.get('p99_on_over_off')}.",
                "",
                _md_table(["relation", "on p50", "off p50", "on p99", "off p99"], rls_rows),
            ]
    if "i" in sc:
        i = sc["i"]
        conv = ", ".join(f"{k} {v:,}" for k, v in (i.get("conversions_in_snapshots") or {}).items())
        by_ccy = ", ".join(
            f"{k} {v}" for k, v in (i.get("foreign_symbols_by_currency") or {}).items()
        )
        parts += [
            "",
            "## Foreign currencies (scenario i)",
            "",
            f"Dataset {i['dataset']} beside {i['usd_dataset']}: the same rows, with"
            f" {i.get('foreign_position_share') or 0:.1%} of positions in symbols traded in"
            f" another currency ({by_ccy}) and synthetic FX rates with holes; snapshots' values"
            f" converted by rule: {conv}. Order: {i['order']}; {i['nightly']['nights']} night(s)."
            + (
                f" Nightly over {i['history']['years']} y of history ({i['history']['dataset']},"
                f" interleaved with the others): {fmt_stats(i['history']['nightly_short']['wall_ms'])}"
                f" end to end; {i['history']['main_years']} y / {i['history']['years']} y ="
                f" {i['history']['ratio_wall_ms']}x."
                if i.get("history")
                else ""
            ),
            "",
            _md_table(
                ["step", "nightly USD-only", "nightly foreign", "full USD-only", "full foreign"],
                [
                    (
                        s,
                        fmt_stats(i["nightly"]["usd"]["steps_ms"].get(s)),
                        fmt_stats(i["nightly"]["foreign"]["steps_ms"].get(s)),
                        fmt_stats(i["full"]["usd"]["steps_ms"].get(s)),
                        fmt_stats(i["full"]["foreign"]["steps_ms"].get(s)),
                    )
                    for s in i["full"]["foreign"]["steps_ms"]
                ]
                + [
                    (
                        "**total (database)**",
                        fmt_stats(i["nightly"]["usd"]["db_ms"]),
                        fmt_stats(i["nightly"]["foreign"]["db_ms"]),
                        fmt_stats(i["full"]["usd"]["db_ms"]),
                        fmt_stats(i["full"]["foreign"]["db_ms"]),
                    )
                ],
            ),
        ]
    checks = results.get("checks", {})
    if checks:
        parts += [
            "",
            "## Baselines checked against foliodb before timing",
            "",
            _md_table(
                ["check", "portfolios", "rows compared", "equal", "differences"],
                [
                    (
                        k,
                        v.get("portfolios", "all"),
                        f"{v.get('rows_compared', 0):,}",
                        "yes" if v.get("equal") else "**no**",
                        json.dumps(v.get("differences"))[:300] if not v.get("equal") else "",
                    )
                    for k, v in checks.items()
                ],
            ),
            "",
            "Tolerances of compare.py: money relative 1e-9, returns absolute 1e-9, counts and"
            " dates exact. Snapshots are compared on a random sample of portfolios (reading"
            " every row back would dominate the run); chart caches and leaderboards in full.",
        ]
    notes = [
        "foliodb times are `ops.runs` durations (database time) unless marked 'call' / 'end to"
        " end' (measured from Python around `call ops.refresh(...)`).",
        "The ORM baseline (bench/baselines/orm_impl.py) is far too slow to run on every portfolio:"
        " it is measured once on the portfolios of the first users and extrapolated linearly.",
        "pandas (bench/baselines/pandas_impl.py) loads inputs, computes vectorized in batches of"
        " 100 portfolios (snapshots, then their charts), and writes each batch back with binary"
        " COPY, all in one transaction; the leaderboards rank every chart at the end.",
        *meta.get("notes", []),
    ]
    parts += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    errors = results.get("errors") or {}
    if errors:
        parts += ["", "## Errors", ""]
        for k, v in errors.items():
            parts += [f"- scenario {k}:", "", "```", v.strip()[-1500:], "```"]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------
# Plots


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written: list[Path] = []
    g = _get(results, "scenarios", "g")
    if g and g.get("by_portfolios"):
        pts = g["by_portfolios"]
        x = [p["portfolios"] for p in pts]
        med = np.array([p["full_db_ms"]["median"] / 1000 for p in pts])
        lo = med - np.array([p["full_db_ms"]["min"] / 1000 for p in pts])
        hi = np.array([p["full_db_ms"]["max"] / 1000 for p in pts]) - med
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        ax.errorbar(x, med, yerr=[lo, hi], marker="o", capsize=4, label="full refresh (db time)")
        if len(x) >= 1 and x[0] > 0:
            ax.plot(
                x, med[0] * np.array(x) / x[0], "--", color="grey", label="linear from first point"
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("portfolios")
        ax.set_ylabel("seconds")
        ax.set_title(f"Full refresh vs portfolios ({pts[0]['years']:g} years)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out / "growth_portfolios.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if g and g.get("by_years"):
        pts = g["by_years"]
        x = [p["years"] for p in pts]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.6, 4.0))
        for ax, key, title in (
            (ax1, "full_db_ms", "full refresh (db time)"),
            (ax2, "incremental_wall_ms", "nightly incremental (end to end)"),
        ):
            med = np.array([p[key]["median"] / 1000 for p in pts])
            lo = med - np.array([p[key]["min"] / 1000 for p in pts])
            hi = np.array([p[key]["max"] / 1000 for p in pts]) - med
            ax.errorbar(x, med, yerr=[lo, hi], marker="o", capsize=4)
            ax.set_xlabel("years of history")
            ax.set_ylabel("seconds")
            ax.set_ylim(bottom=0)
            ax.set_xticks(x)
            ax.set_title(title)
            ax.grid(True, alpha=0.3)
        fig.suptitle(f"Cost vs history length ({pts[0]['portfolios']:,} portfolios)")
        fig.tight_layout()
        path = out / "growth_years.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    f = _get(results, "scenarios", "f")
    if f:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        busy_f, idle_f = f["during_full_refresh"], f["idle"]
        samples = {
            "idle, paced": idle_f["paced"].get("latencies_ms_sample") or [],
            "during full refresh, paced": busy_f["paced"].get("latencies_ms_sample") or [],
            "during full refresh, saturated": busy_f["saturated"].get("latencies_ms_sample") or [],
        }
        allv = [v for s in samples.values() for v in s if v > 0]
        if allv:
            bins = np.logspace(np.log10(min(allv)), np.log10(max(allv)), 60)
            for label, vals in samples.items():
                if vals:
                    ax.hist(vals, bins=bins, alpha=0.5, label=label, density=True)
            busy = busy_f["paced"]["all"]
            for q, style in (("p50", "-"), ("p99", "--")):
                if busy.get(q):
                    ax.axvline(
                        busy[q],
                        color="black",
                        linestyle=style,
                        linewidth=1,
                        label=f"{q} paced, during refresh: {busy[q]:.2f} ms",
                    )
            ax.axvline(5, color="red", linewidth=1, label="target p99 5 ms")
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms), per query, client side")
        ax.set_ylabel("density (each phase normalized)")
        ax.set_title(f"Read contract at {f['during_full_refresh']['clients']} clients")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / "read_latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write(results: dict[str, Any], out: Path) -> list[Path]:
    """latest.json (with ratios and targets), latest.md and the PNGs under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    results.setdefault("ratios", ratios(results))
    results.setdefault("targets", targets(results))
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    written = [out / "latest.json"]
    (out / "latest.md").write_text(markdown(results))
    written.append(out / "latest.md")
    written += plots(results, out)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results")
    data = json.loads((target / "latest.json").read_text())
    data["ratios"] = ratios(data)
    data["targets"] = targets(data)
    for p in write(data, target):
        print(p)
