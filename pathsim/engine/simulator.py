"""The discrete-event engine: runs a Program on a Placement over a Cluster and returns its Timeline.

One representative chip per device group. Its compute ops run one at a time in program order; its
communication ops run as flows on the shared network model as soon as their dependencies are done, so
overlap and contention come out of the timeline, not out of a formula. The Pathways runtime (controller,
one gang scheduler per island, host executors) decides when each computation is enqueued.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from pathsim.catalog.runtime import RUNTIME, RuntimeLatencies
from pathsim.collectives import dcn_chip_bytes_per_s, dcn_flow_bytes, dcn_latency_s, ici_flow
from pathsim.costs import ComputeCostModel
from pathsim.engine.network import Network
from pathsim.placement import Placement
from pathsim.program import CommOp, ComputeOp, Program, RecvOp
from pathsim.timeline import Span, Timeline
from pathsim.topology import Cluster


@dataclass
class _Rendezvous:
    """Participants of a collective that spans groups: it starts when the last one is ready."""

    expected: int
    arrived: list[int] = field(default_factory=list)
    started: simpy.Event | None = None
    finished: simpy.Event | None = None


class _Run:
    def __init__(self, program: Program, placement: Placement, cluster: Cluster, cost: ComputeCostModel,
                 dispatch: str, latencies: RuntimeLatencies, record_links: bool) -> None:
        self.env = simpy.Environment()
        self.program, self.placement, self.cluster, self.cost = program, placement, cluster, cost
        self.dispatch, self.lat = dispatch, latencies
        self.chip = cluster.chip
        self.names = [g.name for g in program.groups]
        capacity: dict[tuple[str, str], float] = {}
        island = cluster.islands[0]
        for name in self.names:
            for dim in island.dims:
                capacity[(name, f"ici.{dim}")] = self.chip.ici_bidirectional_bytes_per_s
            capacity[(name, "dcn.out")] = dcn_chip_bytes_per_s(self.chip)
            capacity[(name, "dcn.in")] = dcn_chip_bytes_per_s(self.chip)
        self.net = Network(self.env, capacity, record=record_links)
        self.done = [[self.env.event() for _ in g.ops] for g in program.groups]
        self.enqueued = {(gi, c): self.env.event() for gi in range(len(self.names)) for c in program.computations}
        self.recv: dict[str, simpy.Event] = {}
        self.rendezvous: dict[tuple, _Rendezvous] = {}
        self.spans: list[Span] = []
        self.axis_index = {a: i for i, (a, _) in enumerate(program.group_axes)}
        self.coords = [tuple(c for _, c in g.coords) for g in program.groups]
        self.index_of = {c: i for i, c in enumerate(self.coords)}

    # --- helpers -------------------------------------------------------------------------------------
    def _wait(self, gi: int, op) -> simpy.Event | None:
        events = [self.done[gi][d] for d in op.deps if not self.done[gi][d].processed]
        gate = self.enqueued[(gi, op.computation)]
        if not gate.processed:
            events.append(gate)
        if not events:
            return None
        return events[0] if len(events) == 1 else self.env.all_of(events)

    def _recv_event(self, key: str) -> simpy.Event:
        if key not in self.recv:
            self.recv[key] = self.env.event()
        return self.recv[key]

    # --- processes -----------------------------------------------------------------------------------
    def compute_stream(self, gi: int):
        group = self.program.groups[gi]
        for oi, op in enumerate(group.ops):
            if not isinstance(op, ComputeOp):
                continue
            gate = self._wait(gi, op)
            if gate is not None:
                yield gate
            start = self.env.now
            yield self.env.timeout(self.cost.op_time_s(op))
            self.spans.append(Span(group.name, "compute", "compute", op.name, op.phase, start, self.env.now,
                                   flops=op.flops, bytes=op.hbm_bytes))
            self.done[gi][oi].succeed()

    def comm(self, gi: int, oi: int, op: CommOp | RecvOp):
        gate = self._wait(gi, op)
        if gate is not None:
            yield gate
        if isinstance(op, RecvOp):
            yield self._recv_event(op.key)
        elif op.axis.startswith("dcn.") and op.collective != "send":
            yield from self._dcn_collective(gi, op)
        elif op.collective == "send":
            yield from self._send(gi, op)
        else:
            yield from self._ici_collective(gi, op)
        self.done[gi][oi].succeed()

    def _ici_collective(self, gi: int, op: CommOp):
        name = self.names[gi]
        flow = ici_flow(op.collective, op.bytes, self.placement.axis(op.axis), self.chip)
        start = self.env.now
        yield self.net.transfer(flow.bytes, {(name, res): w for res, w in flow.usage})
        rest = start + flow.min_duration_s - self.env.now
        if rest > 0:
            yield self.env.timeout(rest)
        self.spans.append(Span(name, "ici", op.axis, op.name, op.phase, start, self.env.now, bytes=flow.bytes))

    def _send(self, gi: int, op: CommOp):
        name, peer = self.names[gi], self.names[op.peer_group]
        start = self.env.now
        if op.axis.startswith("dcn."):
            yield self.net.transfer(op.bytes, {(name, "dcn.out"): 1.0, (peer, "dcn.in"): 1.0})
            floor, track = dcn_latency_s("send", 2), "dcn"
        else:
            flow = ici_flow("send", op.bytes, self.placement.axis(op.axis), self.chip)
            yield self.net.transfer(flow.bytes, {(name, res): w for res, w in flow.usage})
            floor, track = flow.min_duration_s, "ici"
        rest = start + floor - self.env.now
        if rest > 0:
            yield self.env.timeout(rest)
        self.spans.append(Span(name, track, op.axis, op.name, op.phase, start, self.env.now, bytes=op.bytes))
        self._recv_event(op.key).succeed()

    def _participants(self, gi: int, axis: str) -> tuple[tuple, list[int]]:
        k = self.axis_index[axis]
        mine = self.coords[gi]
        others = mine[:k] + mine[k + 1:]
        n = self.program.group_axes[k][1]
        members = [self.index_of[mine[:k] + (j,) + mine[k + 1:]] for j in range(n)]
        return others, members

    def _dcn_collective(self, gi: int, op: CommOp):
        others, members = self._participants(gi, op.axis)
        key = (op.key, op.axis, others)
        rv = self.rendezvous.get(key)
        if rv is None:
            rv = self.rendezvous[key] = _Rendezvous(expected=len(members), started=self.env.event(),
                                                    finished=self.env.event())
        rv.arrived.append(gi)
        if len(rv.arrived) == rv.expected:
            self.env.process(self._run_dcn_ring(op, members, rv))
        yield rv.started
        start = self.env.now
        yield rv.finished
        n = len(members)
        self.spans.append(Span(self.names[gi], "dcn", op.axis, op.name, op.phase, start, self.env.now,
                               bytes=dcn_flow_bytes(op.collective, op.bytes, n)))

    def _run_dcn_ring(self, op: CommOp, members: list[int], rv: _Rendezvous):
        """Ring over the islands: each member sends to its successor, hosts paired 1:1 (PaLM section 4)."""
        rv.started.succeed()
        start = self.env.now
        n = len(members)
        nbytes = dcn_flow_bytes(op.collective, op.bytes, n)
        flows = []
        for i, gi in enumerate(members):
            succ = members[(i + 1) % n]
            flows.append(self.net.transfer(nbytes, {(self.names[gi], "dcn.out"): 1.0,
                                                    (self.names[succ], "dcn.in"): 1.0}))
        yield self.env.all_of(flows)
        rest = start + dcn_latency_s(op.collective, n) - self.env.now
        if rest > 0:
            yield self.env.timeout(rest)
        rv.finished.succeed()

    # --- the runtime ---------------------------------------------------------------------------------
    def _island_groups(self) -> dict[int, list[int]]:
        by_island: dict[int, list[int]] = {}
        for gi, island in enumerate(self.placement.group_islands):
            by_island.setdefault(island, []).append(gi)
        return by_island

    def _last_op_events(self, computation: str) -> list[simpy.Event]:
        events = []
        for gi, group in enumerate(self.program.groups):
            idx = [i for i, op in enumerate(group.ops) if op.computation == computation]
            events.extend(self.done[gi][i] for i in idx)
        return events

    def _enqueue_on_island(self, island: int, groups: list[int], computation: str):
        """The island's gang scheduler receives the computation and has every host enqueue it."""
        start = self.env.now
        yield self.env.timeout(self.lat.dcn_message_s + self.lat.host_enqueue_s)
        for gi in groups:
            self.enqueued[(gi, computation)].succeed()
        island_name = self.cluster.islands[island].name
        self.spans.append(Span(island_name, "scheduler", "gang scheduler", f"enqueue {computation}", "dispatch",
                               start, self.env.now))

    def controller(self):
        islands = self._island_groups()
        computations = self.program.computations
        if self.dispatch == "multi_controller":
            # Every host dispatches its own shard: no controller, no cross-host message.
            yield self.env.timeout(self.lat.host_enqueue_s)
            for event in self.enqueued.values():
                event.succeed()
            return
        for ci, computation in enumerate(computations):
            if self.dispatch == "pathways_async" and ci == 0:
                # Dispatched asynchronously during the previous step: already enqueued in steady state.
                for gi in range(len(self.names)):
                    self.enqueued[(gi, computation)].succeed()
                continue
            if self.dispatch == "pathways_sequential" and ci > 0:
                pending = [e for e in self._last_op_events(computations[ci - 1]) if not e.processed]
                if pending:
                    yield self.env.all_of(pending)
                yield self.env.timeout(self.lat.dcn_message_s)  # the results reach the client
            for island, groups in islands.items():
                start = self.env.now
                yield self.env.timeout(self.lat.controller_work_s)
                self.spans.append(Span("controller", "controller", "dispatch", f"dispatch {computation}",
                                       "dispatch", start, self.env.now))
                self.env.process(self._enqueue_on_island(island, groups, computation))

    def run(self) -> Timeline:
        env = self.env
        env.process(self.controller())
        for gi, group in enumerate(self.program.groups):
            env.process(self.compute_stream(gi))
            for oi, op in enumerate(group.ops):
                if not isinstance(op, ComputeOp):
                    env.process(self.comm(gi, oi, op))
        steps = 0
        while env.peek() < math.inf:
            env.step()
            steps += 1
        stuck = [(self.names[gi], op.name) for gi, g in enumerate(self.program.groups)
                 for oi, op in enumerate(g.ops) if not self.done[gi][oi].processed]
        if stuck:
            raise RuntimeError(f"simulation ended with {len(stuck)} ops never run, first: {stuck[:3]}")
        end = max((s.end_s for s in self.spans), default=0.0)
        pipelined = any(a.endswith("pipeline") for a, _ in self.program.group_axes)
        return Timeline(spans=tuple(self.spans), link_samples=tuple(self.net.samples), groups=tuple(self.names),
                        group_chips=tuple(g.chips for g in self.program.groups), pipelined=pipelined,
                        end_s=end, events_processed=steps)


def simulate(program: Program, placement: Placement, cluster: Cluster, cost: ComputeCostModel,
             dispatch: str = "pathways_async", latencies: RuntimeLatencies = RUNTIME,
             record_links: bool = True) -> Timeline:
    return _Run(program, placement, cluster, cost, dispatch, latencies, record_links).run()
