"""Plan + topology -> the TPU topology XLA compiles for, a jax Mesh over its devices, and logical axis
rules (MaxText style) saying which mesh axes shard each tensor dimension. Without a topology, the plan's
mesh over the devices at hand (the calibration runs the same step on CPU or GPU devices).

Mesh axes are pathsim's MeshAxis, named in jax by their printed form ("dcn.data", "ici.fsdp"): DCN axes
first, then ICI axes, so a device id of the compiled program (its position in the mesh) decodes to
pathsim's axes directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pathsim.config.experiment import PlanConfig, TopologyConfig
from pathsim.errors import ConfigError
from pathsim.mesh.sharding import Sharding, device_order, sharding_of
from pathsim.workload.xla.hlo_import import MeshAxes

# pathsim chip -> (libtpu topology prefix, chip_config_name): names that compile (xla_tpu_aot.md).
TPU_TARGETS = {
    "tpu_v4": ("v4", "megacore"),
    "tpu_v5e": ("v5e", "default"),
    "tpu_v5p": ("v5p", "megacore"),
    "tpu_v6e": ("v6e", "default"),
}


@dataclass(frozen=True)
class TargetTopology:
    """What libtpu is asked to compile for."""

    name: str  # e.g. "v4:12x16x16"
    chip_config: str
    num_slices: int
    chips_per_host_bounds: tuple[int, int, int]


@dataclass(frozen=True)
class MeshPlan:
    """The mesh axes in device order and the plan's sharding (mesh/sharding.py, which the lowering reads too)."""

    axes: MeshAxes
    target: TargetTopology | None  # None: no TPU target, the step runs on the devices at hand
    sharding: Sharding
    microbatches: int = 1  # gradient accumulation: the step runs forward and backward once per micro-batch

    def rules(self) -> dict[str, tuple[str, ...] | str | None]:
        """Logical axis name -> jax mesh axis names (MaxText's logical_axis_rules)."""
        return self.sharding.jax_rules()


def target_topology(topo: TopologyConfig) -> TargetTopology:
    if topo.chip not in TPU_TARGETS:
        raise ConfigError("topology.chip", f"{topo.chip!r} has no XLA TPU target; compile for one of "
                          f"{', '.join(sorted(TPU_TARGETS))}")
    shapes = {tuple(i.shape) for i in topo.islands}
    if len(shapes) > 1:
        raise ConfigError("topology.islands", "program: xla compiles one slice shape; the islands differ")
    shape = next(iter(shapes))
    prefix, config = TPU_TARGETS[topo.chip]
    slices = sum(i.count for i in topo.islands)
    # Hosts hold 2x2x1 chips on every target (catalog chips_per_host: 4 on v4/v5p; v5e/v6e hosts of 8
    # are 2x4 but libtpu's default bound 2x2x1 also compiles); a smaller slice sits on one host.
    bounds = tuple(min(2, n) if k < 2 else 1 for k, n in enumerate(list(shape) + [1] * (3 - len(shape))))
    return TargetTopology(name=f"{prefix}:{'x'.join(map(str, shape))}", chip_config=config,
                          num_slices=slices, chips_per_host_bounds=bounds)


def mesh_plan(plan: PlanConfig, topo: TopologyConfig | None = None) -> MeshPlan:
    """The plan's mesh; with a topology, also the TPU target it compiles for (its islands the DCN axes)."""
    if plan.degree("pipeline") > 1:
        raise ConfigError("plan.pipeline", "program: xla compiles SPMD plans (data, fsdp, tensor); use "
                          "program: lowered for pipeline parallelism")
    order = device_order(plan)
    axes = MeshAxes(order)
    if topo is not None:
        islands = sum(i.count for i in topo.islands)
        if math.prod(plan.dcn.values()) != islands:
            raise ConfigError("plan.dcn", f"axis sizes {dict(plan.dcn)} do not multiply to the {islands} islands")
    return MeshPlan(axes=axes, target=target_topology(topo) if topo is not None else None,
                    sharding=sharding_of(plan), microbatches=plan.microbatches)


def local_mesh(mp: MeshPlan):
    """A jax Mesh over the first devices of the backend at hand, in id order (no TPU topology to follow)."""
    import jax
    import numpy as np
    from jax.sharding import Mesh

    need, devices = math.prod(mp.axes.sizes), jax.devices()
    if len(devices) < need:
        raise ConfigError("plan", f"mesh {dict(mp.axes.axes)} needs {need} devices, the backend has {len(devices)}")
    return Mesh(np.array(devices[:need]).reshape(mp.axes.sizes), mp.axes.names)


def build_mesh(mp: MeshPlan):
    """A jax Mesh over the abstract devices of the target topology (libtpu, no TPU needed)."""
    from jax.experimental import mesh_utils, topologies
    from jax.sharding import Mesh

    t = mp.target
    try:
        desc = topologies.get_topology_desc(platform="tpu", topology_name=t.name, chip_config_name=t.chip_config,
                                            chips_per_host_bounds=t.chips_per_host_bounds, num_slices=t.num_slices)
    except Exception as e:  # libtpu's message names what it cannot build
        raise ConfigError("topology", f"libtpu cannot describe {t.name} x {t.num_slices}: "
                          f"{str(e).splitlines()[0]}") from None
    devices = desc.devices
    names = mp.axes.names
    sizes = mp.axes.sizes
    if len(devices) != math.prod(sizes):
        raise ConfigError("plan", f"mesh {dict(mp.axes.axes)} has {math.prod(sizes)} devices, "
                          f"{t.name} x {t.num_slices} has {len(devices)}")
    n_dcn = sum(a.network == "dcn" for a, _ in mp.axes.axes)
    ici_shape = tuple(1 if k < n_dcn else n for k, n in enumerate(sizes))
    dcn_shape = tuple(n if k < n_dcn else 1 for k, n in enumerate(sizes))
    try:
        if t.num_slices > 1:
            grid = mesh_utils.create_hybrid_device_mesh(ici_shape, dcn_shape, devices)
        else:
            grid = mesh_utils.create_device_mesh(sizes, devices)
    except (ValueError, NotImplementedError, AssertionError):
        # No physical ring order for this shape: devices in id order (still a valid SPMD mesh).
        import numpy as np

        grid = np.array(devices).reshape(sizes)
    return Mesh(grid, names)
