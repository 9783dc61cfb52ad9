"""A plan's mesh: each named axis (network x kind) with its size, read once from the plan's `ici` and `dcn`
sections. Placement maps these axes onto torus dims; the lowering and the XLA step shard over them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pathsim.config.experiment import AxisKind, PlanConfig
from pathsim.errors import ConfigError
from pathsim.mesh.axis import ICI_PIPELINE, MeshAxis


@dataclass(frozen=True)
class Mesh:
    """Every axis of the plan with its size, ici axes first, each network in the plan's order."""

    axes: tuple[tuple[MeshAxis, int], ...]

    @property
    def sizes(self) -> dict[MeshAxis, int]:
        return dict(self.axes)

    def size(self, axis: MeshAxis) -> int:
        """The axis's size; 1 for an axis the plan does not have."""
        return self.sizes.get(axis, 1)

    @property
    def group_axes(self) -> tuple[tuple[MeshAxis, int], ...]:
        """Axes whose members run different programs or sit on different islands, sorted."""
        return tuple(sorted((a, n) for a, n in self.axes if a.network == "dcn" or a == ICI_PIPELINE))

    def axis_of(self, kind: AxisKind) -> MeshAxis:
        """The axis of fsdp or pipeline: on dcn if the plan puts it there (never on both: mesh_of), else ici."""
        dcn = MeshAxis("dcn", kind)
        return dcn if dcn in self.sizes else MeshAxis("ici", kind)

    @property
    def ici_chips_per_group(self) -> int:
        """Chips of one device group: the product of the ici axes other than the pipeline."""
        return math.prod(n for a, n in self.axes if a.network == "ici" and a != ICI_PIPELINE)


def mesh_of(plan: PlanConfig) -> Mesh:
    if "tensor" in plan.dcn:
        raise ConfigError("plan.dcn.tensor", "tensor parallelism over the DCN is not supported; put it on ici")
    if "fsdp" in plan.ici and "fsdp" in plan.dcn:
        raise ConfigError("plan.dcn.fsdp", "fsdp may be on ici or on dcn, not both")
    return Mesh(tuple((MeshAxis(network, k), v)
                      for network, axes in (("ici", plan.ici), ("dcn", plan.dcn)) for k, v in axes.items()))


def stage_layers(n_layers: int, stages: int, stage: int) -> range:
    """Layers split as evenly as possible; earlier stages take the remainder."""
    base, extra = divmod(n_layers, stages)
    start = stage * base + min(stage, extra)
    return range(start, start + base + (1 if stage < extra else 0))
