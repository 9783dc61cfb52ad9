"""Each unit's compute ops run one at a time in program order (a TPU runs one kernel at a time); runs of
compute ops that nothing else waits on are simulated as one timed segment, and units that end the same
segment at the same instant share one timer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import simpy

from pathsim.engine.execution.dependencies import Dependencies
from pathsim.engine.execution.dispatch import OpsRemaining
from pathsim.engine.execution.plan import GroupPlan
from pathsim.engine.execution.recording import Recorder
from pathsim.engine.execution.state import GroupState, UnitLayout
from pathsim.engine.fabric import Unit
from pathsim.workload.program import Program


class SegmentTimer(NamedTuple):
    """One timer: the units of group `g` that end segment `segment` at `end_s`."""

    g: int
    segment: int
    end_s: float


class ComputeStreams:
    def __init__(self, env: simpy.Environment, program: Program, plans: Sequence[GroupPlan],
                 states: Sequence[GroupState], layout: UnitLayout, units: Sequence[Unit], deps: Dependencies,
                 remaining: OpsRemaining, recorder: Recorder) -> None:
        self.env, self.program, self.plans, self.states = env, program, plans, states
        self.layout, self.units, self.deps, self.remaining, self.recorder = layout, units, deps, remaining, recorder
        self.timers: dict[SegmentTimer, list[np.ndarray]] = {}

    def next_segments(self, g: int, local: np.ndarray) -> None:
        """Run each unit's next segment of compute ops, or stall it until its dependencies are done."""
        st, plan = self.states[g], self.plans[g]
        k = st.segment_at[local]
        live = k < len(plan.segments)
        local, k = local[live], k[live]
        if not local.size:
            return
        first = st.first_op[k]
        gate_open = np.array([plan.computation[f] in st.gates for f in first], dtype=bool)
        ready = (st.count[local, first] == 0) & gate_open
        st.stalled[local[~ready]] = True
        if ready.any():
            self._run(g, local[ready])

    def resume(self, g: int, local: np.ndarray, j: int) -> None:
        """Compute op j became ready on these units: the streams stalled at it run on."""
        st = self.states[g]
        waiting = local[st.stalled[local] & (st.first_op[st.segment_at[local]] == j)]
        if waiting.size:
            st.stalled[waiting] = False
            self._run(g, waiting)

    def _run(self, g: int, local: np.ndarray) -> None:
        st = self.states[g]
        now_s = self.env.now
        k = st.segment_at[local]
        ends_s = now_s + st.segment_s[k] * st.slowdown[local]
        st.segment_start_s[local] = now_s
        if local.size > 1 and not (np.all(k == k[0]) and np.all(ends_s == ends_s[0])):
            pairs = np.stack([k.astype(float), ends_s], axis=1)
            keys, which = np.unique(pairs, axis=0, return_inverse=True)
            batches = [(int(kk), float(e), local[which.ravel() == n]) for n, (kk, e) in enumerate(keys)]
        else:
            batches = [(int(k[0]), float(ends_s[0]), local)]
        for kk, end_s, part in batches:
            key = SegmentTimer(g, kk, end_s)
            if key in self.timers:
                self.timers[key].append(part)  # a timer for this instant already exists: share it
                continue
            self.timers[key] = [part]
            timer = self.env.timeout(end_s - now_s)
            timer.callbacks.append(lambda _e, key=key: self._done(key))

    def _done(self, key: SegmentTimer) -> None:
        g, k = key.g, key.segment
        local = np.concatenate(self.timers.pop(key))
        st, plan = self.states[g], self.plans[g]
        segment = plan.segments[k]
        if local.size == 1:
            st.done[local[0], list(segment)] = True
        else:
            st.done[np.ix_(local, segment)] = True
        self.deps.finished(g)
        # Ops other code waits on are counted off when announced (Dependencies.complete), below.
        self.remaining.count_off(g, plan.computation[segment[0]], local.size * (len(segment) - len(plan.announce[k])))
        self._record(g, local, segment)
        st.segment_at[local] = k + 1
        for i in plan.announce[k]:
            self.deps.complete(g, local, i)
        self.next_segments(g, local)

    def _record(self, g: int, local: np.ndarray, segment: tuple[int, ...]) -> None:
        """A span per op of the segment, laid end to end from the segment's start."""
        st, plan, ops = self.states[g], self.plans[g], self.program.groups[g].ops
        for u in self.recorder.recorded(g, local):
            start_s, slowdown = st.segment_start_s[self.layout.local[u]], self.units[u].slowdown
            for i in segment:
                end_s = start_s + plan.durations_s[i] * slowdown
                self.recorder.span(int(u), "compute", "compute", ops[i], start_s, end_s, nbytes=ops[i].hbm_bytes,
                                   flops=ops[i].flops)
                start_s = end_s
