"""Communication ops start as soon as their dependencies are done: a collective is a gang that starts
when its last member is ready, a send a flow to its peer that a matching receive waits for; their flows
share links with everything else in flight (pathsim.engine.network)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import simpy

from pathsim.engine.execution.dependencies import Dependencies
from pathsim.engine.execution.gangs import Gang, Gangs
from pathsim.engine.execution.recording import Recorder
from pathsim.engine.execution.state import GroupState, UnitLayout
from pathsim.engine.execution.waits import StartupTimers, after
from pathsim.engine.fabric import Fabric
from pathsim.engine.network import Network
from pathsim.workload.program import CommOp, Program, RecvOp


class Communication:
    def __init__(self, env: simpy.Environment, net: Network, fabric: Fabric, program: Program,
                 states: Sequence[GroupState], layout: UnitLayout, deps: Dependencies, recorder: Recorder) -> None:
        self.env, self.net, self.fabric, self.program, self.states = env, net, fabric, program, states
        self.layout, self.deps, self.recorder = layout, deps, recorder
        self.startups = StartupTimers(env)
        self.gangs = Gangs(fabric, layout, states)
        self.arrived: dict[tuple[str, int], tuple[int, dict[int, int]]] = {}  # per gang: members ready, op per group
        self.sent: set[tuple[str, int]] = set()  # (op key, receiving unit): arrived before its receive was ready
        self.receivers: dict[tuple[str, int], tuple[int, int, int]] = {}  # waiting receives: (group, local, op)

    def start(self, g: int, local: np.ndarray, j: int) -> None:
        """Communication op j became ready on these units of group g."""
        op = self.program.groups[g].ops[j]
        if isinstance(op, RecvOp):
            for u in self.states[g].units[local]:
                if (op.key, int(u)) in self.sent:
                    self.deps.complete(g, np.array([self.layout.local[u]]), j)
                else:
                    self.receivers[(op.key, int(u))] = (g, int(self.layout.local[u]), j)
        elif op.collective == "send":
            for u in self.states[g].units[local]:
                self._send(g, int(u), j, op)
        else:
            self._arrive(g, local, j, op)

    def _send(self, g: int, u: int, j: int, op: CommOp) -> None:
        peer = self.fabric.peer(u, op)
        flow = self.fabric.send_flow(u, peer, op)
        start_s = self.env.now

        def arrived() -> None:
            if self.recorder.keeps(u):
                self.recorder.span(u, op.axis.network, str(op.axis), op, start_s, self.env.now, nbytes=op.bytes)
            self.deps.complete(g, np.array([self.layout.local[u]]), j)
            receiver = self.receivers.pop((op.key, peer), None)
            if receiver is None:
                self.sent.add((op.key, peer))
            else:
                pg, pl, pj = receiver
                self.deps.complete(pg, np.array([pl]), pj)

        self.startups.after_startup(flow.startup_s, lambda: after(
            self.env, [self.net.transfer(flow.nbytes, flow.usage)], flow.min_duration_s, arrived))

    def _arrive(self, g: int, local: np.ndarray, j: int, op: CommOp) -> None:
        """These units are ready for collective op j: launch every gang whose last member this was."""
        table = self.gangs.table(g, op)
        if local.size == 1:
            arrivals = [(int(table[local[0]]), 1)]
        else:
            ids, counts = np.unique(table[local], return_counts=True)
            arrivals = zip(ids.tolist(), counts.tolist())
        for gang_id, n in arrivals:
            key = (op.key, gang_id)
            ready, op_of_group = self.arrived.get(key, (0, {}))
            op_of_group[g] = j
            gang = self.gangs.gangs[gang_id]
            if ready + n == len(gang.members):
                self.arrived.pop(key, None)
                self._launch(op, gang, op_of_group)
            else:
                self.arrived[key] = (ready + n, op_of_group)

    def _launch(self, op: CommOp, gang: Gang, op_of_group: dict[int, int]) -> None:
        flows, floor_s = self.fabric.flows(op, gang.members)
        start_s = self.env.now

        def finished() -> None:
            for g, local in gang.parts:
                for u in self.recorder.recorded(g, local):
                    self.recorder.span(int(u), op.axis.network, str(op.axis), op, start_s, self.env.now,
                                       nbytes=flows[0].nbytes)
                self.deps.complete(g, local, op_of_group[g])

        self.startups.after_startup(flows[0].startup_s, lambda: after(
            self.env, [self.net.transfer(f.nbytes, f.usage) for f in flows], floor_s, finished))
