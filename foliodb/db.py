"""Connections to the foliodb database."""

from __future__ import annotations

import psycopg

from foliodb import config
from foliodb.errors import FolioError


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


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    """Open a connection; a server that is not there becomes an error a person can act on."""
    target = url or config.database_url()
    try:
        return psycopg.connect(target, **kwargs)
    except psycopg.OperationalError as exc:
        hint = "" if config.external_url() else _embedded_hint()
        message = str(exc).strip()
        if config.external_url():
            message = message.replace(config.external_url() or "", config.mask_url(target))
        raise FolioError(f"cannot connect to the database: {message}.{hint}") from exc
