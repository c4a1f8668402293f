"""One direction between the packages: cli → ingest → foliodb, and no import cycle anywhere.

Imports are read with ``ast`` from the source (those inside functions included, since a
function-level import is still a dependency), so the test needs no third-party tool and no
import of the code it checks.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cli", "ingest", "foliodb")  # each may import only those after it
LAYER = {name: rank for rank, name in enumerate(reversed(PACKAGES))}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in (*PACKAGES, "bench")
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports (``from a import b`` is ``a.b`` when that is a
    module, else ``a``)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_reader_sees_imports_inside_functions() -> None:
    graph = _graph()
    assert "ingest.prices" in graph["cli.portfolio"]
    assert "foliodb.db" in graph["ingest.calendar"]
    assert "foliodb.cluster" in graph["foliodb.db"]  # imported inside a function


def test_a_cycle_is_found_however_long() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles(_graph()) == []


def test_packages_import_only_downwards() -> None:
    upward = sorted(
        (module, target)
        for module, targets in _graph().items()
        for target in targets
        if module.split(".")[0] in LAYER
        and target.split(".")[0] in LAYER
        and LAYER[target.split(".")[0]] > LAYER[module.split(".")[0]]
    )
    assert upward == []


def test_the_installed_packages_never_import_the_bench() -> None:
    graph = _graph()
    shipped = [m for m in graph if m.split(".")[0] in PACKAGES]
    assert [(m, t) for m in shipped for t in graph[m] if t.split(".")[0] == "bench"] == []


def test_the_bench_is_not_shipped_and_sqlalchemy_is_only_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["setuptools"]["packages"]
    assert not [p for p in packages if p.split(".")[0] == "bench"]
    # every package directory of the shipped ones is listed (a sub-package left out is not
    # installed by a wheel)
    for package in PACKAGES:
        for init in (ROOT / package).rglob("__init__.py"):
            assert _module_name(init) in packages, _module_name(init)
    runtime = " ".join(project["project"]["dependencies"]).lower()
    assert "sqlalchemy" not in runtime
    assert any("sqlalchemy" in d for d in project["project"]["optional-dependencies"]["bench"])


def test_folio_bench_outside_a_checkout_says_where_to_run_it(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    monkeypatch.setenv("FOLIO_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["bench", "--quick", "--only", "a"])
    assert result.exit_code == 1
    assert "runs from a foliodb checkout" in result.output
    assert "Traceback" not in result.output
