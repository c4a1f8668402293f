"""Who can do what, read from the database's catalog (``folio db roles``).

The roles and their grants are defined in sql/migrations/0070_trust_roles.sql and
sql/routines/90_grants.sql; this module only reports what the catalog says, so the report
cannot drift from what the server enforces.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from foliodb import config

SCHEMAS = ("core", "market", "ops", "analytics", "app")
# The roles by purpose (README "Who can do what"); each `folio` command declares one of them
# (cli.base) and library steps that need another name it where they connect.
ADMIN = config.SUPERUSER  # the login itself: cluster, migrations, schedule
OWNER = "folio_owner"  # owns the objects; dbt runs as it
REFRESH = "folio_refresh"  # ops.refresh, the pg_cron jobs, operator reads of core/ops/analytics
INGEST = "folio_ingest"  # market data
WRITER = "folio_writer"  # the import and edit functions, acting for a portfolio's user
READER = "folio_reader"  # the app views
ROLES = (
    ADMIN,
    OWNER,
    REFRESH,
    INGEST,
    WRITER,
    READER,
    "folio_app",
    "folio_trusted",
)
LISTED_FUNCTIONS = 8  # more executable functions in a schema than this: a count

REPORT_SQL = """
with roles as (
    select roles.oid, roles.rolname, roles.rolcanlogin, roles.rolsuper, roles.rolbypassrls,
        roles.rolconnlimit, array_position(%(roles)s::text[], roles.rolname::text) as ord
    from pg_roles as roles
    where roles.rolname = any(%(roles)s::text[])
        or roles.rolname in (select logins.login_role from app.user_logins as logins)
),

schemas as (
    select namespaces.oid, namespaces.nspname
    from pg_namespace as namespaces
    where namespaces.nspname = any(%(schemas)s::text[])
),

relations as (
    select classes.oid, schemas.nspname
    from pg_class as classes
    inner join schemas on classes.relnamespace = schemas.oid
    where classes.relkind in ('r', 'p', 'v', 'm')
),

reads as (
    select roles.rolname, relations.nspname, count(*) as n,
        bool_and(has_schema_privilege(roles.oid, relations.nspname, 'usage')) as can_name
    from roles
    cross join relations
    where has_table_privilege(roles.oid, relations.oid, 'select')
    group by roles.rolname, relations.nspname
),

writes as (
    select roles.rolname, relations.nspname, count(*) as n
    from roles
    cross join relations
    where has_schema_privilege(roles.oid, relations.nspname, 'usage')
        and (
            has_table_privilege(roles.oid, relations.oid, 'insert')
            or has_table_privilege(roles.oid, relations.oid, 'update')
            or has_table_privilege(roles.oid, relations.oid, 'delete')
        )
    group by roles.rolname, relations.nspname
),

executes as (
    select roles.rolname, schemas.nspname, count(*) as n,
        array_agg(procs.proname::text order by procs.proname) as names
    from roles
    cross join schemas
    inner join pg_proc as procs on procs.pronamespace = schemas.oid
    where has_schema_privilege(roles.oid, schemas.nspname, 'usage')
        and has_function_privilege(roles.oid, procs.oid, 'execute')
    group by roles.rolname, schemas.nspname
),

owns as (
    select roles.rolname, count(*) as n
    from roles
    inner join pg_class as classes on classes.relowner = roles.oid
    inner join schemas on classes.relnamespace = schemas.oid
    where classes.relkind in ('r', 'p', 'v', 'm')
    group by roles.rolname
)

select
    roles.rolname as role,
    roles.rolcanlogin as can_login,
    roles.rolsuper as superuser,
    roles.rolbypassrls as bypass_rls,
    roles.rolconnlimit as connection_limit,
    has_database_privilege(roles.oid, current_database(), 'temporary') as temporary_tables,
    (
        select substring(config.item from 'statement_timeout=(.*)')
        from pg_db_role_setting as settings
        cross join unnest(settings.setconfig) as config (item)
        where settings.setrole = roles.oid and settings.setdatabase = 0
            and config.item like 'statement\\_timeout=%%'
    ) as statement_timeout,
    shobj_description(roles.oid, 'pg_authid') as purpose,
    (select logins.user_id from app.user_logins as logins where logins.login_role = roles.rolname)
        as acts_for_user_id,
    coalesce((
        select array_agg(groups.rolname::text order by groups.rolname)
        from pg_auth_members as members
        inner join pg_roles as groups on members.roleid = groups.oid
        where members.member = roles.oid
    ), '{}') as member_of,
    (select owns.n from owns where owns.rolname = roles.rolname) as owned_relations,
    coalesce((
        select jsonb_agg(jsonb_build_object('schema', reads.nspname, 'n', reads.n, 'can_name', reads.can_name)
            order by array_position(%(schemas)s::text[], reads.nspname::text))
        from reads where reads.rolname = roles.rolname
    ), '[]') as reads,
    coalesce((
        select jsonb_agg(jsonb_build_object('schema', writes.nspname, 'n', writes.n)
            order by array_position(%(schemas)s::text[], writes.nspname::text))
        from writes where writes.rolname = roles.rolname
    ), '[]') as writes,
    coalesce((
        select jsonb_agg(jsonb_build_object('schema', executes.nspname, 'n', executes.n, 'names', executes.names)
            order by array_position(%(schemas)s::text[], executes.nspname::text))
        from executes where executes.rolname = roles.rolname
    ), '[]') as executes
from roles
order by roles.ord nulls last, roles.rolname
"""


def _describe(row: dict[str, Any]) -> dict[str, Any]:
    reads = []
    for item in row["reads"]:
        if item["can_name"]:
            reads.append(f"{item['schema']} ({item['n']})")
        else:
            reads.append(f"{item['schema']} ({item['n']}, only through the app views)")
    writes = [f"{item['schema']} ({item['n']})" for item in row["writes"]]
    if row["temporary_tables"]:
        writes.append("temporary tables")
    executes = []
    for item in row["executes"]:
        if item["n"] <= LISTED_FUNCTIONS:
            executes.append(", ".join(f"{item['schema']}.{name}" for name in item["names"]))
        else:
            executes.append(f"{item['schema']} ({item['n']} functions)")
    owns = []
    if row["owned_relations"]:
        owns.append(f"{row['owned_relations']} relations")
    purpose = row["purpose"]
    if row["acts_for_user_id"] is not None:
        purpose = f"per-user login role: acts for user {row['acts_for_user_id']} only"
    if row["role"] == config.SUPERUSER and not purpose:
        purpose = "bootstrap superuser: the cluster's admin, by peer authentication only"
    return {
        "role": row["role"],
        "purpose": purpose,
        "can_login": row["can_login"],
        "superuser": row["superuser"],
        "bypass_rls": row["bypass_rls"],
        "connection_limit": row["connection_limit"],
        "temporary_tables": row["temporary_tables"],
        "statement_timeout": row["statement_timeout"],
        "member_of": row["member_of"],
        "owns": owns,
        "reads": reads,
        "writes": writes,
        "executes": executes,
    }


def roles_report(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """One entry per foliodb role (and per-user login role), from the catalog read on ``conn``."""
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(REPORT_SQL, {"roles": list(ROLES), "schemas": list(SCHEMAS)})
        .fetchall()
    )
    return [_describe(row) for row in rows]


DATABASE_PRIVILEGES = "routines/91_database_privileges.sql"


def apply_database_privileges(url: str) -> None:
    """Apply the database's own privileges (who may create temporary tables) to the database
    of ``url``, as `folio db migrate` does: a database cloned by `create database … template …`
    starts with PostgreSQL's defaults instead (tests' clones call this)."""
    from foliodb import migrate

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((migrate.sql_dir() / DATABASE_PRIVILEGES).read_text())
