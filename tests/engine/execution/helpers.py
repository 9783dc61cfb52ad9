"""Small groups for the execution parts: units, their plans and states, wired as Run wires them."""

from __future__ import annotations

import simpy

from pathsim.engine.execution.dependencies import Dependencies
from pathsim.engine.execution.dispatch import OpsRemaining
from pathsim.engine.execution.plan import plan_group
from pathsim.engine.execution.state import GroupState, UnitLayout
from pathsim.engine.fabric import Unit
from pathsim.workload.program import GroupProgram, Program
from tests.engine.test_simulator import OneTeraflop


def units(*groups: int, slowdowns: dict[int, float] | None = None) -> tuple[Unit, ...]:
    """A unit per argument, running that group."""
    slowdowns = slowdowns or {}
    return tuple(Unit(name=f"u{u}", group=g, island=0, chips=1, slowdown=slowdowns.get(u, 1.0))
                 for u, g in enumerate(groups))


class Parts:
    """Plans, states and dependency counting for one program over these units; ready ops are logged."""

    def __init__(self, group_ops, unit_list) -> None:
        self.env = simpy.Environment()
        self.units = unit_list
        self.program = Program(groups=tuple(GroupProgram(name=f"g{g}", coords=(), ops=tuple(ops), chips=1)
                                            for g, ops in enumerate(group_ops)), group_axes=(), computations=("train",))
        self.plans = [plan_group(ops, OneTeraflop()) for ops in group_ops]
        self.layout = UnitLayout.of(unit_list, len(group_ops))
        self.states = [GroupState.start(p, m, unit_list) for p, m in zip(self.plans, self.layout.members)]
        self.remaining = OpsRemaining(self.env, self.plans, self.states)
        self.deps = Dependencies(self.env, self.plans, self.states, self.remaining)
        self.ready: list[tuple[str, int, list[int], int]] = []
        self.deps.connect(lambda g, local, j: self.ready.append(("compute", g, local.tolist(), j)),
                          lambda g, local, j: self.ready.append(("comm", g, local.tolist(), j)))
