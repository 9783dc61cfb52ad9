"""One gang scheduler per island: orders every computation on the island consistently.

It commits work to the devices only a little ahead of them (the dispatch latency plus a lookahead of about
a millisecond), so the policy decides the order that the devices see; each committed unit goes to every
host's executor as one message, sent one after the other from the scheduler's CPU.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import simpy

from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.engine.pathways.actors import Cpu, deliver
from pathsim.engine.pathways.devices import Gang
from pathsim.engine.pathways.executor import Dispatch, HostExecutor
from pathsim.engine.pathways.policies import SchedulingPolicy


@dataclass(eq=False)
class Request:
    """Client -> scheduler: one call, i.e. a statically schedulable subgraph of computations."""

    client: int
    gangs: tuple[Gang, ...]
    arrival: int = 0
    enqueued: simpy.Event | None = None  # sequential dispatch: every host has enqueued it
    acks: int = 0
    hosts: tuple[int, ...] = field(default=())

    @property
    def device_s(self) -> float:
        return sum(g.duration_s for g in self.gangs)


class GangScheduler:
    def __init__(self, env: simpy.Environment, executors: list[HostExecutor], policy: SchedulingPolicy,
                 lat: RuntimeLatencies, sequential: bool = False) -> None:
        self.env, self.executors, self.policy, self.lat = env, executors, policy, lat
        self.sequential = sequential
        self.cpu = Cpu(env)
        self.pending: dict[int, deque[Request]] = {}
        self.est_idle_s = [0.0] * len(executors)
        self.arrivals = 0
        self.wake = env.event()
        self.dispatched: list[tuple[Request, float, float]] = []  # (request, CPU start, CPU end) of each unit
        env.process(self._loop())

    def submit(self, req: Request) -> None:
        """A request arrives (the message from the client has crossed the DCN)."""
        req.arrival = self.arrivals
        self.arrivals += 1
        req.hosts = tuple(sorted({d for g in req.gangs for d in g.devices}))
        queue = self.pending.setdefault(req.client, deque())
        if not queue:
            self.policy.arrive(req.client, [c for c, q in self.pending.items() if q])
        queue.append(req)
        if not self.wake.triggered:
            self.wake.succeed()

    def _dispatch_latency_s(self, hosts: int) -> float:
        """Commit to enqueue, statically known: receive, decide, fan out, cross the DCN, enqueue."""
        lat = self.lat
        return (lat.rpc_cpu_s + lat.controller_work_s + hosts * lat.rpc_cpu_s + lat.dcn_message_s
                + lat.rpc_cpu_s + lat.host_enqueue_s)

    def _loop(self):
        env, lat = self.env, self.lat
        while True:
            heads = {c: q[0].arrival for c, q in self.pending.items() if q}
            if not heads:
                self.wake = env.event()
                yield self.wake
                continue
            req = self.pending[self.policy.pick(heads)][0]
            latency = self._dispatch_latency_s(len(req.hosts))
            idle_at = max(self.est_idle_s[h] for h in req.hosts)
            early = idle_at - env.now - latency - lat.scheduler_lookahead_s
            if early > 1e-12:  # a tolerance: float rounding must not re-arm ever smaller waits
                yield env.timeout(early)  # the devices are busy long enough: decide later
                continue
            self.pending[req.client].popleft()
            self.policy.charge(req.client, req.device_s)
            start = max(idle_at, env.now + latency)
            for h in req.hosts:
                self.est_idle_s[h] = start + req.device_s
            cpu_start = max(env.now, self.cpu.free_at_s)
            self.cpu.reserve(lat.rpc_cpu_s + lat.controller_work_s)
            ack = None
            if self.sequential:
                req.enqueued = env.event()
                ack = lambda r=req: self._ack(r)  # noqa: E731
            msg = Dispatch(req.gangs, ack)
            for h in req.hosts:
                sent = self.cpu.reserve(lat.rpc_cpu_s)
                deliver(env, sent + lat.dcn_message_s, lambda ex=self.executors[h], m=msg: ex.receive(m))
            self.dispatched.append((req, cpu_start, self.cpu.free_at_s))
            yield env.timeout(self.cpu.free_at_s - env.now)
            if self.sequential:
                # The successor's host-side work waits until this one is enqueued everywhere.
                yield req.enqueued
                yield self.cpu.work(len(req.hosts) * lat.rpc_cpu_s)

    def _ack(self, req: Request) -> None:
        req.acks += 1
        if req.acks == len(req.hosts):
            req.enqueued.succeed()
