"""Plan + Cluster --place--> Placement: each ICI mesh axis onto torus dims, DCN axes onto islands.

An ICI axis takes one or more factors ("segments") of the torus dims. The first factor taken from a dim
is contiguous (stride 1); later factors of the same dim are strided. A segment is a ring when the dim
wraps around and the segment spans it (size x stride = dim length); otherwise it is a line, on which a
collective can use one direction only (about twice the time; the scaling book, collectives chapter).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from pathsim.config.experiment import PlanConfig
from pathsim.errors import ConfigError
from pathsim.mesh.plan import Mesh
from pathsim.platform.topology import Cluster, Island
from pathsim.mesh.axis import ICI_PIPELINE, MeshAxis, NetworkKind

AUTO_ORDER = ("tensor", "pipeline", "fsdp", "data")  # innermost (fastest, contiguous links) first


@dataclass(frozen=True)
class AxisSegment:
    dim: str
    size: int
    stride: int  # physical hops between neighbouring members
    ring: bool

    @property
    def link_load(self) -> float:
        """Physical link traffic per byte a member receives, relative to a wrapped contiguous ring."""
        return self.stride * (1.0 if self.ring else 2.0)

    @property
    def latency_hops(self) -> float:
        """Hops of the slowest chain: half the ring each way, or the whole line."""
        return self.stride * (self.size / 2.0 if self.ring else self.size - 1.0)


@dataclass(frozen=True)
class AxisPlacement:
    axis: MeshAxis
    size: int
    segments: tuple[AxisSegment, ...] = ()
    all_to_all_gain: float = 1.0  # a twisted torus's all-to-all speed-up (TPU v4 paper, ISCA 2023)

    @property
    def network(self) -> NetworkKind:
        return self.axis.network


@dataclass(frozen=True)
class Placement:
    axes: tuple[AxisPlacement, ...]
    group_islands: tuple[int, ...]  # island index of each group of the Program, in order
    chips_per_group: int

    def axis(self, axis: MeshAxis) -> AxisPlacement:
        for placed in self.axes:
            if placed.axis == axis:
                return placed
        raise KeyError(str(axis))


def axis_coordinate(coord: tuple[int, ...], axis: AxisPlacement, dims: tuple[str, ...]) -> int:
    """A chip's index along a mesh axis: mixed radix over the axis's segments."""
    index = 0
    for seg in axis.segments:
        index = index * seg.size + (coord[dims.index(seg.dim)] // seg.stride) % seg.size
    return index


class _DimPool:
    """What is left of each torus dim to hand out to axes."""

    def __init__(self, island: Island) -> None:
        self.island = island
        self.remaining = {d: island.dim_size(d) for d in island.dims}
        self.stride = {d: 1 for d in island.dims}

    def take(self, dim: str, size: int) -> AxisSegment:
        stride = self.stride[dim]
        length = self.island.dim_size(dim)
        ring = self.island.dim_wraps(dim) and size * stride == length
        self.remaining[dim] //= size
        self.stride[dim] *= size
        return AxisSegment(dim=dim, size=size, stride=stride, ring=ring)


def _auto_factors(pool: _DimPool, size: int) -> list[tuple[str, int]] | None:
    """Whole dims first (one, then two, then three), then whole dims times a part of one more."""
    free = [d for d in pool.island.dims if pool.remaining[d] > 1]
    for r in range(1, len(free) + 1):
        for combo in itertools.combinations(free, r):
            if math.prod(pool.remaining[d] for d in combo) == size:
                return [(d, pool.remaining[d]) for d in combo]
    for r in range(0, len(free)):
        for whole in itertools.combinations(free, r):
            p = math.prod(pool.remaining[d] for d in whole)
            if size % p:
                continue
            rest = size // p
            for d in free:
                if d not in whole and pool.remaining[d] % rest == 0:
                    return [(w, pool.remaining[w]) for w in whole] + [(d, rest)]
    return None


def _explicit_factors(pool: _DimPool, kind: str, specs: list[str], size: int) -> list[tuple[str, int]]:
    field = f"plan.placement.{kind}"
    factors = []
    for spec in specs:
        dim, _, part = spec.partition(":")
        if dim not in pool.island.dims:
            raise ConfigError(field, f"unknown torus dim {dim!r}; this slice has {', '.join(pool.island.dims)}")
        if part and not part.isdigit():
            raise ConfigError(field, f"{spec!r} must be DIM or DIM:SIZE")
        n = int(part) if part else pool.remaining[dim]
        if n <= 0 or pool.remaining[dim] % n:
            raise ConfigError(field, f"{spec!r}: {n} does not divide what is left of dim {dim} ({pool.remaining[dim]})")
        factors.append((dim, n))
    if math.prod(n for _, n in factors) != size:
        raise ConfigError(field, f"dims {specs} hold {math.prod(n for _, n in factors)} chips, the axis has {size}")
    return factors


def place(plan: PlanConfig, mesh: Mesh, cluster: Cluster) -> Placement:
    """The plan's axes onto the cluster; `mesh` is the plan's (mesh_of(plan)), sizes and group axes."""
    sizes = mesh.sizes
    shapes = {island.shape for island in cluster.islands}
    if len(shapes) > 1:
        raise ConfigError("topology.islands", f"an SPMD plan needs islands of one shape, got {sorted(shapes)}")
    island = cluster.islands[0]
    ici_total = math.prod(plan.ici.values()) if plan.ici else 1
    if ici_total != island.chips:
        raise ConfigError("plan.ici", f"axis sizes {dict(plan.ici)} multiply to {ici_total}, "
                          f"but each island ({'x'.join(map(str, island.shape))}) has {island.chips} chips")
    dcn_total = math.prod(plan.dcn.values()) if plan.dcn else 1
    if dcn_total != len(cluster.islands):
        raise ConfigError("plan.dcn", f"axis sizes {dict(plan.dcn)} multiply to {dcn_total}, "
                          f"but the topology has {len(cluster.islands)} islands")
    pool = _DimPool(island)
    placed: list[AxisPlacement] = []
    explicit = [k for k in plan.placement]
    auto = [k for k in AUTO_ORDER if k in plan.ici and k not in plan.placement]
    for kind in explicit + auto:
        size = plan.ici[kind]
        if size == 1:
            factors: list[tuple[str, int]] | None = []
        elif kind in plan.placement:
            factors = _explicit_factors(pool, kind, plan.placement[kind], size)
        else:
            factors = _auto_factors(pool, size)
        if factors is None:
            left = {d: n for d, n in pool.remaining.items() if n > 1}
            raise ConfigError(f"plan.ici.{kind}", f"size {size} does not fit the torus dims left {left}; "
                              "set plan.placement to choose dims")
        segments = tuple(pool.take(d, n) for d, n in factors)
        placed.append(AxisPlacement(axis=MeshAxis("ici", kind), size=size, segments=segments,
                                    all_to_all_gain=island.all_to_all_gain))
    placed.extend(AxisPlacement(axis=MeshAxis("dcn", kind), size=size)
                  for kind, size in plan.dcn.items())
    # Groups: the island of a group is the mixed-radix number of its DCN coordinates.
    gaxes = mesh.group_axes
    dcn_axes = [(i, n) for i, (a, n) in enumerate(gaxes) if a.network == "dcn"]
    islands = []
    for coords in itertools.product(*(range(n) for _, n in gaxes)):
        index = 0
        for i, n in dcn_axes:
            index = index * n + coords[i]
        islands.append(index)
    pipeline = sizes.get(ICI_PIPELINE, 1)
    return Placement(axes=tuple(placed), group_islands=tuple(islands),
                     chips_per_group=island.chips // pipeline)
