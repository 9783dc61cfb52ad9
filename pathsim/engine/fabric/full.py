"""One unit per chip: every directed ICI link and every host NIC a resource of its own."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence

from pathsim.catalog.latencies import LATENCIES, RuntimeLatencies
from pathsim.costs.collectives import (
    SPEC_SHEET_LINKS,
    LinkTiming,
    ici_latency_s,
    ici_member_bytes,
    ring_link_loads,
)
from pathsim.engine.fabric.dcn import dcn_ring, dcn_send_flow
from pathsim.engine.fabric.host import add_host_links, host_flow
from pathsim.engine.fabric.protocol import Flow, Resource, Unit, Usage
from pathsim.engine.fabric.slot import PodSlot
from pathsim.placement.mesh_axes import Placement, axis_coordinate
from pathsim.platform.scenario import LinkState
from pathsim.platform.topology import Cluster, host_block, torus_neighbour
from pathsim.mesh.axis import HOST_LINK, ICI_PIPELINE, MeshAxis
from pathsim.workload.program import CommOp, Program


class FullFabric:
    """Every chip a unit; resources are directed ICI links (island, src, dst) and host NICs."""

    def __init__(self, program: Program, placement: Placement, cluster: Cluster,
                 slowdowns: dict[tuple[int, tuple[int, ...]], float] | None = None,
                 links: LinkState = LinkState(), slot: PodSlot | None = None,
                 timing: LinkTiming = SPEC_SHEET_LINKS, latencies: RuntimeLatencies = LATENCIES) -> None:
        self.program, self.placement, self.cluster, self.chip = program, placement, cluster, cluster.chip
        self.timing, self.latencies = timing, latencies
        self.slot = slot
        slowdowns = slowdowns or {}
        self.ici_axes = [a for a in placement.axes if a.network == "ici"]
        group_axes = [a for a, _ in program.group_axes]
        index_of = {tuple(c for _, c in g.coords): i for i, g in enumerate(program.groups)}
        units: list[Unit] = []
        self.mesh: list[dict[MeshAxis, int]] = []
        for ii, island in enumerate(cluster.islands):
            dcn_coords = self._dcn_coords(ii)
            for coord in itertools.product(*(range(n) for n in island.shape)):
                mesh = {a.axis: axis_coordinate(coord, a, island.dims) for a in self.ici_axes}
                gcoords = tuple(mesh[a] if a in mesh else dcn_coords[a] for a in group_axes)
                g = index_of[gcoords]
                prefix = f"{slot.job}:" if slot else ""
                units.append(Unit(name=f"{prefix}{island.name}{list(coord)}", group=g, island=ii, chips=1, coord=coord,
                                  slowdown=slowdowns.get((ii, coord), 1.0)))
                self.mesh.append(mesh)
        self.units = tuple(units)
        self._unit_at = {(u.island, u.coord): i for i, u in enumerate(units)}
        self._factor = links.as_dict()
        self.capacity: dict[Resource, float] = {}
        one_way = self.chip.ici_link_bytes_per_s
        for ii, island in enumerate(cluster.islands):
            for coord in itertools.product(*(range(n) for n in island.shape)):
                for d in range(len(island.shape)):
                    for step in (1, -1):
                        nxt = torus_neighbour(island, coord, d, step)
                        if nxt is not None:
                            for res in self._physical(ii, coord, nxt, d, step):
                                self.capacity[res] = one_way * self._factor.get((ii, coord, nxt), 1.0)
        host_bw = self.chip.dcn_bytes_per_s_per_host
        for u in self.units:
            host = self._host(u)
            self.capacity[host + ("out",)] = host_bw
            self.capacity[host + ("in",)] = host_bw
            add_host_links(self.capacity, u.name, self.chip)
        self._usage_cache: dict = {}
        self._members_cache: dict = {}

    def recorded_units(self) -> frozenset[int]:
        """The units whose timelines a run keeps: every chip's would not fit in memory, so the first chip
        of each group (it stands for its SPMD peers) and every straggler (the one chip that differs)."""
        first_of_group: dict[int, int] = {}
        for u, unit in enumerate(self.units):
            first_of_group.setdefault(unit.group, u)
        stragglers = {u for u, unit in enumerate(self.units) if unit.slowdown != 1.0}
        return frozenset(first_of_group.values()) | stragglers

    # --- coordinates ---------------------------------------------------------------------------------
    def _dcn_coords(self, island: int) -> dict[MeshAxis, int]:
        """Mixed-radix digits of the island index over the DCN axes (placement's group order)."""
        dcn = [(a, n) for a, n in self.program.group_axes if a.network == "dcn"]
        coords, rest = {}, island
        for a, n in reversed(dcn):
            coords[a] = rest % n
            rest //= n
        return coords

    def _host(self, u: Unit) -> tuple:
        block = host_block(self.chip, len(u.coord))
        if self.slot is not None:
            coord = tuple(c + o for c, o in zip(u.coord, self.slot.origin))
            return ("host", "pod", tuple(c // b for c, b in zip(coord, block)))
        return ("host", u.island, tuple(c // b for c, b in zip(u.coord, block)))

    def _physical(self, island: int, a: tuple[int, ...], b: tuple[int, ...], d: int, step: int) -> list[tuple]:
        """The physical links carrying the slice's link a->b: itself, or, in a shared pod, the pod's link
        between the same chips; a slice's wraparound is an OCS circuit of its own, or without the OCS the
        way round the rest of the pod's ring (through other jobs' chips)."""
        if self.slot is None:
            return [(island, a, b)]
        return self.slot.physical(a, b, d, step)

    # --- collectives ---------------------------------------------------------------------------------
    def group_members(self, u: int, axis: MeshAxis) -> tuple[Hashable, list[int]]:
        """Chips with the same torus coordinate on the other islands along a DCN axis."""
        unit = self.units[u]
        dcn = self._dcn_coords(unit.island)
        n = dict(self.program.group_axes)[axis]
        members = []
        for j in range(n):
            target = {**dcn, axis: j}
            island = 0
            for a, size in [(a, s) for a, s in self.program.group_axes if a.network == "dcn"]:
                island = island * size + target[a]
            members.append(self._unit_at[(island, unit.coord)])
        key = (unit.coord, tuple(sorted((a, c) for a, c in dcn.items() if a != axis)))
        return key, members

    def members(self, u: int, op: CommOp) -> tuple[Hashable, list[int]]:
        cached = self._members_cache.get((op.axis, u))
        if cached is None:
            cached = self._find_members(u, op)
            for m in cached[1]:
                self._members_cache[(op.axis, m)] = cached
        return cached

    def _find_members(self, u: int, op: CommOp) -> tuple[Hashable, list[int]]:
        if op.axis == HOST_LINK:
            return (u,), [u]
        if op.axis.network == "dcn":
            return self.group_members(u, op.axis)
        unit = self.units[u]
        axis = self.placement.axis(op.axis)
        dims = self.cluster.islands[unit.island].dims
        # The chips of the axis group: vary this axis's segments, keep every other coordinate.
        coords = [list(unit.coord)]
        for seg in axis.segments:
            d = dims.index(seg.dim)
            base = [c for c in coords]
            coords = []
            for c in base:
                start = c[d] - ((c[d] // seg.stride) % seg.size) * seg.stride
                for k in range(seg.size):
                    moved = list(c)
                    moved[d] = start + k * seg.stride
                    coords.append(moved)
        members = sorted(self._unit_at[(unit.island, tuple(c))] for c in coords)
        return (unit.island, op.axis, members[0]), members

    def peer(self, u: int, op: CommOp) -> int:
        """The chip of the receiving group with the same coordinate on every other axis."""
        unit = self.units[u]
        if op.axis.network == "dcn":
            _, members = self.group_members(u, op.axis)
            same = next((m for m in members if self.units[m].group == op.peer_group), None)
            return same if same is not None else self._stage_peer(u, op.peer_group)
        axis = self.placement.axis(op.axis)
        seg = axis.segments[0]
        d = self.cluster.islands[unit.island].dims.index(seg.dim)
        step = 1 if op.peer_group > unit.group else -1
        target = list(unit.coord)
        target[d] += step * seg.stride
        return self._unit_at[(unit.island, tuple(target))]

    def _stage_peer(self, u: int, group: int) -> int:
        """A pipeline crossing islands: the chip of the peer stage (on another island, at another
        ici.pipeline coordinate) with the same coordinate on every other ICI axis."""
        key = ("stage_peer", u, group)
        if key not in self._members_cache:
            mine = {a: c for a, c in self.mesh[u].items() if a != ICI_PIPELINE}
            self._members_cache[key] = next(
                m for m, unit in enumerate(self.units)
                if unit.group == group and all(self.mesh[m][a] == c for a, c in mine.items()))
        return self._members_cache[key]

    def _path(self, island: int, a: tuple[int, ...], d: int, hops: int, step: int) -> list[tuple]:
        """Directed links from chip a, `hops` steps along dim d, rerouting around failed links."""
        isl = self.cluster.islands[island]
        links, cur = [], a
        for _ in range(hops):
            nxt = torus_neighbour(isl, cur, d, step)
            links.extend(self._route(island, cur, nxt, d, step))
            cur = nxt
        return links

    def _alive(self, island, a, b) -> bool:
        return self._factor.get((island, a, b), 1.0) > 0.0

    def _route(self, island, a, b, d, step) -> list[tuple]:
        """A failed link's traffic detours through a neighbouring ring: across, along, back."""
        if self._alive(island, a, b):
            return self._physical(island, a, b, d, step)
        isl = self.cluster.islands[island]
        for k in range(len(isl.shape)):
            if k == d:
                continue
            for side in (1, -1):
                a2, b2 = torus_neighbour(isl, a, k, side), torus_neighbour(isl, b, k, side)
                if a2 is None or b2 is None:
                    continue
                hops = [(a, a2, k, side), (a2, b2, d, step), (b2, b, k, -side)]
                if all(self._alive(island, x, y) for x, y, _, _ in hops):
                    return [r for x, y, dim, st in hops for r in self._physical(island, x, y, dim, st)]
        raise RuntimeError(f"no route around failed link {a}->{b} on island {island}")

    def _ring_usage(self, members: Sequence[int], axis) -> Usage:
        """Per member byte, the load on each directed link of the members' rings (or lines)."""
        first = self.units[members[0]]
        island = first.island
        dims = self.cluster.islands[island].dims
        usage: Usage = {}
        member_set = {self.units[m].coord for m in members}
        for seg, weight in ring_link_loads(axis, self.chip):
            d = dims.index(seg.dim)
            for coord in member_set:
                pos = (coord[d] // seg.stride) % seg.size
                if seg.ring or pos < seg.size - 1:
                    for link in self._path(island, coord, d, seg.stride, +1):
                        usage[link] = usage.get(link, 0.0) + weight
                    nxt = list(coord)
                    nxt[d] = (coord[d] + seg.stride) % self.cluster.islands[island].shape[d]
                    for link in self._path(island, tuple(nxt), d, seg.stride, -1):
                        usage[link] = usage.get(link, 0.0) + weight
        return usage

    def flows(self, op: CommOp, members: Sequence[int]) -> tuple[list[Flow], float]:
        if op.axis == HOST_LINK:
            return [host_flow(self.units[members[0]].name, op)], 0.0
        if op.axis.network == "dcn":
            return dcn_ring(op, members, lambda a, b: {self._host(self.units[a]) + ("out",): 1.0,
                                                       self._host(self.units[b]) + ("in",): 1.0},
                            self.latencies)
        axis = self.placement.axis(op.axis)
        key = (op.axis, members[0])
        usage = self._usage_cache.get(key)
        if usage is None:
            usage = self._usage_cache[key] = self._ring_usage(members, axis)
        floor, startup = ici_latency_s(op.collective, axis, self.chip, self.timing)
        nbytes = ici_member_bytes(op.collective, op.bytes, axis) / self.timing.ici_payload_efficiency
        return [Flow(nbytes, usage, 0.0, startup)], floor

    def send_flow(self, u: int, peer: int, op: CommOp) -> Flow:
        a, b = self.units[u], self.units[peer]
        if op.axis.network == "dcn":
            return dcn_send_flow(op.bytes, {self._host(a) + ("out",): 1.0, self._host(b) + ("in",): 1.0},
                                 self.latencies)
        axis = self.placement.axis(op.axis)
        seg = axis.segments[0]
        d = self.cluster.islands[a.island].dims.index(seg.dim)
        step = 1 if b.group > a.group else -1
        links = self._path(a.island, a.coord, d, seg.stride, step)
        floor, startup = ici_latency_s("send", axis, self.chip, self.timing)
        return Flow(op.bytes / self.timing.ici_payload_efficiency, {link: 1.0 for link in links}, floor, startup)
