"""The layout rules that keep foliodb ready for Citus (docs/scaling.md), checked on the live schema.

Portfolio data is distributed by `portfolio_id`; market data, users and settings are reference
tables; the refresh's control tables stay on the coordinator. These tests read the catalog of a
fully installed database (migrations and dbt models), so a new table, index, foreign key or
refresh function that breaks a rule fails here, whoever adds it.
"""

from __future__ import annotations

import re

import psycopg

# Tables with a portfolio_id column that are not distributed: logs of the coordinator's own
# work (docs/scaling.md, "Coordinator-local"). A portfolio table is distributed unless named here.
COORDINATOR_LOCAL = {
    "core.quarantine",  # refused input rows, written by the import functions' error path
    "ops.dirty_portfolios",  # the change queue, drained by the coordinator's refresh
    "ops.refresh_isolated",  # per-run log of isolated portfolios
    "ops.refresh_excluded",  # portfolios held out of refreshes until fixed
}

# The one unique key that cannot lead with portfolio_id: a user's portfolio names. On Citus it
# moves to a small reference table of names (docs/scaling.md, "Changes a Citus move needs").
NAME_REGISTRY = {"core.portfolios_user_id_name_key"}

# The one refresh step that is global by nature: a re-rank orders every public portfolio of a
# period, so it rewrites the whole leaderboard (on Citus: computed on the coordinator from the
# shards' period returns, docs/scaling.md "What pushes down").
GLOBAL_STEPS = {"analytics.fct_leaderboards"}

DISTRIBUTED_SCHEMAS = ("core", "analytics", "ops")


def _distributed_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        """
        select classes.oid::regclass::text
        from pg_class as classes
        inner join pg_namespace as namespaces on classes.relnamespace = namespaces.oid
        where namespaces.nspname = any(%s)
            and classes.relkind in ('r', 'p')
            and exists (
                select from pg_attribute as attributes
                where attributes.attrelid = classes.oid and attributes.attname = 'portfolio_id'
                    and not attributes.attisdropped
            )
        order by 1
        """,
        (list(DISTRIBUTED_SCHEMAS),),
    ).fetchall()
    return [name for (name,) in rows if name not in COORDINATOR_LOCAL]


def test_the_portfolio_tables_are_found(conn: psycopg.Connection) -> None:
    tables = _distributed_tables(conn)
    # the core tables and the refresh's marts are all there (the rules below are not vacuous)
    for expected in ("core.portfolios", "core.positions", "core.valuations", "ops.refresh_scope"):
        assert expected in tables
    assert sum(name.startswith("analytics.") for name in tables) >= 5, tables


def test_every_portfolio_table_keys_and_unique_indexes_lead_with_portfolio_id(
    conn: psycopg.Connection,
) -> None:
    tables = _distributed_tables(conn)
    rows = conn.execute(
        """
        select
            indexes.indrelid::regclass::text as table_name,
            indexes.indexrelid::regclass::text as index_name,
            indexes.indisprimary,
            attributes.attname as first_column
        from pg_index as indexes
        left join pg_attribute as attributes
            on attributes.attrelid = indexes.indrelid and attributes.attnum = indexes.indkey[0]
        where indexes.indrelid = any(%s::regclass[]) and indexes.indisunique
        """,
        (tables,),
    ).fetchall()
    with_primary_key = {table for table, _, is_primary, _ in rows if is_primary}
    assert set(tables) - with_primary_key == set(), "portfolio tables without a primary key"
    offending = [
        f"{table}: {index} leads with {first}"
        for table, index, _, first in rows
        if first != "portfolio_id" and index not in NAME_REGISTRY
    ]
    assert offending == []


def test_foreign_keys_between_portfolio_tables_stay_within_one_portfolio(
    conn: psycopg.Connection,
) -> None:
    tables = set(_distributed_tables(conn))
    rows = conn.execute(
        """
        select
            constraints.conname,
            constraints.conrelid::regclass::text,
            constraints.confrelid::regclass::text,
            array(
                -- (referencing column, referenced column) pairs, in key order
                select array[source_columns.attname::text, target_columns.attname::text]
                from unnest(constraints.conkey, constraints.confkey) with ordinality
                    as keys (source_attnum, target_attnum, ord)
                inner join pg_attribute as source_columns
                    on source_columns.attrelid = constraints.conrelid
                    and source_columns.attnum = keys.source_attnum
                inner join pg_attribute as target_columns
                    on target_columns.attrelid = constraints.confrelid
                    and target_columns.attnum = keys.target_attnum
                order by keys.ord
            )
        from pg_constraint as constraints
        where constraints.contype = 'f'
        """
    ).fetchall()
    checked = 0
    for name, source, target, pairs in rows:
        if target in tables and source not in tables:
            # a reference or local table may not point into distributed data
            assert source in COORDINATOR_LOCAL, (
                f"{name}: {source} references portfolio table {target}"
            )
        if source in tables and target in tables:
            checked += 1
            # co-located: portfolio_id matched to portfolio_id, in the same key position
            assert ["portfolio_id", "portfolio_id"] in pairs, (
                f"{name}: {source} -> {target} {pairs}"
            )
    assert checked >= 2  # positions -> portfolios, valuations -> positions


def test_every_refresh_function_on_a_portfolio_table_deletes_by_portfolio_id(
    conn: psycopg.Connection,
) -> None:
    """A refresh statement keyed by portfolio_id runs on each shard alone (pushed down)."""
    tables = {name for name in _distributed_tables(conn) if name.startswith("analytics.")}
    rows = conn.execute(
        """
        select procs.oid::regprocedure::text, pg_get_functiondef(procs.oid)
        from pg_proc as procs
        inner join pg_namespace as namespaces on procs.pronamespace = namespaces.oid
        where namespaces.nspname = 'analytics' and procs.proname like 'refresh\\_\\_%%'
        """
    ).fetchall()
    assert rows, "no refresh functions installed"
    checked = 0
    for signature, body in rows:
        table = "analytics." + signature.split("refresh__", 1)[1].split("(", 1)[0]
        body = body.replace('"', "")
        if table not in tables or table in GLOBAL_STEPS:
            continue
        own = rf"delete\s+from\s+{re.escape(table)}\b(.*?);"
        deletes = re.findall(own, body, flags=re.IGNORECASE | re.DOTALL)
        assert deletes, f"{signature} never deletes from {table}"
        for delete in deletes:
            where = re.split(r"\bwhere\b", delete, maxsplit=1, flags=re.IGNORECASE)
            assert len(where) == 2 and "portfolio_id" in where[1], (
                f"{signature}: a delete not keyed by portfolio_id: {delete[:200]}"
            )
        checked += 1
    assert checked >= 5
