"""The training step dispatched by the Pathways actors: the engine's computations are gangs on the actors'
device queues.

Each (computation, program group) is one gang over the group's hosts (a pod, or a pipeline stage: its own
slice). The gang "runs" by opening the engine's gate for that computation on that group, and ends when the
engine reports every op of the computation done on the group, so the device queues order a group's
computations as Pathways does while the engine times them (no fixed duration). Its `duration_s` is 0: the
schedulers cannot know it ahead, so they commit at once; with one client and FIFO the order is the same.

The resource manager (`resource_manager.py`) gives each group its virtual slice on its island, as the
Pathways resource manager maps a client's virtual slices onto physical devices: a group alone on its island
shares the island's hosts, pipeline stages on one island get hosts of their own (exclusive slices).

`runtime.dispatch` is one of the actors' modes (pathsim/catalog/latencies.py, docs/pathways.md):
- `pathways_opbyop`: one asynchronous call (a future) per computation, each island's part to that island's
  gang scheduler, fanned out to every host. In steady state the step's first computation was dispatched
  during the previous step, so it is in the device queues at time 0, and this step dispatches the next
  step's first computation.
- `pathways_opbyop_sequential`: as the benchmark's sequential dispatch, a computation's host-side work waits
  until every host acknowledged enqueuing the previous one (no computation is ahead of the step).
- `pathways_chained`: the step's computations are one call, one message per host holding all of them; in
  steady state it was dispatched during the previous step, and this step dispatches the next one's.
- `jax_opbyop`: every host dispatches its own shard (`python_call_s + host_enqueue_s` per computation), no
  client, no scheduler, no message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import simpy

from pathsim.catalog.dispatch_modes import STEP_DISPATCH_MODES
from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.engine.pathways.actors import Cpu
from pathsim.engine.pathways.client import PathwaysClient, multi_controller_host
from pathsim.engine.pathways.devices import DeviceArray, Gang
from pathsim.engine.pathways.executor import HostExecutor
from pathsim.engine.pathways.resource_manager import ResourceManager
from pathsim.engine.pathways.islands import island_runtime
from pathsim.engine.pathways.scheduler import GangScheduler
from pathsim.engine.timeline import DispatchStats, Span


@dataclass(frozen=True)
class GroupSlice:
    """One program group as the runtime sees it: its island and the mesh shape of its slice."""

    name: str
    island: int
    shape: tuple[int, ...]


def allocate(groups: list[GroupSlice], islands: tuple[tuple[int, ...], ...], chips_per_host: int,
             ) -> tuple[list[tuple[int, ...]], list[int]]:
    """Each group's hosts (numbered over every island's hosts, island by island) from the resource manager,
    and the island of every host. Groups sharing an island (pipeline stages) get exclusive slices."""
    rm = ResourceManager(islands, chips_per_host)
    first = [0]
    for i in range(len(islands)):
        first.append(first[-1] + rm.hosts_in(i))
    sharing = {i: sum(g.island == i for g in groups) for i in range(len(islands))}
    hosts = []
    for g in groups:
        vs = rm.allocate(g.shape, "plan", island=g.island, exclusive=sharing[g.island] > 1)
        hosts.append(tuple(first[g.island] + h for h in vs.hosts))
    return hosts, [i for i in range(len(islands)) for _ in range(rm.hosts_in(i))]


class StepDispatch:
    """Builds the actors for one step and dispatches `computations` (in order) onto the groups that run them.

    `start(g, c)` opens the engine's gate for computation c on group g and returns the event of its
    completion there; `runs(g, c)` says whether group g has any op of c (a gang only where there is work)."""

    def __init__(self, env: simpy.Environment, mode: str, lat: RuntimeLatencies, groups: list[GroupSlice],
                 islands: tuple[tuple[int, ...], ...], chips_per_host: int, computations: tuple[str, ...],
                 island_names: tuple[str, ...], start: Callable[[int, str], simpy.Event],
                 runs: Callable[[int, str], bool]) -> None:
        if mode not in STEP_DISPATCH_MODES:
            raise ValueError(f"unknown dispatch mode {mode!r}; one of {', '.join(STEP_DISPATCH_MODES)}")
        self.env, self.mode, self.lat, self.island_names = env, mode, lat, island_names
        self.group_hosts, island_of_host = allocate(groups, islands, chips_per_host)
        names = [f"{island_names[i]}.host{h}" for h, i in enumerate(island_of_host)]
        for g, hosts in zip(groups, self.group_hosts):
            for k, h in enumerate(hosts):
                names[h] = f"{g.name}.host{k}"
        self.devices = DeviceArray(env, len(island_of_host), hbm_bytes=math.inf, names=tuple(names))
        # One call per computation: the gangs of every group that runs it.
        self.calls: list[tuple[Gang, ...]] = []
        for c in computations:
            call = tuple(Gang(f"{c}@{groups[g].name}", 0, self.group_hosts[g], 0.0, env.event(),
                              run=lambda g=g, c=c: start(g, c)) for g in range(len(groups)) if runs(g, c))
            if call:
                self.calls.append(call)
        self.executors: list[HostExecutor] = []
        self.schedulers: dict[int, GangScheduler] = {}
        self.client: PathwaysClient | None = None
        used = sorted({h for hosts in self.group_hosts for h in hosts})
        self.hosts_used = len(used)
        if mode == "jax_opbyop":
            self.host_cpus = [Cpu(env) for _ in used]
            for host, cpu in zip(used, self.host_cpus):
                env.process(multi_controller_host(env, host, self.devices, lat, self.calls, cpu))
            return
        rt = island_runtime(env, island_of_host, lat, self.devices,
                            sequential=mode == "pathways_opbyop_sequential")
        self.executors, self.schedulers = rt.executors, rt.schedulers
        self.host_cpus = [rt.executors[h].cpu for h in used]
        calls = self.calls
        if mode == "pathways_chained" and calls:
            calls = [tuple(g for call in calls for g in call)]  # one statically schedulable subgraph
        if mode in ("pathways_opbyop", "pathways_chained") and calls:
            for gang in calls[0]:  # dispatched during the previous step: already enqueued everywhere
                for host in gang.devices:
                    self.devices.enqueue(host, gang)
            # ... and this step dispatches the next step's first call: the same work each step. It waits
            # behind this step's in the queues and is not simulated (empty gangs).
            calls = calls[1:] + [tuple(Gang(f"next step {g.name}", 0, g.devices, 0.0, env.event())
                                       for g in calls[0])]
        self.client = PathwaysClient(env, 0, self.schedulers[min(self.schedulers)], lat, calls, route=rt.route)

    def spans(self) -> list[Span]:
        """Each scheduler's CPU time per dispatched unit (receive, decide, fan out to every host)."""
        return [Span(self.island_names[i], "scheduler", "gang scheduler",
                     "dispatch " + ", ".join(g.name for g in req.gangs), "dispatch", start, end)
                for i, s in self.schedulers.items() for req, start, end in s.dispatched]

    def stats(self) -> DispatchStats:
        return DispatchStats(
            mode=self.mode, hosts=self.hosts_used,
            client_busy_s=self.client.cpu.busy_s if self.client is not None else 0.0,
            scheduler_busy_s=tuple(self.schedulers[i].cpu.busy_s if i in self.schedulers else 0.0
                                   for i in range(len(self.island_names))),
            host_messages=sum(ex.received for ex in self.executors),
            host_busy_s=sum(cpu.busy_s for cpu in self.host_cpus))

    def deadlock(self) -> str | None:
        report = self.devices.deadlock()
        return report.describe() if report is not None else None
