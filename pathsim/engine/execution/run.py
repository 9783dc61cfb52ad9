"""One run: the parts of execution/ wired together, the Pathways actors dispatching the step over them,
and the Timeline that comes out."""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet

import numpy as np
import simpy

from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.costs.compute import ComputeCostModel
from pathsim.engine.execution.communication import Communication
from pathsim.engine.execution.compute import ComputeStreams
from pathsim.engine.execution.dependencies import Dependencies
from pathsim.engine.execution.dispatch import OpsRemaining, group_slices
from pathsim.engine.execution.plan import plan_group
from pathsim.engine.execution.recording import Recorder
from pathsim.engine.execution.state import GroupState, UnitLayout
from pathsim.engine.fabric import Fabric
from pathsim.engine.network import Network
from pathsim.engine.pathways.training import StepDispatch
from pathsim.engine.timeline import Timeline
from pathsim.placement.mesh_axes import Placement
from pathsim.platform.topology import Cluster
from pathsim.workload.program import Program


class Run:
    def __init__(self, program: Program, fabric: Fabric, cost: ComputeCostModel, dispatch: str,
                 latencies: RuntimeLatencies, record_links: bool, record_units: AbstractSet[int] | None,
                 cluster: Cluster, placement: Placement | None) -> None:
        self.env = env = simpy.Environment()
        self.program, self.cluster, self.placement = program, cluster, placement
        self.dispatch, self.latencies = dispatch, latencies
        self.units = units = fabric.units
        self.net = Network(env, fabric.capacity, record=record_links)
        plans = [plan_group(g.ops, cost) for g in program.groups]
        layout = UnitLayout.of(units, len(program.groups))
        self.states = [GroupState.start(plan, members, units) for plan, members in zip(plans, layout.members)]
        self.recorder = Recorder(units, layout, self.states, record_units)
        self.remaining = OpsRemaining(env, plans, self.states)
        self.deps = Dependencies(env, plans, self.states, self.remaining)
        self.compute = ComputeStreams(env, program, plans, self.states, layout, units, self.deps, self.remaining,
                                      self.recorder)
        comm = Communication(env, self.net, fabric, program, self.states, layout, self.deps, self.recorder)
        self.deps.connect(self.compute.resume, comm.start)

    def start_computation(self, g: int, computation: str) -> simpy.Event:
        """The gang of `computation` on group g starts: open the gate; the event fires when it is done."""
        self.deps.open_gate(g, computation)
        return self.remaining.done_event(g, computation)

    def run(self) -> Timeline:
        env = self.env
        runtime = StepDispatch(env, self.dispatch, self.latencies,
                               group_slices(self.program, self.placement, self.cluster, self.units, self.states),
                               tuple(tuple(i.shape) for i in self.cluster.islands), self.cluster.chip.chips_per_host,
                               self.program.computations, tuple(island.name for island in self.cluster.islands),
                               self.start_computation, self.remaining.runs)
        for g, st in enumerate(self.states):
            self.compute.next_segments(g, st.everyone())
        steps = 0
        while env.peek() < math.inf:
            env.step()
            steps += 1
        self._check_every_op_ran(runtime)
        recorded = self.recorder.kept_units()
        pipelined = any(a.kind == "pipeline" for a, _ in self.program.group_axes)
        return Timeline(spans=tuple(self.recorder.spans + runtime.spans()), link_samples=tuple(self.net.samples),
                        groups=tuple(self.units[u].name for u in recorded),
                        group_chips=tuple(self.units[u].chips for u in recorded), pipelined=pipelined,
                        end_s=self.deps.last_completion_s, events_processed=steps,
                        group_end_s=tuple(st.end_s for st in self.states), dispatch=runtime.stats())

    def _check_every_op_ran(self, runtime: StepDispatch) -> None:
        """An op never run is a deadlock (or a bug): name the first, and what the actors were waiting on."""
        for g, st in enumerate(self.states):
            if not st.done.all():
                local, i = np.argwhere(~st.done)[0]
                missing = int((~st.done).sum())
                name = self.units[int(st.units[local])].name
                stuck = runtime.deadlock()
                raise RuntimeError(f"simulation ended with {missing} ops never run, first: "
                                   f"{name} {self.program.groups[g].ops[i].name}" + (f"; {stuck}" if stuck else ""))
