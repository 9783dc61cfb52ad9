"""The package layout's rules, read from the imports of every module under pathsim/ (ast, nothing imported).

The folders follow the data flow: config -> platform, workload -> placement -> costs -> engine -> results,
with catalog (constants with sources) under all of them; studies, calibration, api and cli sit on top.
Imports under `if TYPE_CHECKING:` are annotations only and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

from tests.support import REPO

PACKAGE = REPO / "pathsim"
CORE = {"config", "catalog", "platform", "workload", "placement", "costs", "engine", "results"}
ABOVE_CORE = {"studies", "calibration", "cli"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> set[str]:
    """Every module a module imports at run time (function-level imports included)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pathsim import cli`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


MODULES = {_module_name(p): _imports(ast.parse(p.read_text(), filename=str(p)))
           for p in sorted(PACKAGE.rglob("*.py"))}


def _top(module: str) -> str | None:
    """The top-level part of pathsim a module belongs to: `platform`, `cli`, ...; None outside pathsim."""
    parts = module.split(".")
    if parts[0] != "pathsim" or len(parts) < 2:
        return None
    return parts[1]


def _edges(source: set[str], target: set[str]) -> list[str]:
    return sorted(f"{m} imports {i}" for m, imports in MODULES.items() if _top(m) in source
                  for i in imports if _top(i) in target)


def test_every_module_is_read():
    assert "pathsim.platform.topology" in MODULES and "pathsim.engine.runtime.actors" in MODULES
    assert CORE | ABOVE_CORE | {"api", "errors", "processes", "reference"} >= {_top(m) for m in MODULES if _top(m)}


def test_platform_and_workload_never_import_each_other():
    assert _edges({"platform"}, {"workload"}) == []
    assert _edges({"workload"}, {"platform"}) == []


def test_only_the_engine_imports_simpy():
    users = sorted(m for m, imports in MODULES.items()
                   if any(i == "simpy" or i.startswith("simpy.") for i in imports))
    assert users and all(_top(m) == "engine" for m in users), users


@pytest.mark.parametrize("package", sorted(CORE))
def test_the_core_imports_no_study_calibration_or_cli(package):
    assert _edges({package}, ABOVE_CORE) == []


def test_no_import_cycles_between_top_level_packages():
    graph = nx.DiGraph()
    for module, imports in MODULES.items():
        for imported in imports:
            a, b = _top(module), _top(imported)
            if a and b and a != b and ((PACKAGE / b).is_dir() or (PACKAGE / f"{b}.py").is_file()):
                graph.add_edge(a, b, via=f"{module} -> {imported}")
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], [[graph.edges[a, b]["via"] for a, b in zip(c, c[1:] + c[:1])] for c in cycles]
