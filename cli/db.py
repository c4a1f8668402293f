"""`folio db …`: the embedded cluster and migrations."""

from __future__ import annotations

import os
import subprocess

import click
from rich.table import Table

from cli import base
from cli.common import emit_json, err, out
from foliodb import cluster, config, migrate, security
from foliodb.db import connect
from foliodb.errors import FolioError
from foliodb.security import ADMIN
from ingest import calendar


@base.group()
def db() -> None:
    """The database: start, stop, migrate and inspect it.

    Without DATABASE_URL foliodb runs its own PostgreSQL 15 + pg_cron cluster under
    .folio/pg (port 54329, FOLIO_PG_PORT to change; socket in .folio/run, only its owner
    can enter; TCP on 127.0.0.1 with `folio db up --tcp`).

    Example:

        folio db up && folio db migrate && folio db status
    """


@db.command(role=ADMIN)
@click.option(
    "--tcp/--no-tcp",
    default=None,
    help="Also listen on 127.0.0.1 (scram passwords), or socket only. Default: as before, "
    "else FOLIO_PG_TCP, else socket only.",
)
def up(tcp: bool | None) -> None:
    """Initialize (first time) and start the embedded cluster; create the database.

    A no-op when it already runs (its authentication files are rewritten and reloaded). As
    root the server runs as the `postgres` OS user. Only its owner can enter: Unix socket
    only, peer authentication for the admin role, scram passwords for app roles.

    Example:

        folio db up
        folio db up --tcp      # apps running as another OS user connect by TCP
    """
    res = cluster.up(tcp=tcp)
    if config.external_url():
        err.print("DATABASE_URL is set: using that server, not starting one.")
        return
    state = (
        "initialized and started"
        if res.initialized
        else "started"
        if res.started
        else "restarted"
        if res.restarted
        else "running"
    )
    where = "socket and 127.0.0.1" if res.tcp else "socket only"
    err.print(f"embedded PostgreSQL {state} on port {config.port()} ({where})")
    click.echo(res.url)


@db.command(role=ADMIN)
def down() -> None:
    """Stop the embedded cluster (its data is kept).

    Example:

        folio db down
    """
    stopped = cluster.down()
    err.print("stopped" if stopped else "was not running")


@db.command(role=ADMIN)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(yes: bool) -> None:
    """Stop the embedded cluster and delete all its data.

    Example:

        folio db reset --yes && folio db up && folio db migrate
    """
    if not yes:
        click.confirm(f"Delete {cluster.paths().data} and everything in it?", abort=True)
    cluster.reset()
    err.print("embedded cluster deleted")


@db.command(role=ADMIN)
@click.option(
    "--role",
    "role",
    type=click.Choice(list(cluster.APP_LOGIN_ROLES)),
    help="A URL that logs in as this app role, with its generated password (a secret).",
)
@click.option("--tcp", is_flag=True, help="With --role: by TCP on 127.0.0.1 instead of the socket.")
def url(role: str | None, tcp: bool) -> None:
    """Print the connection URL foliodb uses (for psql, dbt), or an app role's (for apps).

    Without --role: the admin URL (peer authentication, no password). With --role the URL
    holds that role's password: it is a secret (stderr says so).

    Example:

        psql "$(folio db url)"
        APP_DATABASE_URL="$(folio db url --role folio_app)"
    """
    if tcp and not role:
        raise click.UsageError("--tcp needs --role (the admin role logs in by the socket only)")
    if role:
        text = cluster.role_url(role, tcp=tcp)
        err.print(
            f"note: this URL holds the password of {role} (a secret, from "
            f"{cluster.secrets_dir() / role}); keep it out of logs and shell history."
        )
        click.echo(text)
        return
    click.echo(config.database_url())


@db.command(context_settings={"ignore_unknown_options": True}, role=ADMIN)
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql(psql_args: tuple[str, ...]) -> None:
    """Open psql on the foliodb database; extra arguments go to psql.

    Example:

        folio db psql -c 'select * from app.run_status'
    """
    binary = config.pg_bin_dir() / "psql"
    exe = str(binary) if binary.exists() else "psql"
    os.execvp(exe, [exe, config.database_url(), *psql_args])


@db.command("migrate", role=ADMIN)
def migrate_cmd() -> None:
    """Apply pending SQL migrations, then the re-runnable routines; fill the calendar.

    Each migration runs once, in its own transaction, and is recorded with a checksum; an
    applied migration that was edited is refused.

    Example:

        folio db migrate
    """
    res, added = calendar.prepare()
    for name in res.applied:
        err.print(f"applied {name}")
    err.print(
        f"migrations: {len(res.applied)} applied, {res.already} already current; "
        f"{res.routines} routine files re-applied"
    )
    if added:
        err.print(f"trading calendar: {added} sessions added")
    if not config.external_url():
        cluster.ensure_secrets()


def gather_status() -> dict:
    with connect() as conn:
        server = conn.execute("show server_version").fetchone()[0]
        cron = conn.execute(
            "select extversion from pg_extension where extname = 'pg_cron'"
        ).fetchone()
        if cron is None:
            cron_db = conn.execute("select current_setting('cron.database_name', true)").fetchone()
            cron_version = f"in database {cron_db[0]}" if cron_db and cron_db[0] else "not loaded"
        else:
            cron_version = cron[0]
        size = conn.execute(
            "select pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
        applied, pending = migrate.status(conn)
        return {
            "url": config.mask_url(config.database_url()),
            "server_version": server,
            "pg_cron_version": cron_version,
            "database": conn.info.dbname,
            "database_size": size[0],
            "migrations_applied": applied,
            "migrations_pending": pending,
            "migrations_current": pending == 0,
        }


@db.command(role=ADMIN)
@base.json_option("Print JSON instead of a table.")
def status(as_json: bool) -> None:
    """Server and pg_cron versions, database size, whether migrations are current.

    Example:

        folio db status --json
    """
    info = gather_status()
    if as_json:
        emit_json(info)
        return
    table = Table(title="foliodb database", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")  # (cli) a long URL folds at 80 columns, never "…"
    table.add_row("PostgreSQL", info["server_version"])
    table.add_row("pg_cron", info["pg_cron_version"])
    table.add_row("database", f"{info['database']} ({info['database_size']})")
    current = "current" if info["migrations_current"] else f"{info['migrations_pending']} pending"
    table.add_row("migrations", f"{info['migrations_applied']} applied, {current}")
    table.add_row("url", info["url"])
    out.print(table)
    if not info["migrations_current"]:
        raise FolioError("migrations are not current: run `folio db migrate`")


@db.command(role=ADMIN)
@base.json_option("Print JSON instead of a table.")
def roles(as_json: bool) -> None:
    """Who can do what: foliodb's roles, read from the database's catalog.

    For each role: whether it logs in, its connection limit and statement timeout, what it
    is a member of, and what it may read, write and execute in foliodb's schemas.

    Example:

        folio db roles
    """
    with connect() as conn:
        rows = security.roles_report(conn)
    if as_json:
        emit_json(rows)
        return
    table = Table(title="who can do what", show_lines=True)
    table.add_column("role", style="bold", no_wrap=True)
    table.add_column("login")
    table.add_column("may")
    for row in rows:
        login = "yes" if row["can_login"] else "no"
        if row["can_login"] and row["connection_limit"] >= 0:
            login += f", max {row['connection_limit']}"
        if row["statement_timeout"]:
            login += f", timeout {row['statement_timeout']}"
        if row["bypass_rls"]:
            login += ", bypassrls"
        if row["superuser"]:
            login += ", superuser"
        may = [row["purpose"] or ""]
        for key, label in (
            ("member_of", "member of"),
            ("owns", "owns"),
            ("reads", "reads"),
            ("writes", "writes"),
            ("executes", "executes"),
        ):
            if row[key]:
                may.append(f"{label}: {', '.join(row[key])}")
        table.add_row(row["role"], login, "\n".join(may))
    out.print(table)


__all__ = ["db", "subprocess"]
