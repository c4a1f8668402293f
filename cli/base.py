"""The base of every `folio` command: help options, error mapping, `--json`, the role.

Every command is a :class:`FolioCommand` (every group a :class:`FolioGroup`, whose
``command()`` and ``group()`` make more of the same), so these are set once:

- ``-h/--help`` and the help width;
- errors to exit codes: a bad argument (``click.UsageError``, ``foliodb.errors.BadArgument``)
  exits 2, any other ``FolioError`` (and a refusal by the database's privileges) exits 1 with
  its message, no traceback;
- the database role the command works as (``role=``, required): every connection the command
  opens through ``foliodb.db.connect`` takes it unless it names its own (a step that needs
  another role, such as an import's price fetch, says so where it connects). The roles are
  those of ``foliodb.security`` and the README's "Who can do what".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import psycopg

from foliodb import db
from foliodb.errors import BadArgument, FolioError

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

_UNDECLARED = object()


def _settings(kwargs: dict[str, Any]) -> None:
    kwargs["context_settings"] = {**CONTEXT_SETTINGS, **(kwargs.get("context_settings") or {})}


def run_mapped(call: Callable[[], Any]) -> Any:
    """Run ``call``; foliodb's expected errors become click's (exit 2 or 1, no traceback)."""
    try:
        return call()
    except BadArgument as exc:
        raise click.BadParameter(str(exc), param_hint=exc.param_hint) from exc
    except FolioError as exc:
        raise click.ClickException(str(exc)) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        # the role the command works as may not do this: the database's own words
        primary = exc.diag.message_primary or str(exc).strip()
        raise click.ClickException(f"the database refused: {primary}") from exc


class FolioCommand(click.Command):
    """A `folio` command that declares the database role it works as."""

    def __init__(self, *args: Any, role: Any = _UNDECLARED, **kwargs: Any) -> None:
        _settings(kwargs)
        super().__init__(*args, **kwargs)
        if role is _UNDECLARED:
            raise TypeError(f"folio command {self.name!r} declares no role (role=...)")
        self.role: str = role

    def invoke(self, ctx: click.Context) -> Any:
        with db.running_as(self.role):
            return run_mapped(lambda: super(FolioCommand, self).invoke(ctx))


class FolioGroup(click.Group):
    """A `folio` group: its commands are :class:`FolioCommand`, its subgroups FolioGroup."""

    command_class = FolioCommand
    group_class = type  # subgroups are of this same class

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _settings(kwargs)
        super().__init__(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        return run_mapped(lambda: super(FolioGroup, self).invoke(ctx))


def group(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], FolioGroup]:
    """``click.group`` making a :class:`FolioGroup`."""
    return click.group(*args, cls=FolioGroup, **kwargs)


def command(*args: Any, role: str, **kwargs: Any) -> Callable[[Callable[..., Any]], FolioCommand]:
    """``click.command`` making a :class:`FolioCommand` that works as ``role``."""
    return click.command(*args, cls=FolioCommand, role=role, **kwargs)


def json_option(help: str = "Print the result as JSON.") -> Callable[[Callable[..., Any]], Any]:
    """The ``--json`` flag, passed to the command as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=help)
