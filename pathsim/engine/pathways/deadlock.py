"""Why gang scheduling matters: programs that enqueue communicating computations in different orders on
different hosts deadlock; with one gang scheduler per island they cannot."""

from __future__ import annotations

import math

import simpy

from pathsim.engine.pathways.client import PathwaysClient, uncoordinated_client
from pathsim.engine.pathways.devices import DeviceArray, Gang
from pathsim.engine.pathways.executor import HostExecutor
from pathsim.engine.pathways.policies import Fifo
from pathsim.engine.pathways.scheduler import GangScheduler
from pathsim.engine.pathways.specs import DeadlockResult, DeadlockSpec


def run_deadlock(spec: DeadlockSpec) -> DeadlockResult:
    env = simpy.Environment()
    devices = DeviceArray(env, spec.hosts, hbm_bytes=math.inf)
    executors = [HostExecutor(env, h, devices, spec.latencies) for h in range(spec.hosts)]
    hosts = tuple(range(spec.hosts))
    # Each program's step is one SPMD computation whose all-reduce spans every host.
    gangs = [Gang(f"program{c}.step", c, hosts, spec.computation_s, env.event()) for c in range(spec.clients)]
    if spec.gang_scheduler:
        scheduler = GangScheduler(env, executors, Fifo(), spec.latencies)
        for c, gang in enumerate(gangs):
            PathwaysClient(env, c, scheduler, spec.latencies, [(gang,)])
    else:
        for c, gang in enumerate(gangs):
            # Each program reaches the hosts in its own order (here: alternate directions), so the
            # messages of different programs race and hosts see them in different orders.
            order = list(hosts) if c % 2 == 0 else list(reversed(hosts))
            env.process(uncoordinated_client(env, executors, spec.latencies, gang, order))
    env.run()  # ends when no event is left: a deadlock stops the clock, it never hangs
    completed = sum(1 for g in gangs if g.done.processed)
    end = max((g.end_s for g in gangs if g.done.processed), default=0.0)
    return DeadlockResult(completed=completed, total=len(gangs), end_s=end, report=devices.deadlock())
