"""The pandas baseline works in portfolio batches (issue 16: at 10,000 portfolios the whole
book's frames outgrew the machine's memory), and batching changes nothing it computes.

On the bench's own kind of data (ledgers with sells, dividends, splits and cash; about 20 % of
holdings in a foreign currency), at the tiny scale (50 portfolios) cut into batches of 7:
the snapshots, charts, points and leaderboards equal those of one batch holding the whole
book, row for row; the runner's checks keep only the sample's snapshots, count the values
converted per rule over the whole book, and compare with foliodb batch by batch (every row); and the timed job (`P.run`), which writes each batch
as it goes, leaves in `bench_pandas` exactly the whole book's frames, and foliodb's results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest

from bench import datagen, runner
from bench.baselines import compare
from bench.baselines import pandas_impl as P
from tests.builders import refresh
from tests.test_baselines_fx import _assert_pandas_equals_foliodb

BATCH = 7


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


def test_batches_compute_what_the_whole_book_does(
    db_url: str, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = datagen.generate(
        db_url, "tiny", seed=7, **dict(runner.LEDGER_DATASET), foreign_share=0.2
    )
    assert summary["ledger_portfolios"] > 0 and summary["foreign_position_share"] > 0
    assert refresh(conn, "full")["status"] == "succeeded"
    inputs = P.load(db_url)
    n_portfolios = len(inputs.portfolios)
    with np.errstate(invalid="ignore", divide="ignore"):
        whole = P.compute_snapshots(inputs, batch=10 * n_portfolios)
        charts, points = P.compute_charts(whole, inputs.sessions)
        ranked, excluded = P.compute_leaderboards(
            charts, inputs.portfolios, inputs.rank_tie_tolerance
        )
        batches = list(P.snapshot_batches(inputs, batch=BATCH))
    assert len(batches) == -(-n_portfolios // BATCH)
    assert all(b["portfolio_id"].nunique() <= BATCH for b in batches)
    assert (whole["n_fx_last_rate"] > 0).any() and (whole["realized_gain"] != 0).any()
    keys = ["portfolio_id", "session_date"]
    pd.testing.assert_frame_equal(
        _sorted(pd.concat(batches, ignore_index=True), keys), _sorted(whole, keys)
    )

    # the runner's frames, in batches: every chart, the sample's snapshots, the whole book's
    # conversion counts
    monkeypatch.setattr(P, "BATCH_PORTFOLIOS", BATCH)
    sample = sorted(int(x) for x in inputs.portfolios["portfolio_id"])[::5]
    frames = runner.pandas_frames(inputs, keep=sample)
    assert set(frames["snapshots"]["portfolio_id"]) == set(sample)
    pd.testing.assert_frame_equal(
        _sorted(frames["snapshots"], keys),
        _sorted(whole[whole["portfolio_id"].isin(sample)], keys),
    )
    chart_keys = ["portfolio_id", "period"]
    pd.testing.assert_frame_equal(
        _sorted(frames["chart_caches"], chart_keys), _sorted(charts, chart_keys)
    )
    pd.testing.assert_frame_equal(
        _sorted(frames["leaderboards"], ["period", "portfolio_id"]),
        _sorted(ranked, ["period", "portfolio_id"]),
    )
    counts = frames["fx_counts"].iloc[0]
    for column in runner.FX_COUNTS:
        assert counts[column] == whole[column].sum()
    _assert_pandas_equals_foliodb(db_url, frames)

    # the check against foliodb reads and compares batch by batch (here 7 portfolios, as the
    # monkeypatched P.BATCH_PORTFOLIOS): every row compared, and a difference in any batch
    # found, as by one batch holding every portfolio
    ids = sorted(int(x) for x in whole["portfolio_id"].unique())
    tables = {"snapshots": whole, "chart_caches": charts, "chart_points": points}
    at_once = runner.check_against_foliodb(db_url, "pandas", tables, ids, batch=len(ids))
    batched = runner.check_against_foliodb(db_url, "pandas", tables, ids)
    assert at_once["equal"] and batched["equal"]
    assert batched["rows_compared"] == at_once["rows_compared"] == sum(map(len, tables.values()))
    off = whole.copy()
    late = off.index[off["portfolio_id"] == ids[-1]][-1]  # in the last batch
    off.loc[late, "market_value"] += 0.01
    wrong = runner.check_against_foliodb(db_url, "pandas", {"snapshots": off}, ids)
    assert (
        not wrong["equal"] and "market_value: 1 rows differ" in wrong["differences"]["snapshots"][0]
    )

    # the timed job writes batch by batch, in one transaction: the whole book's rows
    stats = P.run(db_url, write=True, batch=BATCH)
    assert stats["snapshots"] == len(whole) and stats["points"] == len(points)
    assert stats["charts"] == len(charts) and stats["ranked"] == len(ranked)
    diffs = compare.compare_schema(
        db_url,
        P.SCHEMA,
        {
            "snapshots": whole,
            "chart_caches": charts,
            "chart_points": points,
            "leaderboards": ranked,
            "leaderboard_exclusions": excluded,
        },
    )
    assert diffs == {table: [] for table in diffs}
