"""Connections to the foliodb database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import psycopg

from foliodb import config
from foliodb.errors import FolioError

# The role a command declared (cli.base): connections opened while it runs take it unless
# they name their own. None: the login's own role (the admin, for db and schedule commands).
_command_role: ContextVar[str | None] = ContextVar("foliodb_command_role", default=None)


@contextlib.contextmanager
def running_as(role: str | None) -> Iterator[None]:
    """Every :func:`connect` inside the block that names no role takes ``role``."""
    token = _command_role.set(role)
    try:
        yield
    finally:
        _command_role.reset(token)


def default_role() -> str | None:
    """The role :func:`connect` takes when it is given none (see :func:`running_as`)."""
    return _command_role.get()


def _embedded_hint() -> str:
    """What to do when the embedded cluster cannot be reached."""
    from foliodb import cluster

    try:
        running_port = cluster._running_port(cluster.paths())
    except OSError:
        running_port = None
    if running_port is not None and cluster.is_running() and running_port != config.port():
        return (
            f" The embedded cluster runs on port {running_port}, not {config.port()}: "
            f"unset FOLIO_PG_PORT or set FOLIO_PG_PORT={running_port}."
        )
    return " Start the embedded server with `folio db up`."


def connect(url: str | None = None, role: str | None = None, **kwargs) -> psycopg.Connection:
    """Open a connection; a server that is not there becomes an error a person can act on.

    A URL, as opening a session is this function's job: the library takes the connection it
    returns (the command chooses the role and opens it; a URL only where a new session is the
    point, docs/architecture.md).

    ``role``: the least role for the job (``folio_refresh``, ``folio_ingest``): the session
    takes it (``set role``) when its login may, so the work runs with that role's privileges
    only; a login that is not a member (an external server's own user) keeps its identity.
    Without ``role``, the role of the running command (:func:`running_as`), if any.
    """
    role = role or default_role()
    if role == config.SUPERUSER:
        role = None  # the login itself
    target = url or config.database_url()
    try:
        conn = psycopg.connect(target, **kwargs)
    except psycopg.OperationalError as exc:
        hint = "" if config.external_url() else _embedded_hint()
        message = str(exc).strip()
        if config.external_url():
            message = message.replace(config.external_url() or "", config.mask_url(target))
        raise FolioError(f"cannot connect to the database: {message}.{hint}") from exc
    if role:
        try:
            take_role(conn, role)
        except BaseException:
            conn.close()
            raise
    return conn


def take_role(conn: psycopg.Connection, role: str) -> bool:
    """``set role`` for the rest of the session, if the login is a member of ``role``."""
    from psycopg import sql

    may = may_take_role(conn, role)
    if may:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
    if not conn.autocommit:
        conn.commit()  # a SET in a transaction rolled back later would be undone
    return may


def may_take_role(conn: psycopg.Connection, role: str) -> bool:
    """Whether the session's login may ``set role`` to ``role`` (it exists and the login is a
    member); a login that is not (an external server's own user) keeps its identity."""
    from psycopg.rows import tuple_row

    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "select exists (select from pg_roles where rolname = %(role)s)"
            " and pg_has_role(session_user, %(role)s, 'member')",
            {"role": role},
        )
        .fetchone()
    )
    return bool(row and row[0])


def act_for_user(conn: psycopg.Connection, user_id: int | None) -> None:
    """Act for one foliodb user for the rest of the current transaction (``foliodb.user_id``,
    as a trusted app backend does): the write triggers then refuse other users' portfolios.
    ``None`` clears it (the operator's session acts for everyone)."""
    conn.execute(
        "select set_config('foliodb.user_id', %s, true)",
        ["" if user_id is None else str(user_id)],
    )


@contextlib.contextmanager
def acting_as(conn: psycopg.Connection, role: str, user_id: int | None) -> Iterator[None]:
    """Inside the block, ``conn`` works as ``role`` (when its login may) acting for foliodb
    user ``user_id``, in one transaction (a savepoint when the caller has one open).

    Both are transaction-local (``set_config(…, true)``): leaving the block normally puts the
    caller's role and acting user back as they were, and an error rolls back everything the
    block did, the settings with it. So a library function may write as another role on the
    caller's connection and hand it back unchanged (the edits read as the refresh role, then
    write as the app writer acting for the owner).
    """
    from psycopg.rows import tuple_row

    with conn.transaction():
        cur = conn.cursor(row_factory=tuple_row)
        saved_role, saved_user = cur.execute(
            "select current_setting('role'), current_setting('foliodb.user_id', true)"
        ).fetchone()
        if may_take_role(conn, role):
            cur.execute("select set_config('role', %s, true)", [role])
        act_for_user(conn, user_id)
        yield
        cur.execute(
            "select set_config('role', %s, true), set_config('foliodb.user_id', %s, true)",
            [saved_role, saved_user or ""],
        )
