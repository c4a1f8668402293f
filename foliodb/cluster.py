"""The embedded PostgreSQL 15 cluster with pg_cron, kept under ``.folio/``.

The server runs as the invoking user, or as the ``postgres`` OS user when invoked as root
(PostgreSQL refuses to run as root). Only its owner can get in:

- it listens on a Unix socket in ``.folio/run`` (mode 0700, owned by the server's OS user),
  and on 127.0.0.1 only when asked (``folio db up --tcp`` or ``FOLIO_PG_TCP=1``);
- ``pg_hba.conf`` and ``pg_ident.conf`` are written on every ``db up``: the admin role
  ``folio`` by peer authentication over the socket, for the OS user who runs foliodb (and
  root) only; app roles by scram-sha-256 (socket or TCP); no ``trust`` line anywhere;
- app login roles get generated passwords, kept in ``.folio/secrets/ROLE`` (mode 0600,
  owned by the invoking user); ``folio db url --role ROLE`` prints a URL with one.

The port is 54329 unless ``FOLIO_PG_PORT`` says otherwise; the port a cluster was started on
is recorded in ``.folio/port``, so a new shell without ``FOLIO_PG_PORT`` finds it.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from foliodb import config
from foliodb.errors import FolioError

# Settings for a small analytics box; written on every `db up`, read at server start.
SERVER_SETTINGS = {
    # the socket is reachable only through its directory (0700); the file itself 0700 too
    "unix_socket_permissions": "0700",
    "password_encryption": "'scram-sha-256'",
    "shared_preload_libraries": "'pg_cron'",
    "cron.database_name": f"'{config.DEFAULT_DBNAME}'",
    # Jobs run in background workers: no libpq connection, so no password or .pgpass needed.
    "cron.use_background_workers": "on",
    "cron.log_run": "on",
    "max_worker_processes": "32",
    "max_connections": "120",
    "max_parallel_workers": "2",
    "max_parallel_workers_per_gather": "2",
    "shared_buffers": "'1GB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "effective_cache_size": "'8GB'",
    "random_page_cost": "1.1",
    # JIT compilation costs more than it saves on the short statements of an incremental refresh.
    "jit": "off",
    "max_wal_size": "'4GB'",
    "checkpoint_timeout": "'15min'",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}

# pg_ident map: OS users allowed to log in as the admin role by peer authentication.
IDENT_MAP = "foliodb"
# App login roles with generated passwords (created by sql/migrations/0070_trust_roles.sql).
APP_LOGIN_ROLES = ("folio_reader", "folio_app", "folio_writer")
SECRETS_DIR = "secrets"
TCP_FILE = "tcp"

REQUIRED_DEBIAN_PACKAGES = [f"postgresql-{config.PG_MAJOR}", f"postgresql-{config.PG_MAJOR}-cron"]


def _is_root() -> bool:
    return config.is_root()


def state_dir() -> Path:
    """The directory holding the cluster (see :func:`foliodb.config.state_dir`)."""
    return config.state_dir()


def paths() -> config.LocalPaths:
    return config.local_paths(state_dir())


def current_socket_dir() -> Path:
    return paths().socket_dir


def missing_packages() -> list[str]:
    """Debian packages the embedded cluster needs and this machine lacks."""
    bindir = config.pg_bin_dir()
    missing = []
    if not (bindir / "pg_ctl").exists():
        missing.append(REQUIRED_DEBIAN_PACKAGES[0])
    libdir = bindir.parent / "lib"
    if not (libdir / "pg_cron.so").exists():
        missing.append(REQUIRED_DEBIAN_PACKAGES[1])
    return missing


def _run_pg(args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(config.pg_bin_dir() / args[0]), *args[1:]]
    if _is_root():
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise FolioError(f"{args[0]} failed ({res.returncode}): {res.stderr.strip() or res.stdout}")
    return res


def _server_os_user() -> str:
    return "postgres" if _is_root() else getpass.getuser()


def _prepare_dirs(p: config.LocalPaths) -> None:
    p.state.mkdir(parents=True, exist_ok=True)
    p.socket_dir.mkdir(parents=True, exist_ok=True)
    # Only the server's OS user may open these (root may anyway): the socket's directory
    # is what keeps other users of the machine away from the server.
    for path in (p.state, p.socket_dir):
        path.chmod(0o700)
    if _is_root():
        shutil.chown(p.state, "postgres")
        shutil.chown(p.socket_dir, "postgres")
        if p.data.exists():
            shutil.chown(p.data, "postgres")
    for sock in p.socket_dir.glob(".s.PGSQL.*"):
        if not sock.name.endswith(".lock"):
            sock.chmod(0o700)


def _hba_lines() -> list[str]:
    admin = config.SUPERUSER
    return [
        "# Written by `folio db up` on every start; edit foliodb/cluster.py instead.",
        "# The admin role by peer authentication (OS users in pg_ident.conf, map foliodb) over",
        "# the socket only; every other role by scram-sha-256. No trust line anywhere.",
        "# TYPE  DATABASE     USER    ADDRESS        METHOD",
        f"local   all          {admin}                  peer map={IDENT_MAP}",
        f"local   replication  {admin}                  peer map={IDENT_MAP}",
        "local   all          all                    scram-sha-256",
        f"host    all          {admin}   127.0.0.1/32   reject",
        f"host    all          {admin}   ::1/128        reject",
        "host    all          all     127.0.0.1/32   scram-sha-256",
        "host    all          all     ::1/128        scram-sha-256",
    ]


def _ident_lines() -> list[str]:
    """The OS users who may be the admin role: who runs foliodb, and root."""
    users = ["root", getpass.getuser()]
    lines = [
        "# Written by `folio db up` on every start; edit foliodb/cluster.py instead.",
        "# MAPNAME  SYSTEM-USERNAME  PG-USERNAME",
    ]
    lines += [f"{IDENT_MAP}  {user}  {config.SUPERUSER}" for user in dict.fromkeys(users)]
    return lines


def _write_owned(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a server file, owned by the server's OS user."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    if _is_root():
        shutil.chown(tmp, "postgres", "postgres")
    tmp.replace(path)


def _write_auth(p: config.LocalPaths) -> None:
    _write_owned(p.data / "pg_hba.conf", "\n".join(_hba_lines()) + "\n")
    _write_owned(p.data / "pg_ident.conf", "\n".join(_ident_lines()) + "\n")


def _write_settings(p: config.LocalPaths, tcp: bool, port: int) -> None:
    settings = dict(SERVER_SETTINGS)
    settings["listen_addresses"] = "'127.0.0.1'" if tcp else "''"
    settings["port"] = str(port)
    settings["unix_socket_directories"] = f"'{p.socket_dir}'"
    lines = ["# Written by `folio db up` on every start; edit foliodb/cluster.py instead."]
    lines += [f"{k} = {v}" for k, v in settings.items()]
    conf = p.data / "foliodb.conf"
    conf.write_text("\n".join(lines) + "\n")
    main_conf = p.data / "postgresql.conf"
    text = main_conf.read_text()
    if "include_if_exists = 'foliodb.conf'" not in text:
        main_conf.write_text(text + "\ninclude_if_exists = 'foliodb.conf'\n")
    if _is_root():
        shutil.chown(conf, "postgres")


def _running_port(p: config.LocalPaths) -> int | None:
    """The port in postmaster.pid (line 4) of a running server."""
    try:
        lines = (p.data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None


def _running_listens_on_tcp(p: config.LocalPaths) -> bool:
    """Whether the running server listens on TCP (postmaster.pid line 6: its addresses)."""
    try:
        lines = (p.data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) > 5 and lines[5].strip() != ""


def _remember(p: config.LocalPaths, port: int, tcp: bool) -> None:
    (p.state / config.PORT_FILE).write_text(f"{port}\n")
    (p.state / TCP_FILE).write_text("on\n" if tcp else "off\n")


def _remembered_tcp(p: config.LocalPaths) -> bool:
    try:
        return (p.state / TCP_FILE).read_text().strip() == "on"
    except OSError:
        return False


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _busy_port_error(port: int, log: Path, detail: str = "") -> FolioError:
    return FolioError(
        f"cannot start the embedded PostgreSQL on port {port}: the port is busy (another "
        f"server listens there). Choose a free one, e.g. `FOLIO_PG_PORT={port + 1} folio db up`; "
        f"the port is then remembered for later shells. Server log: {log}"
        + (f"\n{detail}" if detail else "")
    )


def _log_tail(log: Path, lines: int = 8) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _start(p: config.LocalPaths, tcp: bool, port: int) -> None:
    if tcp and _port_in_use(port):
        raise _busy_port_error(port, p.log)
    _write_settings(p, tcp, port)
    _write_auth(p)
    res = _run_pg(
        ["pg_ctl", "-D", str(p.data), "-l", str(p.log), "-w", "-t", "60", "start"], check=False
    )
    if res.returncode != 0:
        tail = _log_tail(p.log)
        if "already in use" in tail or "could not bind" in tail or "lock file" in tail:
            raise _busy_port_error(port, p.log, tail)
        raise FolioError(
            f"could not start the embedded PostgreSQL on port {port} (FOLIO_PG_PORT): "
            f"{res.stderr.strip() or res.stdout.strip()}\nServer log {p.log}:\n{tail}"
        )
    _remember(p, port, tcp)


def is_running() -> bool:
    p = paths()
    if not (p.data / "PG_VERSION").exists():
        return False
    return _run_pg(["pg_ctl", "-D", str(p.data), "status"], check=False).returncode == 0


@dataclass
class UpResult:
    initialized: bool
    started: bool
    url: str
    tcp: bool = False
    restarted: bool = False


def _initdb(p: config.LocalPaths) -> None:
    # initdb wants a superuser password for scram; it is random, never stored, and the admin
    # role logs in by peer only (pg_hba rejects it over TCP). Removed right after initdb.
    pwfile = p.state / ".initdb-pw"
    _write_owned(pwfile, secrets.token_urlsafe(32) + "\n")
    try:
        _run_pg(
            [
                "initdb",
                "-D",
                str(p.data),
                "-U",
                config.SUPERUSER,
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
    finally:
        pwfile.unlink(missing_ok=True)


def up(tcp: bool | None = None) -> UpResult:
    """Initialize (once) and start (if stopped) the embedded cluster; create the database.

    ``tcp``: listen on 127.0.0.1 too (True), socket only (False), or as before / as
    ``FOLIO_PG_TCP`` says (None). A running server is restarted only when that changes.
    The authentication files are rewritten (and reloaded) every time, so a cluster
    initialised with ``trust`` by an older foliodb is closed on the next ``db up``.
    """
    if config.external_url():
        return UpResult(False, False, config.external_url() or "")
    missing = missing_packages()
    if missing:
        raise FolioError(
            "PostgreSQL is not installed here. Install the Debian packages: "
            f"sudo apt-get install -y {' '.join(missing)}"
        )
    p = paths()
    _prepare_dirs(p)
    if tcp is None:
        tcp = config.tcp_requested() or _remembered_tcp(p)
    initialized = False
    if not (p.data / "PG_VERSION").exists():
        _initdb(p)
        initialized = True
    started = restarted = False
    if is_running():
        running_port = _running_port(p)
        if running_port not in (None, config.port()) and config.port_is_explicit():
            raise FolioError(
                f"the embedded cluster in {p.data} already runs on port {running_port}, "
                f"but FOLIO_PG_PORT says {config.port()}: unset FOLIO_PG_PORT (the running "
                "port is remembered) or stop it first with `folio db down`."
            )
        port = running_port or config.port()
        if _running_listens_on_tcp(p) != tcp:
            _run_pg(["pg_ctl", "-D", str(p.data), "-m", "fast", "-w", "stop"])
            _start(p, tcp, port)
            restarted = True
        else:
            _write_settings(p, tcp, port)
            _write_auth(p)
            _run_pg(["pg_ctl", "-D", str(p.data), "reload"])
            _remember(p, port, tcp)
    else:
        _start(p, tcp, config.port())
        started = True
    url = config.local_url(config.DEFAULT_DBNAME, p.socket_dir)
    ensure_database(config.DEFAULT_DBNAME)
    ensure_secrets()
    return UpResult(initialized, started, url, tcp, restarted)


# --- app role secrets ---------------------------------------------------------------------


def secrets_dir() -> Path:
    return paths().state / SECRETS_DIR


def _scram_verifier(password: str, iterations: int = 4096, salt: bytes | None = None) -> str:
    """A SCRAM-SHA-256 verifier (RFC 5802/7677), as PostgreSQL stores it: the password itself
    never reaches the server or its logs."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def _verifies(stored: str | None, password: str) -> bool:
    """Whether a stored SCRAM verifier is the one of ``password`` (then nothing to change)."""
    if not stored or not stored.startswith("SCRAM-SHA-256$"):
        return False
    try:
        head = stored.split("$")[1]
        iterations, salt = head.split(":")
        expected = _scram_verifier(password, int(iterations), base64.b64decode(salt))
    except (IndexError, ValueError):
        return False
    return hmac.compare_digest(expected, stored)


def read_secret(role: str) -> str:
    path = secrets_dir() / role
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise FolioError(
            f"no password for {role} yet ({path}): run `folio db up` after `folio db migrate`"
        ) from None
    except PermissionError:
        raise FolioError(f"{path} is readable only by its owner") from None


def ensure_secrets() -> list[str]:
    """Give every app login role that exists a generated password, kept in
    ``.folio/secrets/ROLE`` (0600); existing files are kept and their passwords re-applied.
    Returns the roles that have their password. Roles appear with the first ``folio db
    migrate``. The catalog is written only when a stored verifier does not match its file."""
    if config.external_url():
        return []
    directory = secrets_dir()
    directory.mkdir(mode=0o700, exist_ok=True)
    directory.chmod(0o700)
    done = []
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        existing = dict(
            conn.execute(
                "select rolname, rolpassword from pg_authid where rolname = any(%s) and rolcanlogin",
                [list(APP_LOGIN_ROLES)],
            ).fetchall()
        )
        for role in APP_LOGIN_ROLES:
            if role not in existing:
                continue
            path = directory / role
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(24) + "\n")
            path.chmod(0o600)
            if _verifies(existing[role], read_secret(role)):
                done.append(role)
                continue
            conn.execute(
                sql.SQL("alter role {} password {}").format(
                    sql.Identifier(role), sql.Literal(_scram_verifier(read_secret(role)))
                )
            )
            done.append(role)
    return done


def role_url(role: str, dbname: str = config.DEFAULT_DBNAME, tcp: bool = False) -> str:
    """A URL that logs in as an app role with its generated password (a secret)."""
    if role not in APP_LOGIN_ROLES:
        raise FolioError(
            f"{role!r} has no generated password: choose one of {', '.join(APP_LOGIN_ROLES)}"
        )
    if config.external_url():
        raise FolioError(
            "DATABASE_URL is set: foliodb does not manage that server's passwords; "
            "build the URL from your own secret store."
        )
    return config.local_url(dbname, current_socket_dir(), role, read_secret(role), tcp=tcp)


def admin_url() -> str:
    """The maintenance database of the server foliodb uses."""
    return config.with_dbname(config.database_url(), "postgres")


def ensure_database(dbname: str) -> None:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [dbname]).fetchone()
        if not exists:
            from psycopg import sql

            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))


def down() -> bool:
    if config.external_url():
        raise FolioError("DATABASE_URL is set: foliodb does not manage that server.")
    if not is_running():
        return False
    _run_pg(["pg_ctl", "-D", str(paths().data), "-m", "fast", "-w", "stop"])
    return True


def reset() -> None:
    """Stop the embedded cluster and delete its data."""
    if config.external_url():
        raise FolioError("DATABASE_URL is set: refusing to reset a server foliodb does not own.")
    down()
    shutil.rmtree(paths().data, ignore_errors=True)
