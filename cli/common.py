"""Output helpers shared by the `folio` commands (the command base is cli.base)."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.console import Console

out = Console()  # results
err = Console(stderr=True)  # progress and logs


def require_file(path: str | Path, param_hint: str) -> Path:
    """A readable input file, else a bad-argument error (exit 2) naming the path once."""
    file = Path(path)
    if not file.exists():
        raise click.BadParameter(f"file {str(file)!r} does not exist", param_hint=param_hint)
    if not file.is_file():
        raise click.BadParameter(f"{str(file)!r} is not a file", param_hint=param_hint)
    return file


def jsonable(value: Any) -> Any:
    """The same data in JSON's own types: numbers as numbers, whatever the source type.

    ``numeric`` columns arrive as Decimal and would otherwise be printed as strings; they
    become floats (a non-finite number becomes null, as JSON has no NaN). Dates and times
    become ISO 8601 strings, intervals seconds, paths and anything else their text.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON (see :func:`jsonable` for the types)."""
    click.echo(json.dumps(jsonable(data), indent=2, allow_nan=False))


def keep_example_blocks(help_text: str | None) -> str | None:
    """Mark every paragraph after ``Example:`` with click's ``\\b`` so it is not rewrapped.

    click joins the lines of a paragraph and wraps them at the help width; an example block
    of several commands (or one long command) must stay one command per line, as typed.
    """
    if not help_text or "Example:" not in help_text:
        return help_text
    # dedent first (as click would): the marker line then shares the text's left margin
    head, marker, tail = inspect.cleandoc(help_text).partition("Example:")
    paragraphs = tail.split("\n\n")
    kept = [
        p if not p.strip() or p.strip().startswith("\b") else "\b\n" + p.lstrip("\n")
        for p in paragraphs[1:]
    ]
    return head + marker + "\n\n".join([paragraphs[0], *kept])


def keep_examples_everywhere(command: click.Command) -> None:
    """Apply :func:`keep_example_blocks` to a command and, for a group, every subcommand."""
    command.help = keep_example_blocks(command.help)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            keep_examples_everywhere(sub)
