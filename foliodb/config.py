"""Where foliodb keeps its state and how it reaches its database.

Everything is derived from the environment so that the CLI, dbt and the tests agree:

- ``DATABASE_URL``: use that server and never start the embedded one.
- ``FOLIO_PG_PORT`` (default: the port the embedded cluster was last started on, recorded in
  ``.folio/port``, else 54329): port of the embedded cluster.
- ``FOLIO_PG_TCP=1``: the embedded cluster also listens on 127.0.0.1 (``folio db up --tcp``);
  by default it listens on its Unix socket only.
- ``FOLIO_HOME``: project directory (default: the checkout this package lives in).
- ``FOLIO_PG_BIN``: directory holding ``pg_ctl`` and ``initdb`` (default: PostgreSQL 15's).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
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
    """FOLIO_PG_PORT, else the port the embedded cluster was started on, else the default."""
    env = os.environ.get("FOLIO_PG_PORT")
    if env:
        return int(env)
    remembered = remembered_port()
    return remembered if remembered is not None else DEFAULT_PORT


def port_is_explicit() -> bool:
    return bool(os.environ.get("FOLIO_PG_PORT"))


PORT_FILE = "port"


def remembered_port() -> int | None:
    """The port recorded by the last `folio db up` of this project's cluster, if any."""
    for state in (project_root() / ".folio", fallback_state_dir()):
        try:
            text = (state / PORT_FILE).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None


def tcp_requested() -> bool:
    return os.environ.get("FOLIO_PG_TCP", "").strip().lower() in {"1", "true", "yes", "on"}


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


def local_url(
    dbname: str = DEFAULT_DBNAME,
    socket_dir: Path | None = None,
    user: str = SUPERUSER,
    password: str | None = None,
    tcp: bool = False,
) -> str:
    """A URL of the embedded cluster: by its Unix socket (peer for the admin role, scram for
    app roles), or by TCP on 127.0.0.1 (scram) when ``tcp``."""
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    if tcp:
        return f"postgresql://{auth}@127.0.0.1:{port()}/{dbname}"
    sock = socket_dir or local_paths().socket_dir
    return f"postgresql://{auth}@/{dbname}?host={quote(str(sock), safe='')}&port={port()}"


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for status output and logs)."""
    from psycopg.conninfo import conninfo_to_dict

    if "://" in url:
        masked = re.sub(r"(://[^:/@?#]*:)[^/?#]*@", r"\1***@", url)
        masked = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", masked)
    else:  # key=value connection string
        masked = re.sub(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)
    try:
        if conninfo_to_dict(masked).get("password") not in (None, "***"):
            return "(a connection string holding a password)"
    except Exception:  # noqa: BLE001 - unparsable: show nothing of it
        return "(a connection string that cannot be parsed)"
    return masked


def database_url(dbname: str | None = None) -> str:
    """URL of the database foliodb works in (DATABASE_URL, else the embedded cluster)."""
    ext = external_url()
    if ext:
        return with_dbname(ext, dbname) if dbname else ext
    return local_url(dbname or DEFAULT_DBNAME, local_paths(state_dir()).socket_dir)


def with_dbname(url: str, dbname: str) -> str:
    """Same server, another database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


def is_root() -> bool:
    return os.geteuid() == 0


def _postgres_can_reach(path: Path) -> bool:
    res = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(path)],
        capture_output=True,
    )
    return res.returncode == 0


def state_dir() -> Path:
    """The directory holding the cluster: ``.folio`` unless the postgres user cannot reach it.

    Configuration, not the cluster's business: the connection URL needs it too, so it lives
    here and ``foliodb.cluster`` (which starts and stops the server) reads it from here.
    """
    project_state = project_root() / ".folio"
    fallback = fallback_state_dir()
    if (project_state / "pg").exists():
        return project_state
    if (fallback / "pg").exists():
        return fallback
    if is_root() and not _postgres_can_reach(project_root()):
        return fallback
    return project_state
