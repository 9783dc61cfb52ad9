"""Dependency counting: when an op is done on some units, count it off their dependents and start what
became ready, unless its computation's gate (opened by the runtime) is still shut."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import simpy

from pathsim.engine.execution.dispatch import OpsRemaining
from pathsim.engine.execution.plan import GroupPlan
from pathsim.engine.execution.state import GroupState

# (group, local units, op): the op's dependencies are done on these units and its gate is open.
Ready = Callable[[int, np.ndarray, int], None]


def _unconnected(g: int, local: np.ndarray, j: int) -> None:
    raise RuntimeError("Dependencies.connect() the compute streams and the communication first")


class Dependencies:
    def __init__(self, env: simpy.Environment, plans: Sequence[GroupPlan], states: Sequence[GroupState],
                 remaining: OpsRemaining) -> None:
        self.env, self.plans, self.states, self.remaining = env, plans, states, remaining
        self.gated: dict[tuple[int, str], list[tuple[np.ndarray, int]]] = {}  # ready, waiting for the gate
        self.last_completion_s = 0.0
        self._compute_ready: Ready = _unconnected
        self._comm_ready: Ready = _unconnected

    def connect(self, compute_ready: Ready, comm_ready: Ready) -> None:
        """Where ready ops go: the compute streams and the communication (built after this, as they
        report completions back here)."""
        self._compute_ready, self._comm_ready = compute_ready, comm_ready

    def finished(self, g: int) -> None:
        """Something of group g finished now."""
        self.last_completion_s = self.env.now
        self.states[g].end_s = self.env.now

    def complete(self, g: int, local: np.ndarray, i: int) -> None:
        """Op i is done on these units: count it off their dependents, start what became ready."""
        st, plan = self.states[g], self.plans[g]
        st.done[local, i] = True
        self.finished(g)
        self.remaining.count_off(g, plan.computation[i], local.size)
        for j in plan.dependents[i]:
            left = st.count[local, j] - 1
            st.count[local, j] = left
            ready = local[left == 0]
            if ready.size:
                self.deps_done(g, ready, j)

    def deps_done(self, g: int, local: np.ndarray, j: int) -> None:
        st, plan = self.states[g], self.plans[g]
        if plan.computation[j] not in st.gates:
            self.gated.setdefault((g, plan.computation[j]), []).append((local, j))
            return
        ready = self._compute_ready if plan.is_compute[j] else self._comm_ready
        ready(g, local, j)

    def open_gate(self, g: int, computation: str) -> None:
        """The runtime's gang for `computation` started on group g: its ready ops may run."""
        st, plan = self.states[g], self.plans[g]
        st.gates.add(computation)
        everyone = st.everyone()
        for i in plan.initially_ready.get(computation, ()):
            self.deps_done(g, everyone, i)
        for local, j in self.gated.pop((g, computation), []):
            self.deps_done(g, local, j)
