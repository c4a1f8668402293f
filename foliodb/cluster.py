"""The embedded PostgreSQL 15 cluster with pg_cron, kept under ``.folio/``.

The server runs as the invoking user, or as the ``postgres`` OS user when invoked as root
(PostgreSQL refuses to run as root). It listens on a Unix socket inside the project
directory and on 127.0.0.1, port 54329 unless ``FOLIO_PG_PORT`` says otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from foliodb import config
from foliodb.errors import FolioError

# Settings for a small analytics box; written on every `db up`, read at server start.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
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

REQUIRED_DEBIAN_PACKAGES = [f"postgresql-{config.PG_MAJOR}", f"postgresql-{config.PG_MAJOR}-cron"]


def _is_root() -> bool:
    return os.geteuid() == 0


def _postgres_can_reach(path: Path) -> bool:
    res = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(path)],
        capture_output=True,
    )
    return res.returncode == 0


def state_dir() -> Path:
    """The directory holding the cluster: ``.folio`` unless the postgres user cannot reach it."""
    project_state = config.project_root() / ".folio"
    fallback = config.fallback_state_dir()
    if (project_state / "pg").exists():
        return project_state
    if (fallback / "pg").exists():
        return fallback
    if _is_root() and not _postgres_can_reach(config.project_root()):
        return fallback
    return project_state


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


def _prepare_dirs(p: config.LocalPaths) -> None:
    p.state.mkdir(parents=True, exist_ok=True)
    p.socket_dir.mkdir(parents=True, exist_ok=True)
    if _is_root():
        shutil.chown(p.state, "postgres")
        shutil.chown(p.socket_dir, "postgres")
        if p.data.exists():
            shutil.chown(p.data, "postgres")


def _write_settings(p: config.LocalPaths) -> None:
    settings = dict(SERVER_SETTINGS)
    settings["port"] = str(config.port())
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


def up() -> UpResult:
    """Initialize (once) and start (if stopped) the embedded cluster; create the database."""
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
    initialized = False
    if not (p.data / "PG_VERSION").exists():
        _run_pg(
            [
                "initdb",
                "-D",
                str(p.data),
                "-U",
                config.SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        initialized = True
    started = False
    if not is_running():
        _write_settings(p)
        _run_pg(["pg_ctl", "-D", str(p.data), "-l", str(p.log), "-w", "-t", "60", "start"])
        started = True
    url = config.local_url(config.DEFAULT_DBNAME, p.socket_dir)
    ensure_database(config.DEFAULT_DBNAME)
    return UpResult(initialized, started, url)


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
