"""One unit per device group: a representative chip's links stand for every chip of the group."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from pathsim.catalog.latencies import LATENCIES, RuntimeLatencies
from pathsim.costs.collectives import SPEC_SHEET_LINKS, LinkTiming, ici_flow
from pathsim.engine.fabric.dcn import dcn_ring, dcn_send_flow, stage_nic_classes
from pathsim.engine.fabric.host import add_host_links, host_flow
from pathsim.engine.fabric.protocol import Flow, Resource, Unit
from pathsim.placement.mesh_axes import Placement
from pathsim.platform.topology import Cluster
from pathsim.mesh.axis import HOST_LINK, ICI_PIPELINE, MeshAxis
from pathsim.workload.program import CommOp, Program


class FoldedFabric:
    def __init__(self, program: Program, placement: Placement, cluster: Cluster,
                 timing: LinkTiming = SPEC_SHEET_LINKS, latencies: RuntimeLatencies = LATENCIES) -> None:
        self.program, self.placement, self.cluster, self.chip = program, placement, cluster, cluster.chip
        self.timing, self.latencies = timing, latencies
        self.units = tuple(Unit(name=g.name, group=i, island=placement.group_islands[i], chips=g.chips)
                           for i, g in enumerate(program.groups))
        self.capacity: dict[Resource, float] = {}
        nic_class, chips_per_host = stage_nic_classes(placement, cluster)
        self._nic: list[tuple] = []
        for u, unit in enumerate(self.units):
            for dim in cluster.islands[unit.island].dims:
                for direction in "+-":
                    self.capacity[(unit.name, f"ici.{dim}{direction}")] = self.chip.ici_link_bytes_per_s
            stage = program.groups[u].coord(ICI_PIPELINE)
            nic = (unit.island, "nic", nic_class.get(stage, 0))
            self._nic.append(nic)
            # A representative chip's share of its host's NIC: the host's bandwidth over its chips in
            # this group; groups (pipeline stages) on the same hosts share it.
            self.capacity[nic + ("out",)] = self.chip.dcn_bytes_per_s_per_host / chips_per_host
            self.capacity[nic + ("in",)] = self.chip.dcn_bytes_per_s_per_host / chips_per_host
            add_host_links(self.capacity, unit.name, self.chip)  # each chip its own link: the unit's stand-in
        self._axis_index = {a: i for i, (a, _) in enumerate(program.group_axes)}
        self._coords = [tuple(c for _, c in g.coords) for g in program.groups]
        self._index_of = {c: i for i, c in enumerate(self._coords)}

    def group_members(self, u: int, axis: MeshAxis) -> tuple[Hashable, list[int]]:
        """Units that differ from unit u only along a group axis (DCN axes, the pipeline)."""
        k = self._axis_index[axis]
        mine = self._coords[u]
        n = self.program.group_axes[k][1]
        members = [self._index_of[mine[:k] + (j,) + mine[k + 1:]] for j in range(n)]
        return mine[:k] + mine[k + 1:], members

    def members(self, u: int, op: CommOp) -> tuple[Hashable, list[int]]:
        if op.axis.network == "dcn":
            return self.group_members(u, op.axis)
        return (u,), [u]  # ICI collectives of a folded group, and host copies

    def peer(self, u: int, op: CommOp) -> int:
        return op.peer_group

    def flows(self, op: CommOp, members: Sequence[int]) -> tuple[list[Flow], float]:
        if op.axis == HOST_LINK:
            return [host_flow(self.units[members[0]].name, op)], 0.0
        if op.axis.network == "dcn":
            return dcn_ring(op, members, lambda a, b: {self._nic[a] + ("out",): 1.0, self._nic[b] + ("in",): 1.0},
                            self.latencies)
        flow = ici_flow(op.collective, op.bytes, self.placement.axis(op.axis), self.chip, links=self.timing)
        name = self.units[members[0]].name
        return [Flow(flow.bytes, {(name, res): w for res, w in flow.usage}, 0.0, flow.startup_s)], flow.min_duration_s

    def send_flow(self, u: int, peer: int, op: CommOp) -> Flow:
        if op.axis.network == "dcn":
            return dcn_send_flow(op.bytes, {self._nic[u] + ("out",): 1.0, self._nic[peer] + ("in",): 1.0},
                                 self.latencies)
        forward = self.program.groups[peer].coord(op.axis) > self.program.groups[u].coord(op.axis)
        flow = ici_flow("send", op.bytes, self.placement.axis(op.axis), self.chip, forward=forward, links=self.timing)
        return Flow(flow.bytes, {(self.units[u].name, res): w for res, w in flow.usage}, flow.min_duration_s,
                    flow.startup_s)
