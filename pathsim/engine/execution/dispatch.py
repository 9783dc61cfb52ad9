"""The engine as the Pathways actors (pathsim.engine.pathways) see it: each group's slice, and how much of
each computation is left to run on it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import simpy

from pathsim.engine.execution.plan import GroupPlan
from pathsim.engine.execution.state import GroupState
from pathsim.engine.fabric import Unit
from pathsim.engine.pathways.training import GroupSlice
from pathsim.placement.mesh_axes import Placement
from pathsim.platform.topology import Cluster
from pathsim.mesh.axis import ICI_PIPELINE
from pathsim.workload.program import Program


class OpsRemaining:
    """Ops left per (group, computation) over every unit: the actors' gangs end when it reaches 0."""

    def __init__(self, env: simpy.Environment, plans: Sequence[GroupPlan], states: Sequence[GroupState]) -> None:
        self.env = env
        self.remaining: dict[tuple[int, str], int] = {}
        for g, (plan, st) in enumerate(zip(plans, states)):
            for c in plan.computation:
                self.remaining[(g, c)] = self.remaining.get((g, c), 0) + len(st.units)
        self._done: dict[tuple[int, str], simpy.Event] = {}

    def count_off(self, g: int, computation: str, n: int) -> None:
        key = (g, computation)
        self.remaining[key] -= n
        if not self.remaining[key] and key in self._done:
            self._done.pop(key).succeed()

    def runs(self, g: int, computation: str) -> bool:
        return self.remaining.get((g, computation), 0) > 0

    def done_event(self, g: int, computation: str) -> simpy.Event:
        """An event that fires once every op of `computation` on group g has run (at once if none left)."""
        event = self.env.event()
        if self.remaining.get((g, computation), 0) == 0:
            event.succeed()
        else:
            self._done[(g, computation)] = event
        return event


def group_slices(program: Program, placement: Placement | None, cluster: Cluster, units: Sequence[Unit],
                 states: Sequence[GroupState]) -> list[GroupSlice]:
    """Each group as the runtime sees it: its island and the mesh shape of its slice (the island, less
    the torus factors the ICI pipeline axis splits into stages)."""
    split: dict[str, int] = {}
    if placement is not None and ICI_PIPELINE in dict(program.group_axes):
        for axis in placement.axes:
            if axis.axis == ICI_PIPELINE:
                for seg in axis.segments:
                    split[seg.dim] = split.get(seg.dim, 1) * seg.size
    slices = []
    for g, st in enumerate(states):
        members = [units[int(u)] for u in st.units]
        island = members[0].island if members else 0
        isl = cluster.islands[island]
        shape = tuple(n // split.get(d, 1) for d, n in zip(isl.dims, isl.shape))
        if members and members[0].coord:  # every chip simulated: the box its chips occupy (a job's slice)
            box = tuple(max(c) - min(c) + 1 for c in zip(*(u.coord for u in members)))
            if math.prod(box) == sum(u.chips for u in members):
                shape = box
        slices.append(GroupSlice(program.groups[g].name, island, shape))
    return slices
