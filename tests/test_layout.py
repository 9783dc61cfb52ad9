"""The package layout's rules, read from the imports of every module under pathsim/ (ast, nothing imported).

The folders follow the data flow: config -> platform, mesh -> workload -> placement -> costs -> engine ->
results, with catalog (constants with sources) under all of them; pipeline assembles the stages, and studies,
calibration, api and cli sit on top. Imports under `if TYPE_CHECKING:` are annotations only and are not
counted, except where a rule says so.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

from tests.support import REPO

PACKAGE = REPO / "pathsim"
CORE = {"config", "catalog", "platform", "mesh", "workload", "placement", "costs", "engine", "results"}
STAGES = CORE - {"config"}  # they take typed pieces of the experiment, never the whole ExperimentConfig
ABOVE_CORE = {"studies", "calibration", "cli"}
ASSEMBLY = {"pipeline", "api"}  # one assembly of the stages, and the call from a file to a prediction


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, annotations: bool = False) -> set[str]:
    """Every module a module imports at run time (function-level imports included); with `annotations`,
    also those imported for type checking only."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not annotations:
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


TREES = {_module_name(p): ast.parse(p.read_text(), filename=str(p)) for p in sorted(PACKAGE.rglob("*.py"))}
MODULES = {name: _imports(tree) for name, tree in TREES.items()}


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
    assert "pathsim.platform.topology" in MODULES and "pathsim.engine.pathways.actors" in MODULES
    assert CORE | ABOVE_CORE | ASSEMBLY | {"errors", "processes", "reference"} >= {_top(m) for m in MODULES if _top(m)}


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


@pytest.mark.parametrize("package", sorted(CORE))
def test_the_core_never_reaches_up_to_the_assembly_not_even_for_annotations(package):
    """Results are built by the pipeline and typed in results/: no stage imports what assembles it."""
    found = sorted(f"{m} imports {i}" for m, tree in TREES.items() if _top(m) == package
                   for i in _imports(tree, annotations=True) if _top(i) in ASSEMBLY)
    assert found == []


def _names(tree: ast.AST) -> set[str]:
    """Identifiers a module uses or imports (names, attributes, imported aliases)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.name.rsplit(".", 1)[-1])
    return found


@pytest.mark.parametrize("package", sorted(STAGES))
def test_no_stage_names_the_whole_experiment(package):
    """Each stage takes the pieces it uses (pathsim.pipeline resolves the experiment into them)."""
    found = sorted(m for m, tree in TREES.items() if _top(m) == package and "ExperimentConfig" in _names(tree))
    assert found == []


def test_no_import_cycles_between_top_level_packages():
    graph = nx.DiGraph()
    for module, imports in MODULES.items():
        for imported in imports:
            a, b = _top(module), _top(imported)
            if a and b and a != b and ((PACKAGE / b).is_dir() or (PACKAGE / f"{b}.py").is_file()):
                graph.add_edge(a, b, via=f"{module} -> {imported}")
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], [[graph.edges[a, b]["via"] for a, b in zip(c, c[1:] + c[:1])] for c in cycles]


TESTS = REPO / "tests"
# Tests of a feature that spans modules, each with what it covers; every other test file names the module or
# package it tests, beside it (tests/<path>/test_<name>.py for pathsim/<path>/<name>.py or <name>/), or is an
# end-to-end test of a command (test_<...>_cli.py) or of the whole tool (a file directly under tests/).
FEATURE_TESTS = {
    "calibration/test_device_scripts.py": "the scripts a lent accelerator runs",
    "engine/pathways/test_engine_units.py": "the Pathways actors together, on cases solved by hand",
    "studies/published/test_shipped_figures.py": "the shipped published runs' figures",
    "studies/whatif/test_notebooks.py": "the notebooks, executed",
    "studies/whatif/test_ray.py": "sweeps on the Ray backend",
    "studies/whatif/test_sweep_robustness.py": "sweeps interrupted, invalid or unwritable",
    "workload/xla/test_collective_bytes.py": "compiled collectives' bytes, worked by hand, per chip kind",
    "workload/xla/test_compiler_cost.py": "the compiler's estimates pricing an imported program",
}


def test_every_test_sits_beside_the_module_it_tests():
    astray = []
    for path in sorted(TESTS.rglob("test_*.py")):
        rel = path.relative_to(TESTS)
        name = path.stem.removeprefix("test_")
        target = PACKAGE / rel.parent / name
        beside = target.with_suffix(".py").is_file() or target.is_dir()
        if not (beside or rel.parent == Path(".") or name.endswith("_cli") or str(rel) in FEATURE_TESTS):
            astray.append(str(rel))
    assert astray == []


def test_every_listed_feature_test_exists():
    assert [t for t in FEATURE_TESTS if not (TESTS / t).is_file()] == []
