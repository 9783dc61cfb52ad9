"""The sweep section of a YAML file (or --set flags) -> a Study: the base experiment, its identity, and
the points to evaluate.

A sweep file is either an experiment with a `sweep:` section, or `experiment: other.yaml` plus `sweep:`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pathsim.catalog.remat import REMAT_NAMES
from pathsim.config.experiment import (AxisKind, parse_experiment, parse_topology, read_topology_data, read_yaml,
                                       resolve_relative)
from pathsim.config.yamlio import load_yaml_text
from pathsim.errors import ConfigError
from pathsim.studies.whatif.enumerate import all_plans
from pathsim.studies.whatif.params import (INFER, Point, canonical_path, check_value, island_counts, mesh_axis_of,
                                           resolve)


NAMED_REMATS = tuple(r for r in REMAT_NAMES if r != "custom")


class AllPlansSpec(BaseModel):
    """Every factorization of the chips into these mesh axes, times these micro-batch counts and remats."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ici: list[AxisKind] = Field(default=["tensor", "fsdp", "data", "pipeline"], min_length=1)
    dcn: list[Literal["data", "fsdp", "pipeline"]] = Field(default=["data", "fsdp", "pipeline"], min_length=1)
    microbatches: list[int] = Field(default=[1, 2, 4, 8, 16, 32], min_length=1)
    # Any named policy (custom needs its per-tensor mapping: set training.remat_custom in a grid instead).
    remat: list[Literal[NAMED_REMATS]] = Field(default=["none", "full", "palm"], min_length=1)  # type: ignore[valid-type]


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    grid: dict[str, list[Any]] = Field(default_factory=dict)  # dotted path -> values (a cartesian product)
    infer: list[str] = Field(default_factory=list)  # mesh axes that take the chips the others leave
    all_plans: AllPlansSpec | None = None
    shortlist: int | None = Field(default=None, gt=0)  # screen every plan, simulate the best N that fit
    simulate_infeasible: bool = False  # also simulate plans that do not fit in HBM


@dataclass(frozen=True)
class Study:
    name: str
    experiment_path: Path
    base_exp: dict[str, Any]
    base_topo: dict[str, Any]
    experiment_id: str  # hash of the base experiment and topology: results of another do not mix
    params: tuple[str, ...]  # the swept paths, as result columns
    points: tuple[Point, ...]
    shortlist: int | None
    simulate_infeasible: bool

    def key(self, point: Point) -> str:
        return plan_key(self.experiment_id, point)


def plan_key(experiment_id: str, point: Point) -> str:
    text = json.dumps([experiment_id, sorted(point)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_values(text: str) -> list[str]:
    """Split `a,b,{x: 1, y: 2}` on the commas outside brackets."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[{("
        depth -= ch in "]})"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts]


def parse_set(text: str) -> tuple[str, list[Any]]:
    """`plan.model=4,8,12` -> ("plan.model", [4, 8, 12]); values are YAML scalars or flow mappings."""
    path, sep, values = text.partition("=")
    if not sep or not path.strip():
        raise ConfigError("--set", f"{text!r} must be PATH=V1,V2,...")
    field = f"--set {path.strip()}"
    # The project's one YAML reader: bounded depth and digits, 1e10 a number, one line on bad input.
    return path.strip(), [load_yaml_text(v, field) for v in split_values(values) if v != ""]


def _read_sweep_file(path: Path) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    """(experiment mapping, the path its relative paths hang from, sweep mapping)."""
    data = read_yaml(path, "experiment")
    sweep = data.pop("sweep", None) or {}
    if not isinstance(sweep, dict):
        raise ConfigError("sweep", "must be a mapping (grid, infer, all_plans, shortlist)")
    if set(data) == {"experiment"}:
        base_path = resolve_relative(path, data["experiment"])
        return read_yaml(base_path, "experiment"), base_path, sweep
    return data, path, sweep


def _identity(exp: dict[str, Any], topo: dict[str, Any]) -> str:
    text = json.dumps({"experiment": exp, "topology": topo}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_study(path: str | Path, sets: list[str] | None = None, grid: dict[str, list[Any]] | None = None,
               infer: list[str] | None = None, all_plans_: bool | AllPlansSpec = False,
               shortlist: int | None = None,
               simulate_infeasible: bool | None = None) -> Study:
    """The study of a sweep file, with command-line (or API) additions on top of its sweep section."""
    if shortlist is not None and shortlist < 1:
        raise ConfigError("--shortlist", f"must be at least 1, got {shortlist}")
    path = Path(path)
    exp_data, exp_path, sweep_data = _read_sweep_file(path)
    try:
        spec = SweepSpec.model_validate(sweep_data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError("sweep." + ".".join(map(str, err["loc"])), err["msg"]) from None
    topo_path = exp_data.get("topology")
    # The topology first: it resolves a -1 axis of the base plan; a missing one is the experiment's error.
    topo = (parse_topology(read_topology_data(exp_path, topo_path))
            if isinstance(topo_path, str) else None)
    exp = parse_experiment(exp_data, topo)
    base_exp, base_topo = exp.model_dump(mode="json"), topo.model_dump(mode="json")

    values: dict[str, list[Any]] = {}
    for field, (raw, vals) in itertools.chain(
        ((f"sweep.grid.{k}", (k, v)) for k, v in spec.grid.items()),
        ((f"sweep.grid.{k}", (k, v)) for k, v in (grid or {}).items()),
        ((f"--set {p}", (p, v)) for p, v in map(parse_set, sets or [])),
    ):
        canon = canonical_path(raw, field)
        if not vals:
            raise ConfigError(field, "empty grid: give at least one value")
        for v in vals:
            check_value(canon, v, field, exp_path)
        values[canon] = list(vals)  # later layers (API, command line) replace the file's values
    inferred = [canonical_path(p, f"sweep.infer.{p}") for p in [*spec.infer, *(infer or [])]]
    for p in inferred:
        if mesh_axis_of(p) is None:
            raise ConfigError(f"sweep.infer.{p}", "only mesh axes (plan.ici.KIND, plan.dcn.KIND) can be inferred")
        if p in values:
            raise ConfigError(f"sweep.infer.{p}", "is both swept and inferred; choose one")
    if isinstance(all_plans_, AllPlansSpec):
        plans: AllPlansSpec | None = all_plans_
    else:
        plans = spec.all_plans or (AllPlansSpec() if all_plans_ else None)
    if plans is not None:
        for p in values:
            if p.startswith(("plan.ici", "plan.dcn", "plan.placement")) or p in ("plan.microbatches", "training.remat"):
                raise ConfigError(f"sweep.grid.{p}", "all_plans already enumerates the mesh axes, micro-batches and remat")
    if not values and plans is None:
        raise ConfigError("sweep", "empty grid: nothing to sweep; give sweep.grid, --set PATH=V1,V2 or --all-plans")

    grid_points: list[Point] = [tuple(zip(values, combo)) + tuple((p, INFER) for p in inferred)
                                for combo in itertools.product(*values.values())]
    points: list[Point] = []
    for gp in grid_points:
        if plans is None:
            points.append(gp)
            continue
        topo_point = tuple(kv for kv in gp if kv[0] == "topology" or kv[0].startswith("topology."))
        try:
            _, point_topo = resolve(base_exp, base_topo, exp_path, topo_point)
        except ConfigError:
            points.append(gp)  # the row will say why this topology is invalid
            continue
        chips, islands = island_counts(point_topo.model_dump(mode="json"))
        points.extend(gp + p for p in all_plans(chips, islands, plans.ici, plans.dcn, plans.microbatches, plans.remat))
    params = tuple(values) + tuple(inferred)
    if plans is not None:
        params += ("plan.ici", "plan.dcn")
    return Study(
        name=exp.name, experiment_path=exp_path, base_exp=base_exp, base_topo=base_topo,
        experiment_id=_identity(base_exp, base_topo), params=params, points=tuple(points),
        shortlist=shortlist if shortlist is not None else spec.shortlist,
        simulate_infeasible=spec.simulate_infeasible if simulate_infeasible is None else simulate_infeasible,
    )
