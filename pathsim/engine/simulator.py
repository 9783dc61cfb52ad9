"""The discrete-event engine: runs a Program over a Fabric (folded groups or every chip) and returns its
Timeline.

Each unit's compute ops run one at a time in program order (a TPU runs one kernel at a time); runs of
compute ops that nothing else waits on are simulated as one timed segment. Communication ops start as
soon as their dependencies are done: a collective is a gang that starts when its last member is ready,
and its flows share links with everything else in flight. The Pathways runtime (controller, one gang
scheduler per island, host executors) decides when each computation is enqueued.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from pathsim.catalog.runtime import RUNTIME, RuntimeLatencies
from pathsim.costs import ComputeCostModel
from pathsim.engine.fabric import FoldedFabric
from pathsim.engine.network import Network
from pathsim.program import CommOp, ComputeOp, Program, RecvOp
from pathsim.timeline import Span, Timeline


@dataclass(frozen=True)
class _GroupPlan:
    """Static facts about one group's program, shared by every unit that runs it.

    A compute op waits only on its communication dependencies: the in-order stream already ran every
    compute op before it. So only compute ops that communication waits on need to announce completion."""

    deps_count: tuple[int, ...]  # dependencies each op waits on (communication only, for compute ops)
    dependents: tuple[tuple[int, ...], ...]
    segments: tuple[tuple[int, ...], ...]  # compute ops simulated as one timed run each
    segment_s: tuple[float, ...]  # each segment's duration at full speed
    announce: tuple[tuple[int, ...], ...]  # per segment: its ops that communication waits on
    durations_s: tuple[float, ...]  # per op (0 for communication)
    is_compute: tuple[bool, ...]
    computation: tuple[str, ...]
    initially_ready: dict[str, tuple[int, ...]]  # per computation: ops with nothing to wait for


def _plan_group(ops, cost: ComputeCostModel) -> _GroupPlan:
    n = len(ops)
    is_compute = tuple(isinstance(op, ComputeOp) for op in ops)
    counted = [[d for d in op.deps if not (is_compute[j] and is_compute[d])] for j, op in enumerate(ops)]
    dependents: list[list[int]] = [[] for _ in range(n)]
    for j, deps in enumerate(counted):
        for d in deps:
            dependents[d].append(j)
    segments: list[list[int]] = []
    open_run = False
    for i, op in enumerate(ops):
        if not is_compute[i]:
            continue
        if not open_run or counted[i] or op.computation != ops[segments[-1][-1]].computation:
            segments.append([i])
        else:
            segments[-1].append(i)
        open_run = not dependents[i]
    durations = tuple(cost.op_time_s(op) if is_compute[i] else 0.0 for i, op in enumerate(ops))
    return _GroupPlan(
        deps_count=tuple(len(d) for d in counted), dependents=tuple(tuple(d) for d in dependents),
        segments=tuple(tuple(s) for s in segments),
        segment_s=tuple(sum(durations[i] for i in s) for s in segments),
        announce=tuple(tuple(i for i in s if dependents[i]) for s in segments),
        durations_s=durations, is_compute=is_compute, computation=tuple(op.computation for op in ops),
        initially_ready={c: tuple(i for i, op in enumerate(ops) if op.computation == c and not counted[i])
                         for c in {op.computation for op in ops}})


@dataclass
class _Gang:
    expected: int
    arrived: list[tuple[int, int]] = field(default_factory=list)  # (unit, op index)


class _Run:
    def __init__(self, program: Program, fabric, cost: ComputeCostModel, dispatch: str,
                 latencies: RuntimeLatencies, record_links: bool, record_units: set[int] | None,
                 island_names: tuple[str, ...]) -> None:
        self.env = simpy.Environment()
        self.program, self.fabric, self.dispatch, self.lat = program, fabric, dispatch, latencies
        self.units = fabric.units
        self.island_names = island_names
        self.net = Network(self.env, fabric.capacity, record=record_links)
        self.plans = [_plan_group(g.ops, cost) for g in program.groups]
        self.count = [list(self.plans[u.group].deps_count) for u in self.units]
        self.done = [bytearray(len(self.plans[u.group].deps_count)) for u in self.units]
        self.unit_plan = [self.plans[u.group] for u in self.units]
        self.segment_at = [0] * len(self.units)  # the next segment of each unit's compute stream
        self.stalled: set[int] = set()  # units whose stream waits for its next segment's dependencies
        self.gated: dict[tuple[int, str], list[int]] = {}
        self.gates: list[set[str]] = [set() for _ in self.units]  # computations enqueued on each unit
        self.gangs: dict[tuple, _Gang] = {}
        self.sent: set[tuple[str, int]] = set()
        self.receivers: dict[tuple[str, int], int] = {}
        self.record = record_units if record_units is not None else set(range(len(self.units)))
        self.spans: list[Span] = []
        self.watchers: dict[tuple[int, int], simpy.Event] = {}
        self.last_completion_s = 0.0
        self.group_end_s = [0.0] * len(program.groups)

    # --- dependency bookkeeping ----------------------------------------------------------------------
    def _ops(self, u: int):
        return self.program.groups[self.units[u].group].ops

    def _ready(self, u: int, i: int) -> bool:
        return self.count[u][i] == 0 and self.unit_plan[u].computation[i] in self.gates[u]

    def _complete(self, u: int, i: int, plan: _GroupPlan | None = None) -> None:
        self.done[u][i] = 1
        self._finished_at(u)
        if self.watchers:
            watcher = self.watchers.pop((u, i), None)
            if watcher is not None:
                watcher.succeed()
        plan = plan or self.unit_plan[u]
        count = self.count[u]
        for j in plan.dependents[i]:
            count[j] -= 1
            if count[j] == 0:
                self._on_deps_done(u, j, plan)

    def _finished_at(self, u: int) -> None:
        now = self.env.now
        self.last_completion_s = now
        group = self.units[u].group
        if now > self.group_end_s[group]:
            self.group_end_s[group] = now

    def _on_deps_done(self, u: int, j: int, plan: _GroupPlan) -> None:
        if plan.computation[j] not in self.gates[u]:
            self.gated.setdefault((u, plan.computation[j]), []).append(j)
            return
        if plan.is_compute[j]:
            if u in self.stalled and plan.segments[self.segment_at[u]][0] == j:
                self.stalled.discard(u)
                self._run_segment(u)
        else:
            self._start_comm(u, j)

    def open_gate(self, u: int, computation: str) -> None:
        self.gates[u].add(computation)
        plan = self.unit_plan[u]
        for i in plan.initially_ready.get(computation, ()):
            self._on_deps_done(u, i, plan)
        for j in self.gated.pop((u, computation), []):
            self._on_deps_done(u, j, plan)

    def _span(self, u: int, track: str, lane: str, op, start: float, end: float, nbytes: float = 0.0,
              flops: float = 0.0) -> None:
        if u in self.record:
            self.spans.append(Span(self.units[u].name, track, lane, op.name, op.phase, start, end, flops, nbytes))

    # --- compute -------------------------------------------------------------------------------------
    def _next_segment(self, u: int) -> None:
        """Run the unit's next segment of compute ops, or stall until its dependencies are done."""
        plan = self.unit_plan[u]
        k = self.segment_at[u]
        if k == len(plan.segments):
            return
        if self._ready(u, plan.segments[k][0]):
            self._run_segment(u)
        else:
            self.stalled.add(u)

    def _run_segment(self, u: int) -> None:
        k = self.segment_at[u]
        start = self.env.now
        timer = self.env.timeout(self.unit_plan[u].segment_s[k] * self.units[u].slowdown)
        timer.callbacks.append(lambda _e: self._segment_done(u, k, start))

    def _segment_done(self, u: int, k: int, start: float) -> None:
        plan = self.unit_plan[u]
        segment = plan.segments[k]
        done = self.done[u]
        for i in segment:
            done[i] = 1
        if u in self.record:
            ops, slowdown, t = self._ops(u), self.units[u].slowdown, start
            for i in segment:
                end = t + plan.durations_s[i] * slowdown
                self._span(u, "compute", "compute", ops[i], t, end, nbytes=ops[i].hbm_bytes, flops=ops[i].flops)
                t = end
        self._finished_at(u)
        self.segment_at[u] = k + 1
        for i in plan.announce[k]:
            self._complete(u, i, plan)
        self._next_segment(u)

    # --- communication -------------------------------------------------------------------------------
    def _after(self, events: list[simpy.Event], floor_s: float, then) -> None:
        """Call `then()` once every event has fired and at least floor_s has passed since now."""
        not_before = self.env.now + floor_s
        gate = events[0] if len(events) == 1 else self.env.all_of(events)

        def finished(_event):
            rest = not_before - self.env.now
            if rest > 1e-15:
                self.env.timeout(rest).callbacks.append(lambda _e: then())
            else:
                then()

        gate.callbacks.append(finished)

    def _start_comm(self, u: int, i: int) -> None:
        op = self._ops(u)[i]
        if isinstance(op, RecvOp):
            if (op.key, u) in self.sent:
                self._complete(u, i)
            else:
                self.receivers[(op.key, u)] = i
        elif op.collective == "send":
            self._send(u, i, op)
        else:
            self._collective(u, i, op)

    def _send(self, u: int, i: int, op: CommOp) -> None:
        peer = self.fabric.peer(u, op)
        flow = self.fabric.send_flow(u, peer, op)
        start = self.env.now
        track = "dcn" if op.axis.startswith("dcn.") else "ici"

        def arrived():
            self._span(u, track, op.axis, op, start, self.env.now, nbytes=op.bytes)
            self._complete(u, i)
            j = self.receivers.pop((op.key, peer), None)
            if j is None:
                self.sent.add((op.key, peer))
            else:
                self._complete(peer, j)

        self._after([self.net.transfer(flow.nbytes, flow.usage)], flow.min_duration_s, arrived)

    def _collective(self, u: int, i: int, op: CommOp) -> None:
        key, members = self.fabric.members(u, op)
        gang = self.gangs.setdefault((op.key, key), _Gang(expected=len(members)))
        gang.arrived.append((u, i))
        if len(gang.arrived) < gang.expected:
            return
        del self.gangs[(op.key, key)]
        flows, floor = self.fabric.flows(op, [m for m in members])
        start = self.env.now
        track = "dcn" if op.axis.startswith("dcn.") else "ici"
        events = [self.net.transfer(f.nbytes, f.usage) for f in flows]

        def finished():
            for unit, index in gang.arrived:
                self._span(unit, track, op.axis, op, start, self.env.now, nbytes=flows[0].nbytes)
                self._complete(unit, index)

        self._after(events, floor, finished)

    # --- the runtime ---------------------------------------------------------------------------------
    def _island_units(self) -> dict[int, list[int]]:
        by_island: dict[int, list[int]] = {}
        for u, unit in enumerate(self.units):
            by_island.setdefault(unit.island, []).append(u)
        return by_island

    def _computation_done(self, computation: str) -> list[simpy.Event]:
        """Events for the last op of `computation` on every unit that has not finished it."""
        pending = []
        for u in range(len(self.units)):
            ops = self._ops(u)
            last = max((i for i, op in enumerate(ops) if op.computation == computation), default=None)
            if last is not None and not self.done[u][last]:
                event = self.watchers[(u, last)] = self.env.event()
                pending.append(event)
        return pending

    def _enqueue_on_island(self, island: int, units: list[int], computation: str):
        """The island's gang scheduler receives the computation and has every host enqueue it."""
        start = self.env.now
        yield self.env.timeout(self.lat.dcn_message_s + self.lat.host_enqueue_s)
        for u in units:
            self.open_gate(u, computation)
        self.spans.append(Span(self.island_names[island], "scheduler", "gang scheduler", f"enqueue {computation}",
                               "dispatch", start, self.env.now))

    def controller(self):
        islands = self._island_units()
        computations = self.program.computations
        if self.dispatch == "multi_controller":
            # Every host dispatches its own shard: no controller, no cross-host message.
            yield self.env.timeout(self.lat.host_enqueue_s)
            for computation in computations:
                for u in range(len(self.units)):
                    self.open_gate(u, computation)
            return
        for ci, computation in enumerate(computations):
            if self.dispatch == "pathways_async" and ci == 0:
                # Dispatched asynchronously during the previous step: already enqueued in steady state.
                for u in range(len(self.units)):
                    self.open_gate(u, computation)
                continue
            if self.dispatch == "pathways_sequential" and ci > 0:
                pending = self._computation_done(computations[ci - 1])
                if pending:
                    yield self.env.all_of(pending)
                yield self.env.timeout(self.lat.dcn_message_s)  # the results reach the client
            for island, units in islands.items():
                start = self.env.now
                yield self.env.timeout(self.lat.controller_work_s)
                self.spans.append(Span("controller", "controller", "dispatch", f"dispatch {computation}",
                                       "dispatch", start, self.env.now))
                self.env.process(self._enqueue_on_island(island, units, computation))

    def run(self) -> Timeline:
        env = self.env
        env.process(self.controller())
        for u in range(len(self.units)):
            self._next_segment(u)
        steps = 0
        while env.peek() < math.inf:
            env.step()
            steps += 1
        stuck = [(self.units[u].name, self._ops(u)[i].name) for u in range(len(self.units))
                 for i, flag in enumerate(self.done[u]) if not flag]
        if stuck:
            raise RuntimeError(f"simulation ended with {len(stuck)} ops never run, first: {stuck[:3]}")
        recorded = sorted(self.record)
        pipelined = any(a.endswith("pipeline") for a, _ in self.program.group_axes)
        return Timeline(spans=tuple(self.spans), link_samples=tuple(self.net.samples),
                        groups=tuple(self.units[u].name for u in recorded),
                        group_chips=tuple(self.units[u].chips for u in recorded), pipelined=pipelined,
                        end_s=self.last_completion_s, events_processed=steps,
                        group_end_s=tuple(self.group_end_s))


def simulate(program: Program, placement, cluster, cost: ComputeCostModel, dispatch: str = "pathways_async",
             latencies: RuntimeLatencies = RUNTIME, record_links: bool = True, fabric=None,
             record_units: set[int] | None = None) -> Timeline:
    """Folded by default; pass a FullFabric (pathsim.engine.fabric) to simulate every chip."""
    fabric = fabric if fabric is not None else FoldedFabric(program, placement, cluster)
    names = tuple(island.name for island in cluster.islands)
    return _Run(program, fabric, cost, dispatch, latencies, record_links, record_units, names).run()
