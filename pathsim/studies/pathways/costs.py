"""Device-side durations the Pathways experiments feed the engine, from the catalog and the collective
model (pathsim.costs.collectives): no simulation here."""

from __future__ import annotations

import math

from pathsim.catalog.hardware import ChipSpec
from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.config.experiment import IslandConfig, TopologyConfig
from pathsim.costs.collectives import closed_form_time_s
from pathsim.errors import ConfigError
from pathsim.placement.mesh_axes import AxisPlacement, AxisSegment
from pathsim.platform.topology import Island, build_cluster
from pathsim.mesh.axis import ICI_DATA

SCALAR_BYTES = 4.0  # one f32


def balanced_shape(chips: int, dims: int, field: str) -> tuple[int, ...]:
    """The most cubic torus slice of `chips` (a power of two): double the smallest dim each time."""
    if chips < 1 or chips & (chips - 1):
        raise ConfigError(field, f"{chips} chips: the benchmark's slices need a power of two")
    shape = [1] * dims
    for _ in range(chips.bit_length() - 1):
        shape[shape.index(min(shape))] *= 2
    return tuple(sorted(shape))


def island(shape: tuple[int, ...], chip: ChipSpec, field: str) -> Island:
    """The slice as the topology module builds it (which dims wrap around)."""
    if math.prod(shape) > chip.max_slice_chips:
        raise ConfigError(field, f"{math.prod(shape)} chips exceed the {chip.name} maximum slice of "
                                 f"{chip.max_slice_chips}")
    topo = TopologyConfig(name="slice", chip=chip.name, islands=[IslandConfig(shape=list(shape))])
    return build_cluster(topo).islands[0]


def whole_island_axis(isl: Island) -> AxisPlacement:
    """The benchmark's all-reduce over every chip of the island: one data axis with a segment per torus dim."""
    segments = tuple(AxisSegment(dim=d, size=isl.dim_size(d), stride=1, ring=isl.dim_wraps(d))
                     for d in isl.dims if isl.dim_size(d) > 1)
    return AxisPlacement(axis=ICI_DATA, size=isl.chips, segments=segments)


def collective_s(kind: str, v_bytes: float, isl: Island, chip: ChipSpec) -> float:
    return closed_form_time_s(kind, v_bytes, whole_island_axis(isl), chip)


def benchmark_computation_s(isl: Island, chip: ChipSpec, lat: RuntimeLatencies) -> float:
    """The paper's micro-benchmark computation: a scalar all-reduce over every chip plus a scalar add,
    i.e. the all-reduce's hop latency plus the fixed cost of running one program."""
    return lat.device_program_s + collective_s("all_reduce", SCALAR_BYTES, isl, chip)
