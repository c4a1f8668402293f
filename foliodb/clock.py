"""The one place foliodb reads the time: "today" is an input.

``FOLIO_TODAY`` pins the clock for the CLI, dbt, the bench and the tests. It takes a date
(``2026-11-27``: the clock reads the end of that day, 23:59:59 UTC, so that day's session has
closed) or a full ISO timestamp with a zone (``2026-11-27T15:00:00+00:00``). Unset, the clock
is the real one.

The database reads the same clock through ``ops.now()`` / ``ops.today()``, which honour the
setting ``foliodb.now``. :func:`export` passes the pinned value to every libpq connection this
process (and any child process: dbt, the bench's workers) opens, through ``PGOPTIONS``.
"""

from __future__ import annotations

import datetime as dt
import os
import re

ENV = "FOLIO_TODAY"
SETTING = "foliodb.now"
_OPTION = re.compile(r"\s*-c\s*" + re.escape(SETTING) + r"=\S*")


def pinned() -> dt.datetime | None:
    """The pinned instant, or None when the clock is the real one."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
        instant = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(
            f"{ENV}={raw!r} is neither a date (YYYY-MM-DD) nor an ISO timestamp with a zone"
        ) from exc
    if instant.tzinfo is None:
        raise ValueError(f"{ENV}={raw!r} needs a time zone (e.g. +00:00)")
    return instant.astimezone(dt.UTC)


def now() -> dt.datetime:
    """The current instant, in UTC."""
    return pinned() or dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """Today's date in UTC (the database's time zone)."""
    return now().date()


def export(environ: os._Environ | dict | None = None) -> None:
    """Make libpq connections opened from here on (and by child processes) read this clock."""
    env = os.environ if environ is None else environ
    try:
        instant = pinned()
    except ValueError:
        return  # reported by whoever reads the clock (the CLI says so before any command)
    options = _OPTION.sub("", env.get("PGOPTIONS", "")).strip()
    if instant is not None:
        options = f"{options} -c {SETTING}={instant.isoformat()}".strip()
    if options:
        env["PGOPTIONS"] = options
    else:
        env.pop("PGOPTIONS", None)
