"""The dispatch micro-benchmark: a chain of scalar all-reduce + add computations over every host."""

from __future__ import annotations

import math

import simpy

from pathsim.engine.pathways.client import PathwaysClient, multi_controller_host
from pathsim.engine.pathways.devices import DeviceArray, Gang
from pathsim.engine.pathways.executor import HostExecutor
from pathsim.engine.pathways.policies import Fifo
from pathsim.engine.pathways.scheduler import GangScheduler
from pathsim.engine.pathways.specs import DispatchResult, DispatchSpec


def _calls(env: simpy.Environment, spec: DispatchSpec) -> list[tuple[Gang, ...]]:
    hosts = tuple(range(spec.hosts))
    calls = []
    for k in range(spec.calls):
        if spec.mode.endswith("fused"):
            # One computation holding the whole chain: dispatched and enqueued once.
            calls.append((Gang(f"call{k}", 0, hosts, spec.chain_length * spec.computation_s, env.event()),))
        else:
            n = spec.chain_length if spec.mode == "pathways_chained" else 1
            calls.append(tuple(Gang(f"call{k}.{j}", 0, hosts, spec.computation_s, env.event())
                               for j in range(n)))
    return calls


def computations_per_call(spec: DispatchSpec) -> int:
    return spec.chain_length if spec.mode in ("pathways_chained", "pathways_fused", "jax_fused") else 1


def run_dispatch(spec: DispatchSpec) -> DispatchResult:
    if spec.calls < 2:
        raise ValueError("a steady-state rate needs at least 2 calls")
    env = simpy.Environment()
    devices = DeviceArray(env, spec.hosts, hbm_bytes=math.inf)
    calls = _calls(env, spec)
    scheduler_busy = 0.0
    if spec.mode.startswith("jax"):
        for host in range(spec.hosts):
            env.process(multi_controller_host(env, host, devices, spec.latencies, calls))
        env.run()
    else:
        executors = [HostExecutor(env, h, devices, spec.latencies) for h in range(spec.hosts)]
        scheduler = GangScheduler(env, executors, Fifo(), spec.latencies,
                                  sequential=spec.mode == "pathways_opbyop_sequential")
        PathwaysClient(env, 0, scheduler, spec.latencies, calls)
        env.run()
        scheduler_busy = scheduler.cpu.busy_s
    report = devices.deadlock()
    if report is not None:
        raise RuntimeError(report.describe())
    ends = [call[-1].end_s for call in calls]
    # Steady state: the calls that completed in the second half of the run.
    half = len(ends) // 2
    per_call = computations_per_call(spec)
    rate = per_call * (len(ends) - half) / (ends[-1] - ends[half - 1])
    return DispatchResult(computations_per_s=rate, computations=per_call * len(calls), end_s=ends[-1],
                          scheduler_busy_s=scheduler_busy)
