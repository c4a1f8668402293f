"""Helpers shared by the `folio` commands (kept apart from cli.main to avoid import cycles)."""

from __future__ import annotations

import functools
import json

import click
from rich.console import Console

from foliodb.errors import FolioError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

out = Console()  # results
err = Console(stderr=True)  # progress and logs


def friendly(func):
    """Turn expected failures into a one-line message and exit code 1, no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except FolioError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
