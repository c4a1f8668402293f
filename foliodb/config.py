"""Where foliodb keeps its state and how it reaches its database.

Everything is derived from the environment so that the CLI, dbt and the tests agree:

- ``DATABASE_URL``: use that server and never start the embedded one.
- ``FOLIO_PG_PORT`` (default 54329): port of the embedded cluster.
- ``FOLIO_HOME``: project directory (default: the checkout this package lives in).
- ``FOLIO_PG_BIN``: directory holding ``pg_ctl`` and ``initdb`` (default: PostgreSQL 15's).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DEFAULT_PORT = 54329
DEFAULT_DBNAME = "foliodb"
SUPERUSER = "folio"
PG_MAJOR = 15


def project_root() -> Path:
    env = os.environ.get("FOLIO_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[1]


def pg_bin_dir() -> Path:
    env = os.environ.get("FOLIO_PG_BIN")
    if env:
        return Path(env)
    return Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")


def external_url() -> str | None:
    """The server named by DATABASE_URL, if any: foliodb then never starts its own."""
    return os.environ.get("DATABASE_URL") or None


def port() -> int:
    return int(os.environ.get("FOLIO_PG_PORT", DEFAULT_PORT))


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class LocalPaths:
    """Files of the embedded cluster."""

    state: Path  # .folio (or a fallback the postgres OS user can reach)
    data: Path
    socket_dir: Path
    log: Path


def local_paths(state_dir: Path | None = None) -> LocalPaths:
    state = state_dir or (project_root() / ".folio")
    return LocalPaths(
        state=state,
        data=state / "pg",
        socket_dir=state / "run",
        log=state / "pg.log",
    )


def fallback_state_dir() -> Path:
    """Used as root when the postgres OS user cannot traverse the project directory."""
    return Path("/var/tmp") / f"foliodb-{_short_hash(str(project_root()))}"


def local_url(dbname: str = DEFAULT_DBNAME, socket_dir: Path | None = None) -> str:
    sock = socket_dir or local_paths().socket_dir
    return f"postgresql://{SUPERUSER}@/{dbname}?host={quote(str(sock), safe='')}&port={port()}"


def database_url(dbname: str | None = None) -> str:
    """URL of the database foliodb works in (DATABASE_URL, else the embedded cluster)."""
    ext = external_url()
    if ext:
        return with_dbname(ext, dbname) if dbname else ext
    from foliodb.cluster import current_socket_dir

    return local_url(dbname or DEFAULT_DBNAME, current_socket_dir())


def with_dbname(url: str, dbname: str) -> str:
    """Same server, another database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)
