"""Running dbt against foliodb's database.

dbt reads its connection from FOLIO_DB_* variables (profiles.yml at the project root); this
module sets them from the URL foliodb uses, so dbt, the CLI and the tests agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from foliodb import config
from foliodb.errors import FolioError


def dbt_env(url: str | None = None) -> dict[str, str]:
    """dbt's environment for the database of ``url`` (a URL: dbt is a subprocess that opens
    its own sessions, as folio_owner through profiles.yml)."""
    params = conninfo_to_dict(url or config.database_url())
    env = dict(os.environ)
    env.update(
        {
            "FOLIO_DB_HOST": str(params.get("host", "localhost")),
            "FOLIO_DB_PORT": str(params.get("port", 5432)),
            "FOLIO_DB_USER": str(params.get("user", os.environ.get("USER", "postgres"))),
            "FOLIO_DB_PASSWORD": str(params.get("password", "")),
            "FOLIO_DB_NAME": str(params.get("dbname", config.DEFAULT_DBNAME)),
            "DBT_PROFILES_DIR": str(config.project_root()),
            "DBT_PROJECT_DIR": str(config.project_root()),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    # Separate target/ per database so parallel builds (tests, CLI) do not trample each other.
    target = Path(config.project_root(), ".folio", "dbt", env["FOLIO_DB_NAME"])
    env["DBT_TARGET_PATH"] = str(target / "target")
    env["DBT_LOG_PATH"] = str(target / "logs")
    return env


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: list[str], url: str | None = None, quiet: bool = True
) -> subprocess.CompletedProcess:
    """Run a dbt command; a failure raises FolioError carrying dbt's own error lines. A URL:
    dbt, a subprocess, opens its own sessions."""
    cmd = [dbt_executable(), *args]
    res = subprocess.run(
        cmd,
        cwd=config.project_root(),
        env=dbt_env(url),
        capture_output=quiet,
        text=True,
    )
    if res.returncode != 0:
        output = (res.stdout or "") + (res.stderr or "")
        lines = output.splitlines()
        # dbt's own error block: the line naming the failure and the few after it
        keep: list[str] = []
        for i, line in enumerate(lines):
            if "Error in" in line or "error" in line.lower() and "ERROR=" not in line:
                keep.extend(lines[i : i + 4])
        detail = "\n".join(dict.fromkeys(keep))[-3000:] or output[-2000:]
        raise FolioError(f"dbt {' '.join(args)} failed:\n{detail}")
    return res


def install(url: str | None = None, lock_holder: int | None = None) -> None:
    """Create or update every model's table, refresh function and view: `dbt run`.

    dbt computes nothing (the publish is `call ops.refresh`). It installs only while no
    refresh runs: its on-run-start hook takes the refresh lock, or accepts the one held by
    ``lock_holder`` (the backend pid of the caller's session holding it). A URL: dbt, a
    subprocess, opens its own sessions.
    """
    models_dir = config.project_root() / "dbt_project" / "models"
    if not any(models_dir.rglob("*.sql")):
        return
    args = ["run", "--quiet"]
    if lock_holder is not None:
        args += ["--vars", json.dumps({"refresh_lock_holder": lock_holder})]
    run_dbt(args, url)


def definition_hash(extra: list[Path] | None = None) -> str:
    """A short hash of everything that defines a foliodb database: sql/ and the dbt project.

    Databases built from a tree (test templates, benchmark datasets) are named by it, so they
    are rebuilt exactly when a migration, a routine or a model changes.
    """
    root = config.project_root()
    digest = hashlib.sha256()
    files = [root / "dbt_project.yml", *(extra or []), *sorted((root / "sql").rglob("*.sql"))]
    files += sorted(
        path
        for path in (root / "dbt_project").rglob("*")
        if path.is_file()
        and path.suffix in {".sql", ".yml", ".yaml", ".csv"}
        and "target" not in path.parts
        and "dbt_packages" not in path.parts
    )
    for path in files:
        if path.exists():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
