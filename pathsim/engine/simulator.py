"""The discrete-event engine: runs a Program over a Fabric (folded groups or every chip) and returns its
Timeline.

Each unit's compute ops run one at a time in program order (a TPU runs one kernel at a time); runs of
compute ops that nothing else waits on are simulated as one timed segment. Communication ops start as
soon as their dependencies are done: a collective is a gang that starts when its last member is ready,
and its flows share links with everything else in flight. The Pathways actors (pathsim.engine.runtime:
client, one gang scheduler per island, host executors, device queues) decide when each computation may
start on a group: their gang opens the group's gate (pathways.training).

Every unit keeps its own state (dependency counts, position in its stream), held per group in numpy
arrays, so that units that do the same thing at the same moment (the chips of a pod in SPMD) are
advanced by one event: a segment timer serves every unit ending that segment at that instant, a gang's
completion updates all its members at once. Units that diverge (a straggler, a slower link) simply stop
sharing events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from pathsim.catalog.runtime import RUNTIME, RuntimeLatencies
from pathsim.costs.compute import ComputeCostModel, link_timing_of
from pathsim.engine.fabric import FoldedFabric
from pathsim.engine.network import Network
from pathsim.engine.runtime.training import GroupSlice, StepDispatch
from pathsim.engine.timeline import Span, Timeline
from pathsim.workload.mesh_axis import ICI_PIPELINE
from pathsim.workload.program import CommOp, ComputeOp, Program, RecvOp


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
class _GroupState:
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


@dataclass
class _Gang:
    """The units of one collective: its parts by group, and the global members in ring order."""

    members: list[int]
    parts: list[tuple[int, np.ndarray]]


class _Run:
    def __init__(self, program: Program, fabric, cost: ComputeCostModel, dispatch: str,
                 latencies: RuntimeLatencies, record_links: bool, record_units: set[int] | None,
                 cluster, placement) -> None:
        self.env = simpy.Environment()
        self.cluster, self.placement = cluster, placement
        island_names = tuple(island.name for island in cluster.islands)
        self.program, self.fabric, self.dispatch, self.lat = program, fabric, dispatch, latencies
        self.units = fabric.units
        self.island_names = island_names
        self.net = Network(self.env, fabric.capacity, record=record_links)
        self.plans = [_plan_group(g.ops, cost) for g in program.groups]
        by_group: list[list[int]] = [[] for _ in program.groups]
        for u, unit in enumerate(self.units):
            by_group[unit.group].append(u)
        self.local = np.zeros(len(self.units), dtype=np.int64)
        self.states: list[_GroupState] = []
        for g, members in enumerate(by_group):
            plan, n = self.plans[g], len(members)
            self.local[members] = np.arange(n)
            self.states.append(_GroupState(
                units=np.array(members, dtype=np.int64),
                count=np.tile(np.array(plan.deps_count, dtype=np.int32), (n, 1)),
                done=np.zeros((n, len(plan.deps_count)), dtype=bool),
                segment_at=np.zeros(n, dtype=np.int64), segment_start_s=np.zeros(n),
                stalled=np.zeros(n, dtype=bool),
                slowdown=np.array([self.units[u].slowdown for u in members]),
                first_op=np.array([seg[0] for seg in plan.segments] + [-1], dtype=np.int64),
                segment_s=np.array(plan.segment_s + (0.0,))))
        self.gated: dict[tuple[int, str], list[tuple[np.ndarray, int]]] = {}
        self.gang_tables: dict[tuple[int, str], np.ndarray] = {}
        self.gangs: list[_Gang] = []
        self.gang_index: dict[tuple, int] = {}
        self.arrived: dict[tuple[str, int], list] = {}
        self.timers: dict[tuple[int, int, float], list[np.ndarray]] = {}
        self.startups: dict[float, list] = {}  # transfers waiting out their start-up cost, by end time
        self.sent: set[tuple[str, int]] = set()
        self.receivers: dict[tuple[str, int], tuple[int, int, int]] = {}
        self.record = record_units if record_units is not None else set(range(len(self.units)))
        self.recorded = [np.array(sorted(u for u in by_group[g] if u in self.record), dtype=np.int64)
                         for g in range(len(by_group))]
        self.spans: list[Span] = []
        self.last_completion_s = 0.0
        self._count_remaining()

    # --- dependency bookkeeping ----------------------------------------------------------------------
    def _finished(self, g: int) -> None:
        self.last_completion_s = self.env.now
        self.states[g].end_s = self.env.now

    def _complete(self, g: int, local: np.ndarray, i: int) -> None:
        """Op i is done on these units: count it off their dependents, start what became ready."""
        st, plan = self.states[g], self.plans[g]
        st.done[local, i] = True
        self._finished(g)
        self._ops_done(g, plan.computation[i], local.size)
        for j in plan.dependents[i]:
            left = st.count[local, j] - 1
            st.count[local, j] = left
            ready = local[left == 0]
            if ready.size:
                self._on_deps_done(g, ready, j)

    def _on_deps_done(self, g: int, local: np.ndarray, j: int) -> None:
        st, plan = self.states[g], self.plans[g]
        if plan.computation[j] not in st.gates:
            self.gated.setdefault((g, plan.computation[j]), []).append((local, j))
            return
        if plan.is_compute[j]:
            waiting = local[st.stalled[local] & (st.first_op[st.segment_at[local]] == j)]
            if waiting.size:
                st.stalled[waiting] = False
                self._run_segments(g, waiting)
        else:
            self._start_comm(g, local, j)

    def open_gate(self, g: int, computation: str) -> None:
        st, plan = self.states[g], self.plans[g]
        st.gates.add(computation)
        everyone = np.arange(len(st.units))
        for i in plan.initially_ready.get(computation, ()):
            self._on_deps_done(g, everyone, i)
        for local, j in self.gated.pop((g, computation), []):
            self._on_deps_done(g, local, j)

    def _span(self, u: int, track: str, lane: str, op, start: float, end: float, nbytes: float = 0.0,
              flops: float = 0.0) -> None:
        self.spans.append(Span(self.units[u].name, track, lane, op.name, op.phase, start, end, flops, nbytes))

    def _recorded(self, g: int, local: np.ndarray) -> np.ndarray:
        rec = self.recorded[g]
        if rec.size == len(self.states[g].units):  # every unit of the group is recorded (folded mode)
            return self.states[g].units[local]
        if not rec.size:
            return rec
        return np.intersect1d(self.states[g].units[local], rec, assume_unique=True)

    # --- compute -------------------------------------------------------------------------------------
    def _next_segments(self, g: int, local: np.ndarray) -> None:
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
            self._run_segments(g, local[ready])

    def _run_segments(self, g: int, local: np.ndarray) -> None:
        st = self.states[g]
        now = self.env.now
        k = st.segment_at[local]
        ends = now + st.segment_s[k] * st.slowdown[local]
        st.segment_start_s[local] = now
        if local.size > 1 and not (np.all(k == k[0]) and np.all(ends == ends[0])):
            pairs = np.stack([k.astype(float), ends], axis=1)
            keys, which = np.unique(pairs, axis=0, return_inverse=True)
            batches = [(int(kk), float(e), local[which.ravel() == n]) for n, (kk, e) in enumerate(keys)]
        else:
            batches = [(int(k[0]), float(ends[0]), local)]
        for kk, end, part in batches:
            key = (g, kk, end)
            if key in self.timers:
                self.timers[key].append(part)  # a timer for this instant already exists: share it
                continue
            self.timers[key] = [part]
            timer = self.env.timeout(end - now)
            timer.callbacks.append(lambda _e, key=key: self._segments_done(key))

    def _segments_done(self, key: tuple[int, int, float]) -> None:
        g, k, _ = key
        local = np.concatenate(self.timers.pop(key))
        st, plan = self.states[g], self.plans[g]
        segment = plan.segments[k]
        if local.size == 1:
            st.done[local[0], list(segment)] = True
        else:
            st.done[np.ix_(local, segment)] = True
        self._finished(g)
        # Ops other code waits on are counted off when announced (_complete), below.
        self._ops_done(g, plan.computation[segment[0]], local.size * (len(segment) - len(plan.announce[k])))
        ops = self.program.groups[g].ops
        for u in self._recorded(g, local):
            t, slowdown = st.segment_start_s[self.local[u]], self.units[u].slowdown
            for i in segment:
                end = t + plan.durations_s[i] * slowdown
                self._span(int(u), "compute", "compute", ops[i], t, end, nbytes=ops[i].hbm_bytes, flops=ops[i].flops)
                t = end
        st.segment_at[local] = k + 1
        for i in plan.announce[k]:
            self._complete(g, local, i)
        self._next_segments(g, local)

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

    def _after_startup(self, startup_s: float, then) -> None:
        """Call `then()` after a transfer's fixed start-up cost (none with spec-sheet links). Transfers that
        start at one instant with one cost (the gangs of an SPMD collective) share one timer."""
        if startup_s <= 0.0:
            then()
            return
        end = self.env.now + startup_s
        waiting = self.startups.get(end)
        if waiting is not None:
            waiting.append(then)
            return
        self.startups[end] = [then]
        self.env.timeout(startup_s).callbacks.append(lambda _e: [f() for f in self.startups.pop(end)])

    def _start_comm(self, g: int, local: np.ndarray, j: int) -> None:
        op = self.program.groups[g].ops[j]
        if isinstance(op, RecvOp):
            for u in self.states[g].units[local]:
                if (op.key, int(u)) in self.sent:
                    self._complete(g, np.array([self.local[u]]), j)
                else:
                    self.receivers[(op.key, int(u))] = (g, int(self.local[u]), j)
        elif op.collective == "send":
            for u in self.states[g].units[local]:
                self._send(g, int(u), j, op)
        else:
            self._collective(g, local, j, op)

    def _send(self, g: int, u: int, j: int, op: CommOp) -> None:
        peer = self.fabric.peer(u, op)
        flow = self.fabric.send_flow(u, peer, op)
        start = self.env.now
        track = op.axis.network

        def arrived():
            if u in self.record:
                self._span(u, track, str(op.axis), op, start, self.env.now, nbytes=op.bytes)
            self._complete(g, np.array([self.local[u]]), j)
            receiver = self.receivers.pop((op.key, peer), None)
            if receiver is None:
                self.sent.add((op.key, peer))
            else:
                pg, pl, pj = receiver
                self._complete(pg, np.array([pl]), pj)

        self._after_startup(flow.startup_s, lambda: self._after([self.net.transfer(flow.nbytes, flow.usage)],
                                                                 flow.min_duration_s, arrived))

    def _gang_table(self, g: int, op: CommOp) -> np.ndarray:
        """Which gang each unit of group g joins for collectives on op's axis (built once per axis)."""
        table = self.gang_tables.get((g, op.axis))
        if table is not None:
            return table
        st = self.states[g]
        table = np.full(len(st.units), -1, dtype=np.int64)
        for l, u in enumerate(st.units):
            if table[l] >= 0:
                continue
            _, members = self.fabric.members(int(u), op)
            key = (op.axis, tuple(members))
            index = self.gang_index.get(key)
            if index is None:
                index = self.gang_index[key] = len(self.gangs)
                parts: dict[int, list[int]] = {}
                for m in members:
                    parts.setdefault(self.units[m].group, []).append(int(self.local[m]))
                self.gangs.append(_Gang(members=list(members),
                                        parts=[(pg, np.array(ls, dtype=np.int64)) for pg, ls in parts.items()]))
            for pg, ls in self.gangs[index].parts:
                if pg == g:
                    table[ls] = index
        self.gang_tables[(g, op.axis)] = table
        return table

    def _collective(self, g: int, local: np.ndarray, j: int, op: CommOp) -> None:
        table = self._gang_table(g, op)
        if local.size == 1:
            arrivals = [(int(table[local[0]]), 1)]
        else:
            ids, counts = np.unique(table[local], return_counts=True)
            arrivals = zip(ids.tolist(), counts.tolist())
        for gang_id, n in arrivals:
            key = (op.key, gang_id)
            state = self.arrived.setdefault(key, [0, {}])
            state[0] += n
            state[1][g] = j
            if state[0] == len(self.gangs[gang_id].members):
                del self.arrived[key]
                self._launch(op, self.gangs[gang_id], state[1])

    def _launch(self, op: CommOp, gang: _Gang, op_of_group: dict[int, int]) -> None:
        flows, floor = self.fabric.flows(op, gang.members)
        start = self.env.now
        track = op.axis.network

        def finished():
            for g, local in gang.parts:
                for u in self._recorded(g, local):
                    self._span(int(u), track, str(op.axis), op, start, self.env.now, nbytes=flows[0].nbytes)
                self._complete(g, local, op_of_group[g])

        self._after_startup(flows[0].startup_s, lambda: self._after(
            [self.net.transfer(f.nbytes, f.usage) for f in flows], floor, finished))

    # --- the runtime ---------------------------------------------------------------------------------
    def _count_remaining(self) -> None:
        """Ops left per (group, computation) over every unit: the actors' gangs end when it reaches 0."""
        self.remaining: dict[tuple[int, str], int] = {}
        for g, (plan, st) in enumerate(zip(self.plans, self.states)):
            for c in plan.computation:
                self.remaining[(g, c)] = self.remaining.get((g, c), 0) + len(st.units)
        self.computation_done: dict[tuple[int, str], simpy.Event] = {}

    def _ops_done(self, g: int, computation: str, n: int) -> None:
        key = (g, computation)
        self.remaining[key] -= n
        if not self.remaining[key] and key in self.computation_done:
            self.computation_done.pop(key).succeed()

    def runs(self, g: int, computation: str) -> bool:
        return self.remaining.get((g, computation), 0) > 0

    def start_computation(self, g: int, computation: str) -> simpy.Event:
        """The gang of `computation` on group g starts: open the gate; the event fires when it is done."""
        self.open_gate(g, computation)
        event = self.env.event()
        if self.remaining.get((g, computation), 0) == 0:
            event.succeed()
        else:
            self.computation_done[(g, computation)] = event
        return event

    def _group_slices(self) -> list[GroupSlice]:
        """Each group as the runtime sees it: its island and the mesh shape of its slice (the island, less
        the torus factors the ICI pipeline axis splits into stages)."""
        split: dict[str, int] = {}
        if self.placement is not None and ICI_PIPELINE in dict(self.program.group_axes):
            for axis in self.placement.axes:
                if axis.axis == ICI_PIPELINE:
                    for seg in axis.segments:
                        split[seg.dim] = split.get(seg.dim, 1) * seg.size
        slices = []
        for g, st in enumerate(self.states):
            members = [self.units[int(u)] for u in st.units]
            island = members[0].island if members else 0
            isl = self.cluster.islands[island]
            shape = tuple(n // split.get(d, 1) for d, n in zip(isl.dims, isl.shape))
            if members and members[0].coord:  # every chip simulated: the box its chips occupy (a job's slice)
                box = tuple(max(c) - min(c) + 1 for c in zip(*(u.coord for u in members)))
                if math.prod(box) == sum(u.chips for u in members):
                    shape = box
            slices.append(GroupSlice(self.program.groups[g].name, island, shape))
        return slices

    def run(self) -> Timeline:
        env = self.env
        runtime = StepDispatch(env, self.dispatch, self.lat, self._group_slices(),
                               tuple(tuple(i.shape) for i in self.cluster.islands), self.cluster.chip.chips_per_host,
                               self.program.computations, self.island_names, self.start_computation, self.runs)
        for g, st in enumerate(self.states):
            self._next_segments(g, np.arange(len(st.units)))
        steps = 0
        while env.peek() < math.inf:
            env.step()
            steps += 1
        for g, st in enumerate(self.states):
            if not st.done.all():
                l, i = np.argwhere(~st.done)[0]
                missing = int((~st.done).sum())
                name = self.units[int(st.units[l])].name
                stuck = runtime.deadlock()
                raise RuntimeError(f"simulation ended with {missing} ops never run, first: "
                                   f"{name} {self.program.groups[g].ops[i].name}" + (f"; {stuck}" if stuck else ""))
        recorded = sorted(self.record)
        pipelined = any(a.kind == "pipeline" for a, _ in self.program.group_axes)
        return Timeline(spans=tuple(self.spans + runtime.spans()), link_samples=tuple(self.net.samples),
                        groups=tuple(self.units[u].name for u in recorded),
                        group_chips=tuple(self.units[u].chips for u in recorded), pipelined=pipelined,
                        end_s=self.last_completion_s, events_processed=steps,
                        group_end_s=tuple(st.end_s for st in self.states), dispatch=runtime.stats())


def simulate(program: Program, placement, cluster, cost: ComputeCostModel, dispatch: str = "pathways_opbyop",
             latencies: RuntimeLatencies = RUNTIME, record_links: bool = True, fabric=None,
             record_units: set[int] | None = None) -> Timeline:
    """Folded by default; pass a FullFabric (pathsim.engine.fabric) to simulate every chip."""
    if fabric is None:
        fabric = FoldedFabric(program, placement, cluster, timing=link_timing_of(cost), latencies=latencies)
    elif fabric.latencies != latencies:  # the DCN floors and the dispatch must use one set of latencies
        raise ValueError("the fabric was built with other runtime latencies than the ones passed to simulate")
    return _Run(program, fabric, cost, dispatch, latencies, record_links, record_units, cluster,
                placement).run()
