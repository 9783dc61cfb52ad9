"""The walk of one experiment through the code: which files `api.simulate_config` reaches, how often it
comes back to a file it already left, and how often a stage calls back up the data flow.

    python bench/bench_pipeline_walk.py experiments/palm540b.yaml

The walk is the set of distinct calls from one file of pathsim into another (caller file -> callee file),
in the order they first happen. The engine's simulation, the catalog and errors are leaves: calls inside
them are not followed. Printed figures:
- files: distinct files the walk enters;
- returns: calls into a stage's file from a second, third, ... caller file (each distinct edge counted
  once; the foundations every stage reads, catalog, config, mesh and errors, are not counted);
- climbs: calls from a stage into a stage above it in the data flow (platform -> workload -> placement ->
  costs -> engine -> results), e.g. placement calling the lowering for the mesh's axes (the assembly,
  which calls every stage, is not a stage);
- and the core-stage modules whose source names `ExperimentConfig`.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGE_ORDER = {"platform": 1, "workload": 2, "placement": 3, "costs": 4, "engine": 5, "results": 6}
FOUNDATIONS = ("catalog", "config", "mesh", "errors.py")
LEAVES = ("engine", "catalog", "errors.py")
CORE = ("catalog", "platform", "mesh", "workload", "placement", "costs", "engine", "results")


def _part(path: str, package: Path) -> str | None:
    """`workload/lowering/__init__.py` for a file of pathsim; None outside it."""
    try:
        return str(Path(path).resolve().relative_to(package))
    except ValueError:
        return None


def _stage(part: str) -> str:
    """`workload` for workload/..., the file name for a module at the top (`errors.py`, `api.py`)."""
    return part.split("/")[0]


def walk(experiment: Path) -> list[tuple[str, str]]:
    from pathsim.api import simulate_config
    from pathsim.config.experiment import load_experiment

    import pathsim

    package = Path(pathsim.__file__).resolve().parent
    exp, topo = load_experiment(experiment)
    edges: dict[tuple[str, str], None] = {}

    def profile(frame, event, arg):
        if event != "call":
            return
        callee = _part(frame.f_code.co_filename, package)
        caller_frame = frame.f_back
        caller = _part(caller_frame.f_code.co_filename, package) if caller_frame else None
        if callee is None or caller is None or callee == caller:
            return
        if _stage(caller) in LEAVES:  # inside a leaf: not followed
            return
        edges.setdefault((caller, callee), None)

    sys.setprofile(profile)
    try:
        simulate_config(exp, topo, base_dir=experiment.parent, record_links=False)
    finally:
        sys.setprofile(None)
    return list(edges)


def naming_experiment_config(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        part = str(path.relative_to(package))
        if _stage(part) not in CORE:
            continue
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        if "ExperimentConfig" in names:
            found.append(part)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path)
    args = parser.parse_args()
    import pathsim

    edges = walk(args.experiment.resolve())
    files = {f for edge in edges for f in edge if _stage(f) not in ("api.py", "pipeline.py")}
    incoming = Counter(callee for _, callee in edges if _stage(callee) not in FOUNDATIONS)
    returns = sum(n - 1 for n in incoming.values())
    climbs = [(a, b) for a, b in edges if _stage(a) in STAGE_ORDER and _stage(b) in STAGE_ORDER
              and STAGE_ORDER[_stage(b)] < STAGE_ORDER[_stage(a)]]
    print(f"experiment          {args.experiment}")
    print(f"files entered       {len(files)}")
    print(f"returns             {returns}  (most: " + ", ".join(f"{f} x{n}" for f, n in incoming.most_common(3)) + ")")
    print(f"climbs              {len(climbs)}")
    for a, b in climbs:
        print(f"  {a} -> {b}")
    named = naming_experiment_config(Path(pathsim.__file__).resolve().parent)
    print(f"core modules naming ExperimentConfig: {len(named)}")
    for part in named:
        print(f"  {part}")


if __name__ == "__main__":
    main()
