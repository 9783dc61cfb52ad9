"""Devices of an island: one FIFO queue per host, non-preemptible gangs, HBM back-pressure.

A TPU runs one kernel at a time, so a gang (an SPMD computation over several hosts' chips) starts only when
it is at the head of the queue of every device it spans and those devices are idle; its collectives need
all of them. Computations enqueued in different orders on two devices therefore deadlock, which
`deadlock()` detects from the wait-for graph once nothing else can happen.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import networkx as nx
import simpy

from pathsim.engine.pathways.specs import DeadlockReport


@dataclass(eq=False)
class Gang:
    """One gang-scheduled computation, shared by every host that enqueues it."""

    name: str
    client: int
    devices: tuple[int, ...]
    duration_s: float
    done: simpy.Event
    hbm_bytes: float = 0.0  # per chip, held from allocation until the computation ends
    inputs: tuple[simpy.Event, ...] = ()  # data it needs (a transfer from another island)
    # A computation the engine times (a training step's): called when the gang starts, its event fires when
    # the engine has run it; None: the gang lasts `duration_s`.
    run: Callable[[], simpy.Event] | None = None
    heads: int = 0  # devices where it is at the head of an idle queue
    start_s: float = float("nan")
    end_s: float = float("nan")


@dataclass
class _Hbm:
    free_bytes: float
    waiters: deque = field(default_factory=deque)  # (bytes, event, since_s), served in order
    stalled_s: float = 0.0


class DeviceArray:
    def __init__(self, env: simpy.Environment, n_devices: int, hbm_bytes: float, names: tuple[str, ...] = ()):
        self.env = env
        self.names = names or tuple(f"host{i}" for i in range(n_devices))
        self.queues: list[deque[Gang]] = [deque() for _ in range(n_devices)]
        self.busy = [False] * n_devices
        self.hbm = [_Hbm(hbm_bytes) for _ in range(n_devices)]
        self.started: list[Gang] = []  # in start order

    # --- HBM -----------------------------------------------------------------------------------------
    def allocate(self, dev: int, nbytes: float) -> simpy.Event:
        """Succeeds once `nbytes` per chip are free on `dev`: an executor that waits on it stalls."""
        event = self.env.event()
        mem = self.hbm[dev]
        if not mem.waiters and mem.free_bytes >= nbytes:
            mem.free_bytes -= nbytes
            event.succeed()
        else:
            mem.waiters.append((nbytes, event, self.env.now))
        return event

    def _release(self, dev: int, nbytes: float) -> None:
        mem = self.hbm[dev]
        mem.free_bytes += nbytes
        while mem.waiters and mem.waiters[0][0] <= mem.free_bytes:
            need, event, since = mem.waiters.popleft()
            mem.free_bytes -= need
            mem.stalled_s += self.env.now - since
            event.succeed()

    def hbm_stalled_s(self) -> float:
        return sum(mem.stalled_s for mem in self.hbm)

    # --- queues --------------------------------------------------------------------------------------
    def enqueue(self, dev: int, gang: Gang) -> None:
        queue = self.queues[dev]
        queue.append(gang)
        if len(queue) == 1 and not self.busy[dev]:
            self._at_head(gang)

    def _at_head(self, gang: Gang) -> None:
        gang.heads += 1
        if gang.heads == len(gang.devices):
            self.env.process(self._run(gang))

    def _run(self, gang: Gang):
        for dev in gang.devices:
            self.busy[dev] = True
        pending = [e for e in gang.inputs if not e.processed]
        if pending:
            yield self.env.all_of(pending)  # the devices stay reserved: kernels are not preemptible
        gang.start_s = self.env.now
        self.started.append(gang)
        yield gang.run() if gang.run is not None else self.env.timeout(gang.duration_s)
        gang.end_s = self.env.now
        for dev in gang.devices:
            self.queues[dev].popleft()
            self.busy[dev] = False
            if gang.hbm_bytes:
                self._release(dev, gang.hbm_bytes)
        for dev in gang.devices:
            if self.queues[dev] and not self.busy[dev]:
                self._at_head(self.queues[dev][0])
        gang.done.succeed()

    # --- deadlock ------------------------------------------------------------------------------------
    def deadlock(self) -> DeadlockReport | None:
        """Once the simulation has nothing left to do: the cycle of computations waiting on each other."""
        waits = nx.DiGraph()
        for dev, queue in enumerate(self.queues):
            if not queue or self.busy[dev]:
                continue
            head = queue[0]
            for other in head.devices:
                other_head = self.queues[other][0] if self.queues[other] else None
                if other_head is not None and other_head is not head:
                    waits.add_edge(head.name, other_head.name)
        if waits.number_of_edges() == 0:
            stuck = sum(len(q) for q in self.queues)
            if stuck:
                return DeadlockReport(computations=(), devices=(), stuck_computations=stuck)
            return None
        try:
            cycle = nx.find_cycle(waits)
        except nx.NetworkXNoCycle:
            cycle = list(waits.edges)[:1]
        names = tuple(dict.fromkeys(n for edge in cycle for n in edge[:2]))
        devices = tuple(self.names[d] for d, q in enumerate(self.queues) if q and q[0].name in names)
        stuck = len({g.name for q in self.queues for g in q})
        return DeadlockReport(computations=names, devices=devices, stuck_computations=stuck)
