"""The platform: islands of chips on an ICI torus, hosts of a few chips each, the DCN joining islands.

`build_cluster` turns a TopologyConfig into a frozen Cluster; `Cluster.graph()` builds the networkx graph
(chips, hosts, one DCN switch) for analysis and for full-fidelity simulation.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from pathsim.catalog.hardware import (
    TWISTED_ALL_TO_ALL_GAIN,
    TWISTED_ALL_TO_ALL_GAIN_WIDE,
    ChipSpec,
    chip_spec,
)
from pathsim.config.experiment import TopologyConfig
from pathsim.errors import ConfigError

DIM_NAMES = ("x", "y", "z")


@dataclass(frozen=True)
class Island:
    """One pod or slice: a torus of chips joined by ICI, gang-scheduled as one unit."""

    name: str
    shape: tuple[int, ...]
    wraparound: tuple[bool, ...]
    twisted: bool = False

    @property
    def chips(self) -> int:
        return math.prod(self.shape)

    @property
    def dims(self) -> tuple[str, ...]:
        return DIM_NAMES[: len(self.shape)]

    def dim_size(self, dim: str) -> int:
        return self.shape[self.dims.index(dim)]

    def dim_wraps(self, dim: str) -> bool:
        return self.wraparound[self.dims.index(dim)]

    @property
    def all_to_all_gain(self) -> float:
        """A twisted torus speeds all-to-all up (TPU v4 paper, ISCA 2023); other collectives are unchanged."""
        if not self.twisted:
            return 1.0
        small, _, large = sorted(self.shape)
        return (TWISTED_ALL_TO_ALL_GAIN if large == 2 * small and sorted(self.shape)[1] == small
                else TWISTED_ALL_TO_ALL_GAIN_WIDE).value

    def ici_diameter_hops(self) -> int:
        """Longest shortest path: half a ring on a wrapped axis, the whole line otherwise."""
        return sum(n // 2 if wrap else n - 1 for n, wrap in zip(self.shape, self.wraparound))


@dataclass(frozen=True)
class Cluster:
    name: str
    chip: ChipSpec
    islands: tuple[Island, ...]
    overrides: tuple[tuple[str, float], ...] = ()

    @property
    def chips(self) -> int:
        return sum(island.chips for island in self.islands)

    def hosts_in(self, island: Island) -> int:
        return math.ceil(island.chips / self.chip.chips_per_host)

    @property
    def hosts(self) -> int:
        return sum(self.hosts_in(island) for island in self.islands)

    @cached_property
    def _graph(self) -> nx.Graph:
        return _build_graph(self)

    def graph(self) -> nx.Graph:
        return self._graph


def _wraparound(shape: tuple[int, ...], chip: ChipSpec) -> tuple[bool, ...]:
    """Cloud TPU docs and the scaling book: wraparound on an axis only when it is a multiple of the rule's
    length, and never on slices smaller than a full cube."""
    big_enough = math.prod(shape) >= chip.wraparound_min_chips
    return tuple(big_enough and n % chip.wraparound_multiple == 0 and n > 2 for n in shape)


MAX_ISLANDS = 1024  # islands of one deployment; PaLM used 2 pods


def build_cluster(topo: TopologyConfig) -> Cluster:
    chip = chip_spec(topo.chip, "topology.chip")
    total = sum(spec.count for spec in topo.islands)
    if total > MAX_ISLANDS:
        raise ConfigError("topology.islands", f"{total} islands; at most {MAX_ISLANDS}")
    if topo.overrides:
        chip = dataclasses.replace(chip, **topo.overrides)
    islands: list[Island] = []
    for i, spec in enumerate(topo.islands):
        field = f"topology.islands.{i}.shape"
        if len(spec.shape) != chip.torus_dims:
            raise ConfigError(field, f"{chip.name} has a {chip.torus_dims}D torus, got {len(spec.shape)} dims")
        if any(n <= 0 for n in spec.shape):
            raise ConfigError(field, f"every dim must be positive, got {spec.shape}")
        shape = tuple(spec.shape)
        if math.prod(shape) > chip.max_slice_chips:
            raise ConfigError(field, f"{math.prod(shape)} chips exceed the {chip.name} maximum of {chip.max_slice_chips}")
        _check_slice_shape(shape, chip, field)
        if spec.twisted and not _twistable(shape):
            raise ConfigError(f"topology.islands.{i}.twisted", f"a twisted torus needs an n x n x 2n or "
                              f"n x 2n x 2n shape, got {'x'.join(map(str, shape))}")
        for k in range(spec.count):
            if spec.name is None:
                name = f"island{len(islands)}"
            else:
                name = spec.name if spec.count == 1 else f"{spec.name}{k}"
            islands.append(Island(name=name, shape=shape, wraparound=_wraparound(shape, chip), twisted=spec.twisted))
    names = [island.name for island in islands]
    if len(set(names)) != len(names):
        raise ConfigError("topology.islands", f"island names must be unique, got {names}")
    return Cluster(name=topo.name, chip=chip, islands=tuple(islands), overrides=tuple(sorted(topo.overrides.items())))


def _check_slice_shape(shape: tuple[int, ...], chip: ChipSpec, field: str) -> None:
    """What a pod can hold (Cloud TPU docs): on 3D tori, slices of a cube or more are made of whole
    cubes joined by the OCS (4i x 4j x 4k), smaller ones fit inside one cube; 2D tori are at most one
    pod edge long on each axis."""
    edge = chip.wraparound_multiple
    text = "x".join(map(str, shape))
    if len(shape) == 3 and math.prod(shape) >= chip.wraparound_min_chips:
        if any(n % edge for n in shape):
            raise ConfigError(field, f"{text} is not made of whole {edge}x{edge}x{edge} cubes")
    elif any(n > edge for n in shape):
        raise ConfigError(field, f"{text} does not fit: each axis is at most {edge} chips here")


def _twistable(shape: tuple[int, ...]) -> bool:
    if len(shape) != 3:
        return False
    a, b, c = sorted(shape)
    return (a == b and c == 2 * a) or (b == c and b == 2 * a)


def torus_neighbour(island, coord: tuple[int, ...], d: int, step: int) -> tuple[int, ...] | None:
    """The chip one step (+1 or -1) along dim `d` from `coord`, round the wraparound; None off the edge."""
    n = island.shape[d]
    if n == 1:
        return None
    nxt = list(coord)
    nxt[d] += step
    if not 0 <= nxt[d] < n:
        if not island.wraparound[d]:
            return None
        nxt[d] %= n
    return tuple(nxt)


def host_block(chip: ChipSpec, ndims: int) -> tuple[int, ...]:
    """Chips of one host as a block of the torus: 2x2x1 trays on 3D tori, 2x4 boards on 2D ones."""
    if ndims == 3:
        return (2, 2, max(1, chip.chips_per_host // 4))
    return (2, max(1, chip.chips_per_host // 2))


def _build_graph(cluster: Cluster) -> nx.Graph:
    g = nx.Graph()
    g.add_node(("dcn",), kind="dcn")
    host_bw = cluster.chip.dcn_bytes_per_s_per_host
    for ii, island in enumerate(cluster.islands):
        block = host_block(cluster.chip, len(island.shape))
        for coord in itertools.product(*(range(n) for n in island.shape)):
            chip = ("chip", ii, coord)
            host = ("host", ii, tuple(c // b for c, b in zip(coord, block)))
            g.add_node(chip, kind="chip", island=ii)
            if host not in g:
                g.add_node(host, kind="host", island=ii)
                g.add_edge(host, ("dcn",), kind="dcn", bytes_per_s=host_bw)
            g.add_edge(chip, host, kind="pcie")
            for d, n in enumerate(island.shape):
                if n == 1:
                    continue
                nxt = list(coord)
                nxt[d] = coord[d] + 1
                wrapped = nxt[d] == n
                if wrapped and not island.wraparound[d]:
                    continue
                nxt[d] %= n
                g.add_edge(chip, ("chip", ii, tuple(nxt)), kind="ici", dim=DIM_NAMES[d],
                           bytes_per_s=cluster.chip.ici_link_bytes_per_s, wraparound=wrapped)
    return g


def ici_subgraph(cluster: Cluster, island_index: int) -> nx.Graph:
    g = cluster.graph()
    chips = [n for n, data in g.nodes(data=True) if data["kind"] == "chip" and data["island"] == island_index]
    return g.subgraph(chips)
