"""Several clients (programs) sharing one island through its gang scheduler."""

from __future__ import annotations

import itertools

import simpy

from pathsim.engine.pathways.client import PathwaysClient
from pathsim.engine.pathways.devices import DeviceArray, Gang
from pathsim.engine.pathways.executor import HostExecutor
from pathsim.engine.pathways.policies import Fifo, ProportionalShare
from pathsim.engine.pathways.scheduler import GangScheduler
from pathsim.engine.pathways.specs import ClientSpec, TenancyResult, TenancySpec


def _programs(env: simpy.Environment, index: int, client: ClientSpec, hosts: tuple[int, ...]):
    for k in itertools.count():
        yield (Gang(f"client{index}.p{k}", index, hosts, client.program_s, env.event(), client.hbm_bytes),)


def run_tenancy(spec: TenancySpec) -> TenancyResult:
    env = simpy.Environment()
    devices = DeviceArray(env, spec.hosts, spec.hbm_bytes)
    executors = [HostExecutor(env, h, devices, spec.latencies) for h in range(spec.hosts)]
    policy = Fifo() if spec.policy == "fifo" else ProportionalShare(tuple(c.weight for c in spec.clients))
    scheduler = GangScheduler(env, executors, policy, spec.latencies)
    hosts = tuple(range(spec.hosts))
    for i, client in enumerate(spec.clients):
        PathwaysClient(env, i, scheduler, spec.latencies, _programs(env, i, client, hosts), client.outstanding)
    env.run(until=spec.horizon_s)
    lo, hi = spec.warmup_s, spec.horizon_s
    busy = [0.0] * len(spec.clients)
    done = [0] * len(spec.clients)
    for gang in devices.started:
        end = gang.end_s if gang.end_s == gang.end_s else hi  # still running at the horizon
        overlap = max(0.0, min(end, hi) - max(gang.start_s, lo))
        busy[gang.client] += overlap * len(gang.devices)
        if lo < end <= hi and gang.end_s == gang.end_s:
            done[gang.client] += 1
    window = hi - lo
    total = sum(busy)
    return TenancyResult(programs_per_s=sum(done) / window, utilization=total / (window * spec.hosts),
                         device_share=tuple(b / total if total else 0.0 for b in busy),
                         programs=tuple(done), hbm_stalled_s=devices.hbm_stalled_s())
