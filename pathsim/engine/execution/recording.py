"""Which units' spans a run keeps, and the spans themselves."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from pathsim.engine.execution.state import GroupState, UnitLayout
from pathsim.engine.fabric import Unit
from pathsim.engine.timeline import Span, Track
from pathsim.workload.program import Op


class Recorder:
    def __init__(self, units: Sequence[Unit], layout: UnitLayout, states: Sequence[GroupState],
                 record_units: AbstractSet[int] | None) -> None:
        self.units, self.states = units, states
        self.record: AbstractSet[int] = record_units if record_units is not None else set(range(len(units)))
        self.by_group = [np.array(sorted(u for u in members if u in self.record), dtype=np.int64)
                         for members in layout.members]
        self.spans: list[Span] = []

    def keeps(self, u: int) -> bool:
        return u in self.record

    def span(self, u: int, track: Track, lane: str, op: Op, start_s: float, end_s: float, nbytes: float = 0.0,
             flops: float = 0.0) -> None:
        self.spans.append(Span(self.units[u].name, track, lane, op.name, op.phase, start_s, end_s, flops, nbytes))

    def recorded(self, g: int, local: np.ndarray) -> np.ndarray:
        """The global indices of these units of group g whose spans are kept."""
        rec = self.by_group[g]
        if rec.size == len(self.states[g].units):  # every unit of the group is recorded (folded mode)
            return self.states[g].units[local]
        if not rec.size:
            return rec
        return np.intersect1d(self.states[g].units[local], rec, assume_unique=True)

    def kept_units(self) -> list[int]:
        """The kept units in order: the timeline's groups."""
        return sorted(self.record)
