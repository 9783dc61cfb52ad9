"""The mutable state of a run's units, per group, held in numpy arrays so that units doing the same thing
at the same moment (the chips of a pod in SPMD) are advanced by one event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pathsim.engine.execution.plan import GroupPlan
from pathsim.engine.fabric import Unit


@dataclass(frozen=True)
class UnitLayout:
    """Which units run each group, and each unit's index among them (its local index)."""

    members: tuple[tuple[int, ...], ...]  # per group: its units' global indices, ascending
    local: np.ndarray  # per unit: its local index in its group

    @classmethod
    def of(cls, units: Sequence[Unit], n_groups: int) -> UnitLayout:
        by_group: list[list[int]] = [[] for _ in range(n_groups)]
        for u, unit in enumerate(units):
            by_group[unit.group].append(u)
        local = np.zeros(len(units), dtype=np.int64)
        for members in by_group:
            local[members] = np.arange(len(members))
        return cls(members=tuple(tuple(m) for m in by_group), local=local)


@dataclass
class GroupState:
    """The units of one group (local index l), with their per-op dependency counts."""

    units: np.ndarray  # global unit index of each local unit
    count: np.ndarray  # [unit, op] dependencies not yet done
    done: np.ndarray  # [unit, op]
    segment_at: np.ndarray  # the next segment of each unit's compute stream
    segment_start_s: np.ndarray
    stalled: np.ndarray  # the stream waits for its next segment's dependencies
    slowdown: np.ndarray
    first_op: np.ndarray  # per segment (and a -1 past the last): its first op
    segment_s: np.ndarray
    gates: set[str] = field(default_factory=set)  # computations enqueued on this group's island
    end_s: float = 0.0

    @classmethod
    def start(cls, plan: GroupPlan, members: Sequence[int], units: Sequence[Unit]) -> GroupState:
        """Every unit at its first segment, no op done, every gate closed."""
        n = len(members)
        return cls(units=np.array(members, dtype=np.int64),
                   count=np.tile(np.array(plan.deps_count, dtype=np.int32), (n, 1)),
                   done=np.zeros((n, len(plan.deps_count)), dtype=bool),
                   segment_at=np.zeros(n, dtype=np.int64), segment_start_s=np.zeros(n),
                   stalled=np.zeros(n, dtype=bool),
                   slowdown=np.array([units[u].slowdown for u in members]),
                   first_op=np.array([seg[0] for seg in plan.segments] + [-1], dtype=np.int64),
                   segment_s=np.array(plan.segment_s + (0.0,)))

    def everyone(self) -> np.ndarray:
        """Every unit's local index."""
        return np.arange(len(self.units))
