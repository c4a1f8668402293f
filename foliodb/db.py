"""Connections to the foliodb database."""

from __future__ import annotations

import psycopg

from foliodb import config
from foliodb.errors import FolioError


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    """Open a connection; a server that is not there becomes an error a person can act on."""
    target = url or config.database_url()
    try:
        return psycopg.connect(target, **kwargs)
    except psycopg.OperationalError as exc:
        hint = "" if config.external_url() else " Start the embedded server with `folio db up`."
        raise FolioError(f"cannot connect to the database: {str(exc).strip()}.{hint}") from exc
