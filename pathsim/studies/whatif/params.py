"""Sweep parameters: dotted paths into the experiment (and its topology), checked against the schema, and
how one point of a sweep (a tuple of (path, value)) becomes a validated experiment.

`plan.ici.fsdp: -1` (MaxText's convention) asks for the axis to take the chips the other axes leave.
"""

from __future__ import annotations

import copy
import inspect
import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from pathsim.errors import ConfigError
from pathsim.config.experiment import (
    AXIS_SYNONYMS,
    ExperimentConfig,
    TopologyConfig,
    did_you_mean,
    infer_axes,
    parse_experiment,
    parse_topology,
    read_topology_data,
    resolve_relative,
)
from pathsim.catalog.slices import is_slice_name, slice_named
from pathsim.mesh.axis import MeshAxis

INFER = -1
# Short names users reach for (`plan.model` is the paper's "model parallelism") -> schema paths.
ALIASES = {
    "plan.model": "plan.ici.tensor",
    "plan.tensor": "plan.ici.tensor",
    "plan.fsdp": "plan.ici.fsdp",
    "plan.data": "plan.ici.data",
    "plan.pipeline": "plan.ici.pipeline",
    "training.batch": "training.global_batch_seqs",
    "chip": "topology.chip",
}

Point = tuple[tuple[str, Any], ...]


def mesh_axis_of(path: str) -> MeshAxis | None:
    """The mesh axis a parameter sizes ("plan.ici.fsdp": ici.fsdp); None for every other parameter."""
    try:
        return MeshAxis.parse(path.removeprefix("plan.")) if path.startswith("plan.") else None
    except ValueError:
        return None


def canonical_path(path: str, field: str) -> str:
    """The schema path of a (possibly aliased) parameter, or a ConfigError naming `field`."""
    path = ALIASES.get(path, path)
    parts = path.split(".")
    if parts[0] == "topology" and len(parts) > 1:
        _walk(TopologyConfig, parts[1:], field, path)
    else:
        _walk(ExperimentConfig, parts, field, path)
    return path


def _leaf_type(path: str) -> Any:
    parts = path.split(".")
    if parts[0] == "topology" and len(parts) > 1:
        return _walk(TopologyConfig, parts[1:], "", path)
    return _walk(ExperimentConfig, parts, "", path)


def _unwrap_optional(ann: Any) -> Any:
    if get_origin(ann) is Union:
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return ann


def _walk(model: type[BaseModel], parts: list[str], field: str, path: str) -> Any:
    """The annotation at `parts` below `model` (with the field's constraints), or a ConfigError."""
    name, rest = parts[0], parts[1:]
    if name not in model.model_fields:
        raise ConfigError(field, f"unknown sweep parameter {path!r}: no {name!r} here"
                                 + did_you_mean(name, list(model.model_fields)))
    info = model.model_fields[name]
    ann = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return _walk_type(info.annotation, ann, rest, field, path)


def _walk_type(bare: Any, ann: Any, parts: list[str], field: str, path: str) -> Any:
    if not parts:
        return ann
    bare = _unwrap_optional(bare)
    if inspect.isclass(bare) and issubclass(bare, BaseModel):
        return _walk(bare, parts, field, path)
    origin = get_origin(bare)
    if origin is dict:
        key_t, value_t = get_args(bare)
        keys = get_args(key_t) if get_origin(key_t) is Literal else None
        if keys is not None and parts[0] not in keys:
            raise ConfigError(field, f"unknown sweep parameter {path!r}: {parts[0]!r} is not an axis"
                                     + did_you_mean(parts[0], list(keys), AXIS_SYNONYMS))
        return _walk_type(value_t, value_t, parts[1:], field, path)
    if origin is list:
        if not parts[0].isdigit():
            raise ConfigError(field, f"unknown sweep parameter {path!r}: {parts[0]!r} must be a list index")
        (item_t,) = get_args(bare)
        return _walk_type(item_t, item_t, parts[1:], field, path)
    raise ConfigError(field, f"unknown sweep parameter {path!r}: {'.'.join(parts)} is below a plain value")


def check_value(path: str, value: Any, field: str, experiment_path: Path) -> None:
    """Refuse a value the schema can never accept (a typo, a wrong type) before anything runs."""
    if path == "topology":
        if not isinstance(value, str):
            raise ConfigError(field, f"topology {value!r} is neither a file nor a slice name")
        if is_slice_name(value):
            slice_named(value, field)  # refused here, naming the valid ones, when it is not one
        elif not resolve_relative(experiment_path, value).is_file():
            raise ConfigError(field, f"topology file {value!r} does not exist")
        return
    if value == INFER and mesh_axis_of(path) is not None:
        return
    try:
        TypeAdapter(_leaf_type(path)).validate_python(value, strict=True)
    except ValidationError as exc:
        raise ConfigError(field, f"value {value!r}: {exc.errors()[0]['msg']}") from None


def set_path(root: dict[str, Any], parts: list[str], value: Any, path: str) -> None:
    """Set a nested value, copying the containers on the way: the base mappings stay untouched, and
    nothing else is copied (a deep copy per plan would cost more than screening it)."""
    node: Any = root
    for i, part in enumerate(parts):
        key: Any = part
        if isinstance(node, list):
            key = int(part)
            if key >= len(node):
                raise ConfigError(path, f"index {key} is past the {len(node)} entries there")
        if i == len(parts) - 1:
            node[key] = copy.deepcopy(value)
            return
        child = node[key] if (isinstance(node, list) or key in node) else {}
        node[key] = list(child) if isinstance(child, list) else dict(child)
        node = node[key]


def island_counts(topo: dict[str, Any]) -> tuple[int, int]:
    """(chips per island, islands) of a topology mapping; every island has the first one's shape."""
    islands = topo.get("islands") or [{"shape": [1]}]
    return math.prod(islands[0]["shape"]), sum(int(i.get("count", 1)) for i in islands)


def _infer_and_tidy(plan: dict[str, Any], base_plan: dict[str, Any], topo: dict[str, Any]) -> None:
    chips, islands = island_counts(topo)
    for section, total in (("ici", chips), ("dcn", islands)):
        axes = infer_axes(dict(plan.get(section, {})), total, f"plan.{section}")
        # A size-1 axis is no axis; dropping it keeps "fsdp on ici and dcn" checks meaningful.
        plan[section] = {k: v for k, v in axes.items() if v != 1}
    # An explicit placement names dims for the base experiment's sizes: a resized axis is placed anew.
    base_ici = base_plan.get("ici", {})
    placement = plan.get("placement", {})
    plan["placement"] = {k: dims for k, dims in placement.items() if plan["ici"].get(k) == base_ici.get(k)
                         and k in plan["ici"]}


def resolve(base_exp: dict[str, Any], base_topo: dict[str, Any], experiment_path: Path,
            point: Point) -> tuple[ExperimentConfig, TopologyConfig]:
    """The experiment and topology of one point; a ConfigError says why the point is invalid."""
    exp, topo = dict(base_exp), dict(base_topo)
    # A new topology file first, so that topology.* overrides apply to it.
    for path, value in sorted(point, key=lambda kv: kv[0] != "topology"):
        if path == "topology":
            topo = read_topology_data(experiment_path, value)  # a fresh mapping
            exp["topology"] = value
        elif path.startswith("topology."):
            set_path(topo, path.split(".")[1:], value, path)
        else:
            set_path(exp, path.split("."), value, path)
    exp["plan"] = dict(exp.get("plan", {}))
    _infer_and_tidy(exp["plan"], base_exp.get("plan", {}), topo)
    return parse_experiment(exp), parse_topology(topo)
