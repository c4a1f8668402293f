"""The named refresh scopes (docs/refresh.md): what ops.open_window writes, on hand-worked cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.builders import add_portfolio, add_position, add_prices, refresh

SESSIONS = ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10", "2025-01-13"]  # 01-09 closed
MODELS = Path(__file__).resolve().parents[1] / "dbt_project" / "models"
VOCABULARY = {
    "all",
    "portfolios",
    "portfolios_from_session",
    "portfolio_blocks_from_block",
    "symbols_from_session",
    "exposure_symbols",
    "exposure_subjects",
    "reranking",
    "calendar_changed",
}


def session_idx(conn, day: str) -> int:
    return conn.execute(
        "select session_idx from market.trading_days where calendar = 'XNYS' and session_date = %s",
        [day],
    ).fetchone()[0]


def scopes(conn, mode: str = "incremental", portfolio_id: int | None = None) -> dict:
    """Open a window (rolled back afterwards) and read every scope it wrote."""
    with conn.transaction(force_rollback=True):
        conn.execute("select ops.open_window(0, %s, %s)", [mode, portfolio_id])
        return {
            "portfolios": dict(
                conn.execute("select portfolio_id, from_idx from ops.refresh_scope").fetchall()
            ),
            "symbols": dict(
                conn.execute("select symbol, from_idx from ops.refresh_symbol_scope").fetchall()
            ),
            "exposure_symbols": {
                row[0] for row in conn.execute("select symbol from ops.refresh_exposure_symbols")
            },
            "exposure_subjects": {
                row[0]
                for row in conn.execute("select portfolio_id from ops.refresh_exposure_subjects")
            },
            "is_reranking": conn.execute("select is_reranking from ops.refresh_window").fetchone()[
                0
            ],
        }


def correct(conn, symbol: str, day: str, close: float) -> None:
    conn.execute(
        "update market.prices set close = %s where symbol = %s and price_date = %s",
        [close, symbol, day],
    )


@pytest.fixture
def book(conn):
    """Two private holders of AAA, one public holder of BBB, refreshed in full."""
    for symbol in ("^GSPC", "AAA", "BBB"):
        add_prices(conn, symbol, dict.fromkeys(SESSIONS, 100))
    private_a = add_portfolio(conn, "a")
    private_b = add_portfolio(conn, "b", email="b@example.com")
    public_c = add_portfolio(conn, "c", email="c@example.com", is_public=True)
    add_position(conn, private_a, "AAA", 1, "2025-01-06", 100)
    add_position(conn, private_b, "AAA", 2, "2025-01-06", 100)
    add_position(conn, public_c, "BBB", 3, "2025-01-06", 100)
    assert refresh(conn, "full")["status"] == "succeeded"
    return conn, private_a, private_b, public_c


def test_a_corrected_symbol_scopes_its_holders_and_their_exposures_without_reranking(book) -> None:
    conn, private_a, private_b, _ = book
    correct(conn, "AAA", "2025-01-08", 101)
    got = scopes(conn)
    from_idx = session_idx(conn, "2025-01-08")
    assert got["symbols"] == {"AAA": from_idx}
    assert got["portfolios"] == {private_a: from_idx, private_b: from_idx}
    # AAA is no factor proxy: only AAA is re-fitted, so only its holders' exposures move
    assert got["exposure_symbols"] == {"AAA"}
    assert got["exposure_subjects"] == {private_a, private_b}
    # two private portfolios, neither listed: the leaderboards stay as they are
    assert got["is_reranking"] is False


def test_a_public_portfolio_in_scope_reranks_the_leaderboards(book) -> None:
    conn, _, _, public_c = book
    correct(conn, "BBB", "2025-01-10", 99)
    got = scopes(conn)
    assert got["portfolios"] == {public_c: session_idx(conn, "2025-01-10")}
    assert got["exposure_subjects"] == {public_c}
    assert got["is_reranking"] is True


def test_a_listed_portfolio_made_private_still_reranks_to_leave_the_board(book) -> None:
    conn, _, _, public_c = book
    listed = conn.execute(
        "select count(*) from analytics.fct_leaderboards where portfolio_id = %s", [public_c]
    ).fetchone()[0]
    assert listed > 0
    conn.execute("update core.portfolios set is_public = false where portfolio_id = %s", [public_c])
    got = scopes(conn)
    assert public_c in got["portfolios"]
    assert got["is_reranking"] is True


def test_a_one_portfolio_refresh_recomputes_that_portfolios_exposures_only(book) -> None:
    conn, private_a, _, _ = book
    correct(conn, "AAA", "2025-01-08", 101)  # queued: the other holder waits for the nightly
    got = scopes(conn, "portfolio", private_a)
    assert got["portfolios"] == {private_a: 0}
    assert got["symbols"] == {"AAA": session_idx(conn, "2025-01-08")}
    # AAA has a fit at the as-of session: the portfolio uses it; the re-fit waits for the
    # nightly, which still finds AAA queued
    assert got["exposure_symbols"] == set()
    assert got["exposure_subjects"] == {private_a}
    assert got["is_reranking"] is False
    assert scopes(conn)["exposure_symbols"] == {"AAA"}


def test_onboarding_fits_only_its_own_symbols_that_have_no_fit_yet(book) -> None:
    conn, private_a, _, _ = book
    proxy = conn.execute(
        "select proxy_symbol from market.factors where is_market and is_active"
    ).fetchone()[0]
    # a new portfolio holding a symbol new to foliodb, the market proxy (first prices now,
    # which an incremental refresh answers by re-fitting every symbol) and AAA (fitted)
    add_prices(conn, "NEWCO", dict.fromkeys(SESSIONS, 10))
    add_prices(conn, proxy, dict.fromkeys(SESSIONS, 50))
    newcomer = add_portfolio(conn, "new", email="new@example.com")
    for symbol in ("NEWCO", proxy, "AAA"):
        add_position(conn, newcomer, symbol, 1, "2025-01-06", 10)
    got = scopes(conn, "portfolio", newcomer)
    assert set(got["symbols"]) == {"NEWCO", proxy}
    assert got["exposure_symbols"] == {"NEWCO", proxy}
    assert got["exposure_subjects"] == {newcomer}
    assert scopes(conn)["exposure_symbols"] == {"^GSPC", "AAA", "BBB", "NEWCO", proxy}


def test_a_corrected_factor_proxy_refits_every_priced_symbol_for_every_holder(book) -> None:
    conn, private_a, private_b, public_c = book
    proxy = conn.execute(
        "select proxy_symbol from market.factors where is_market and is_active"
    ).fetchone()[0]
    add_prices(conn, proxy, dict.fromkeys(SESSIONS, 50))
    got = scopes(conn)
    # the proxy's first prices: it enters the symbol scope, so every fit regresses anew
    assert set(got["symbols"]) == {proxy}
    assert got["exposure_symbols"] == {"^GSPC", "AAA", "BBB", proxy}
    assert got["exposure_subjects"] == {private_a, private_b, public_c}


def test_a_chunked_model_reads_its_chunks_and_leaves_the_scope_whole(conn) -> None:
    add_prices(conn, "^GSPC", dict.fromkeys(SESSIONS, 100))
    add_prices(conn, "AAA", dict(zip(SESSIONS, [10, 11, 12, 13, 14], strict=True)))
    portfolios = []
    for n in range(5):
        pid = add_portfolio(conn, f"p{n}", email=f"p{n}@example.com")
        add_position(conn, pid, "AAA", n + 1, "2025-01-06", 10)
        portfolios.append(pid)
    conn.execute("update ops.settings set value = '2' where key = 'refresh_chunk_portfolios'")
    run_id = conn.execute(
        "insert into ops.runs (kind, target, status) values ('refresh', 'full', 'running')"
        " returning run_id"
    ).fetchone()[0]
    with conn.transaction(force_rollback=True):
        conn.execute("select ops.open_window(%s, 'full')", [run_id])
        before = conn.execute(
            "select portfolio_id, from_idx, chunk_no from ops.refresh_scope order by portfolio_id"
        ).fetchall()
        # 5 portfolios in chunks of 2, in portfolio order: 0, 0, 1, 1, 2
        assert [row[2] for row in before] == [0, 0, 1, 1, 2]
        conn.execute("select ops.run_model_steps(%s)", [run_id])
        after = conn.execute(
            "select portfolio_id, from_idx, chunk_no from ops.refresh_scope order by portfolio_id"
        ).fetchall()
        assert after == before
        assert conn.execute("select current_setting('foliodb.refresh_chunk', true)").fetchone() == (
            "",
        )
        # every chunk computed: n + 1 shares of AAA, valued at its close on each session
        values = conn.execute(
            "select portfolio_id, session_date::text, market_value"
            " from analytics.fct_portfolio_snapshots order by portfolio_id, session_idx"
        ).fetchall()
        closes = [10, 11, 12, 13, 14]
        assert values == [
            (pid, day, (n + 1) * close)
            for n, pid in enumerate(portfolios)
            for day, close in zip(SESSIONS, closes, strict=True)
        ]


def test_every_refresh_model_names_its_scope_by_one_word_of_the_vocabulary() -> None:
    for path in sorted(MODELS.rglob("*.sql")):
        text = path.read_text()
        if "materialized='foliodb_refresh'" not in text:
            continue
        assert "delete_where" not in text and "delete_using" not in text, path.name
        words = re.findall(r"refresh_scope='([a-z_]+)'", text)
        assert len(words) == 1 and words[0] in VOCABULARY, (path.name, words)


# A model reads another under the scope's semi join: `select * from {{ ref('x') }} where
# portfolio_id in (select … from scopes)`.
SCOPED_READ = re.compile(
    r"ref\('(\w+)'\)\s*\}\}\s*(?:as\s+\w+\s+)?where\s+(?:\w+\.)?portfolio_id\s+in\s*\(\s*select",
    re.IGNORECASE,
)


def test_a_view_read_under_the_scopes_semi_join_has_no_with(conn) -> None:
    # PostgreSQL flattens a view into its reader only when the view has no WITH of its own;
    # one with a WITH is planned apart, before the semi join, over every portfolio's rows
    # (int_activities_in_base: 78 ms for one portfolio at 10,000). Such views are one select.
    sources = [*MODELS.rglob("*.sql"), *(MODELS.parent / "macros").rglob("*.sql")]
    read = {name for path in sources for name in SCOPED_READ.findall(path.read_text())}
    assert "int_activities_in_base" in read  # the pattern still finds the reads it guards
    views = dict(
        conn.execute(
            "select viewname, definition from pg_views where schemaname = 'analytics'"
            " and viewname = any(%s)",
            [sorted(read)],
        ).fetchall()
    )
    assert "int_activities_in_base" in views
    with_views = sorted(name for name, text in views.items() if re.match(r"\s*with\b", text, re.I))
    assert with_views == []
