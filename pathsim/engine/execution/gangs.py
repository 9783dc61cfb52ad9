"""The gangs of collectives: which units take part in each, found once per (group, mesh axis)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pathsim.engine.execution.state import GroupState, UnitLayout
from pathsim.engine.fabric import Fabric
from pathsim.mesh.axis import MeshAxis
from pathsim.workload.program import CommOp


@dataclass(frozen=True)
class Gang:
    """The units of one collective: the global members in ring order, and its parts by group."""

    members: tuple[int, ...]
    parts: tuple[tuple[int, np.ndarray], ...]  # (group, local units)


class Gangs:
    def __init__(self, fabric: Fabric, layout: UnitLayout, states: Sequence[GroupState]) -> None:
        self.fabric, self.layout, self.states = fabric, layout, states
        self.gangs: list[Gang] = []
        self._index: dict[tuple[MeshAxis, tuple[int, ...]], int] = {}
        self._tables: dict[tuple[int, MeshAxis], np.ndarray] = {}

    def table(self, g: int, op: CommOp) -> np.ndarray:
        """Which gang each unit of group g joins for collectives on op's axis (built once per axis)."""
        table = self._tables.get((g, op.axis))
        if table is not None:
            return table
        st = self.states[g]
        table = np.full(len(st.units), -1, dtype=np.int64)
        for local, u in enumerate(st.units):
            if table[local] >= 0:
                continue
            _, members = self.fabric.members(int(u), op)
            index = self._gang_of(op.axis, members)
            for pg, ls in self.gangs[index].parts:
                if pg == g:
                    table[ls] = index
        self._tables[(g, op.axis)] = table
        return table

    def _gang_of(self, axis: MeshAxis, members: Sequence[int]) -> int:
        key = (axis, tuple(members))
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self.gangs)
            parts: dict[int, list[int]] = {}
            for m in members:
                parts.setdefault(self.fabric.units[m].group, []).append(int(self.layout.local[m]))
            self.gangs.append(Gang(members=tuple(members),
                                   parts=tuple((pg, np.array(ls, dtype=np.int64)) for pg, ls in parts.items())))
        return index
