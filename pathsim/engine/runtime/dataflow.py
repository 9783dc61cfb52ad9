"""Programs spanning islands: a pipeline whose stages sit on different islands, and data parallelism
across islands. Computations are gangs dispatched through each island's scheduler; the data between them
moves as flows on the max-min fair network (ICI inside an island, the hosts' NICs over the DCN), so
transfers overlap the computations that do not wait for them.
"""

from __future__ import annotations

import math

import simpy

from pathsim.engine.network import Network
from pathsim.engine.runtime.client import PathwaysClient
from pathsim.engine.runtime.devices import DeviceArray, Gang
from pathsim.engine.runtime.runtime import IslandRuntime, island_runtime
from pathsim.engine.runtime.specs import (DataParallelResult, DataParallelSpec, PipelineResult,
                                          PipelineSpec)
from pathsim.engine.timeline import union_length
from pathsim.workload.lowering.schedule import pipeline_order


class _Transfers:
    """Point-to-point transfers on the network, each with a latency floor; records DCN activity."""

    def __init__(self, env: simpy.Environment, capacity: dict[tuple[str, str], float]) -> None:
        self.env = env
        self.net = Network(env, capacity, record=False)
        self.dcn_intervals: list[tuple[float, float]] = []
        self.dcn_bytes = 0.0

    def send(self, nbytes: float, usage: dict[tuple[str, str], float], floor_s: float, dcn: bool,
             after: simpy.Event) -> simpy.Event:
        done = self.env.event()
        self.env.process(self._send(nbytes, usage, floor_s, dcn, after, done))
        return done

    def _send(self, nbytes, usage, floor_s, dcn, after, done):
        yield after
        start = self.env.now
        yield self.net.transfer(nbytes, usage)
        rest = start + floor_s - self.env.now
        if rest > 0:
            yield self.env.timeout(rest)
        if dcn:
            self.dcn_intervals.append((start, self.env.now))
            self.dcn_bytes += nbytes
        done.succeed()

    def dcn_busy_s(self) -> float:
        """Length of the union of the DCN transfer intervals."""
        return union_length(self.dcn_intervals)


def _submit(env, rt: IslandRuntime, lat, per_island: dict[int, list[Gang]]) -> None:
    """The client's program, lowered: each island's computations go to that island's scheduler as one
    statically schedulable subgraph (parallel asynchronous dispatch)."""
    calls = [tuple(gangs) for _, gangs in sorted(per_island.items())]
    PathwaysClient(env, 0, rt.schedulers[min(rt.schedulers)], lat, calls, route=rt.route)


def run_pipeline(spec: PipelineSpec) -> PipelineResult:
    env = simpy.Environment()
    S, M, hps, lat = len(spec.stage_islands), spec.microbatches, spec.hosts_per_stage, spec.latencies
    host_island = [spec.stage_islands[h // hps] for h in range(S * hps)]
    names = tuple(f"island{host_island[h]}.stage{h // hps}.host{h % hps}" for h in range(S * hps))
    rt = island_runtime(env, host_island, lat, DeviceArray(env, len(host_island), math.inf, names))
    capacity = {}
    for s in range(S):
        for res, cap in (("ici.out", spec.ici_bytes_per_s), ("ici.in", spec.ici_bytes_per_s),
                         ("dcn.out", hps * spec.dcn_bytes_per_s_per_host),
                         ("dcn.in", hps * spec.dcn_bytes_per_s_per_host)):
            capacity[(f"stage{s}", res)] = cap
    transfers = _Transfers(env, capacity)
    # Data arriving at each stage: activations from s - 1, gradients from s + 1.
    act = [[env.event() for _ in range(M)] for _ in range(S)]
    grad = [[env.event() for _ in range(M)] for _ in range(S)]
    gangs: dict[tuple[str, int, int], Gang] = {}
    per_island: dict[int, list[Gang]] = {}
    for s in range(S):
        hosts = tuple(range(s * hps, (s + 1) * hps))
        for kind, m in pipeline_order(s, S, M, spec.schedule):
            if kind == "F":
                inputs = (act[s][m],) if s > 0 else ()
                gang = Gang(f"F{m}@stage{s}", 0, hosts, spec.forward_s, env.event(), inputs=inputs)
            else:
                inputs = (grad[s][m],) if s < S - 1 else ()
                gang = Gang(f"B{m}@stage{s}", 0, hosts, spec.backward_s, env.event(), inputs=inputs)
            gangs[(kind, s, m)] = gang
            per_island.setdefault(spec.stage_islands[s], []).append(gang)
    for s in range(S):
        for m in range(M):
            if s + 1 < S:
                _link(transfers, spec, s, s + 1, gangs[("F", s, m)].done, act[s + 1][m])
            if s > 0:
                _link(transfers, spec, s, s - 1, gangs[("B", s, m)].done, grad[s - 1][m])
    _submit(env, rt, lat, per_island)
    env.run()
    report = rt.devices.deadlock()
    if report is not None:
        raise RuntimeError(report.describe())
    return PipelineResult(step_s=max(g.end_s for g in gangs.values()), dcn_bytes=transfers.dcn_bytes,
                          dcn_busy_s=transfers.dcn_busy_s())


def _link(transfers: _Transfers, spec: PipelineSpec, src: int, dst: int, after: simpy.Event,
          arrived: simpy.Event) -> None:
    dcn = spec.stage_islands[src] != spec.stage_islands[dst]
    net, floor = ("dcn", spec.latencies.dcn_message_s) if dcn else ("ici", spec.ici_latency_s)
    usage = {(f"stage{src}", f"{net}.out"): 1.0, (f"stage{dst}", f"{net}.in"): 1.0}
    done = transfers.send(spec.activation_bytes, usage, floor, dcn, after)
    done.callbacks.append(lambda _e: arrived.succeed())


def run_data_parallel(spec: DataParallelSpec) -> DataParallelResult:
    env = simpy.Environment()
    n, hpi, lat = spec.islands, spec.hosts_per_island, spec.latencies
    host_island = [h // hpi for h in range(n * hpi)]
    names = tuple(f"island{h // hpi}.host{h % hpi}" for h in range(n * hpi))
    rt = island_runtime(env, host_island, lat, DeviceArray(env, len(host_island), math.inf, names))
    capacity = {(f"host{h}", res): spec.dcn_bytes_per_s_per_host for h in range(n * hpi)
                for res in ("dcn.out", "dcn.in")}
    transfers = _Transfers(env, capacity)
    per_island: dict[int, list[Gang]] = {}
    scatters = []
    for i in range(n):
        hosts = tuple(range(i * hpi, (i + 1) * hpi))
        compute = Gang(f"compute@island{i}", 0, hosts, spec.compute_s, env.event())
        scatters.append(Gang(f"reduce_scatter@island{i}", 0, hosts, spec.ici_reduce_scatter_s, env.event()))
        per_island[i] = [compute, scatters[i]]
    incoming: list[list[simpy.Event]] = [[] for _ in range(n)]
    if n > 1:
        # Ring over the islands: each host sends its reduced shard to its peer host in the next island.
        for i in range(n):
            for h in range(hpi):
                src, dst = i * hpi + h, ((i + 1) % n) * hpi + h
                usage = {(f"host{src}", "dcn.out"): 1.0, (f"host{dst}", "dcn.in"): 1.0}
                incoming[(i + 1) % n].append(transfers.send(spec.dcn_bytes_per_host, usage, lat.dcn_message_s,
                                                            True, scatters[i].done))
    gathers = []
    for i in range(n):
        hosts = tuple(range(i * hpi, (i + 1) * hpi))
        gathers.append(Gang(f"all_gather@island{i}", 0, hosts, spec.ici_all_gather_s, env.event(),
                            inputs=tuple(incoming[i])))
        per_island[i].append(gathers[i])
    _submit(env, rt, lat, per_island)
    env.run()
    report = rt.devices.deadlock()
    if report is not None:
        raise RuntimeError(report.describe())
    return DataParallelResult(step_s=max(g.end_s for g in gathers), dcn_s=transfers.dcn_busy_s())
