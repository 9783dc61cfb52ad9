"""Several jobs sharing one pod, each on its own slice, simulated together chip by chip.

With the OCS (TPU v4) each slice's wraparound is a circuit of its own, so jobs share no ICI link; without
it a slice's rings close the long way round the pod's torus, through the other jobs' chips, and their
traffic interferes there. Each job is also simulated alone, so the report shows what sharing costs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from pathsim.api import simulate_config
from pathsim.costs.compute import link_timing_of
from pathsim.engine import simulate
from pathsim.engine.fabric import FullFabric, PodSlot
from pathsim.errors import ConfigError
from pathsim.config.experiment import (
    MAX_FULL_CHIP_OPS,
    StrictModel,
    config_error,
    load_experiment,
    parse_topology,
    read_yaml,
    resolve_relative,
    work_size,
)
from pathsim.platform.topology import build_cluster
from pathsim.pipeline import prepare
from pathsim.results.metrics import measure
from pathsim.workload.program import Program


class JobConfig(StrictModel):
    """One job of a shared pod: an experiment on its own slice."""

    name: str = Field(description="label in the report")
    experiment: str = Field(description="an experiment whose topology is one island: the job's slice")
    origin: list[int] = Field(max_length=3, description="the slice's corner in the pod's torus")


class SharedPodConfig(StrictModel):
    """Several jobs on one pod, each on its own slice, simulated together chip by chip."""

    name: str = Field(description="label in the report")
    description: str = Field("", description="free text")
    pod: str = Field(description="a topology with one island: the whole pod")
    ocs: bool = Field(True, description=(
        "true: each slice's wraparound is its own optical circuit (TPU v4), jobs share no ICI link; false: a "
        "slice's rings close through the pod's torus and other jobs' chips"))
    jobs: list[JobConfig] = Field(min_length=1, max_length=64, description="the jobs, each named once")

    @model_validator(mode="after")
    def _names(self) -> "SharedPodConfig":
        names = [job.name for job in self.jobs]
        for k, name in enumerate(names):
            if name in names[:k]:
                raise ConfigError(f"jobs.{k}.name", f"{name!r} names an earlier job too; name each job once")
        return self


@dataclass(frozen=True)
class JobResult:
    name: str
    slice_shape: tuple[int, ...]
    origin: tuple[int, ...]
    chips: int
    step_time_s: float
    alone_step_time_s: float
    mfu: float
    alone_mfu: float

    @property
    def slowdown(self) -> float:
        return self.step_time_s / self.alone_step_time_s


class _CombinedFabric:
    """Every job's FullFabric on one pod: unit and group indices offset, link resources shared."""

    def __init__(self, fabrics: list[FullFabric], group_offsets: list[int]) -> None:
        self.fabrics = fabrics
        self.unit_offsets, units, capacity = [], [], {}
        for fabric, g0 in zip(fabrics, group_offsets):
            self.unit_offsets.append(len(units))
            units.extend(dataclasses.replace(u, group=u.group + g0, island=0) for u in fabric.units)
            capacity.update(fabric.capacity)
        self.units, self.capacity = tuple(units), capacity
        self.latencies = fabrics[0].latencies
        self._job_of = [j for j, f in enumerate(fabrics) for _ in f.units]

    def _local(self, u: int) -> tuple[int, FullFabric, int]:
        j = self._job_of[u]
        return j, self.fabrics[j], u - self.unit_offsets[j]

    def members(self, u, op):
        j, fabric, local = self._local(u)
        key, members = fabric.members(local, op)
        return (j, key), [m + self.unit_offsets[j] for m in members]

    def flows(self, op, members):
        j, fabric, _ = self._local(members[0])
        return fabric.flows(op, [m - self.unit_offsets[j] for m in members])

    def peer(self, u, op):
        j, fabric, local = self._local(u)
        return fabric.peer(local, op) + self.unit_offsets[j]

    def send_flow(self, u, peer, op):
        j, fabric, local = self._local(u)
        return fabric.send_flow(local, peer - self.unit_offsets[j], op)


def _parse(data: dict[str, Any]) -> SharedPodConfig:
    try:
        return SharedPodConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, "", SharedPodConfig) from None


def _check_slots(cfg: SharedPodConfig, shapes: list[tuple[int, ...]], pod: tuple[int, ...]) -> None:
    boxes = []
    for k, (job, shape) in enumerate(zip(cfg.jobs, shapes)):
        field = f"jobs.{k}.origin"
        if len(job.origin) != len(pod) or any(o < 0 or o + n > p for o, n, p in zip(job.origin, shape, pod)):
            raise ConfigError(field, f"a {'x'.join(map(str, shape))} slice at {job.origin} does not fit the "
                              f"{'x'.join(map(str, pod))} pod")
        for other, (o2, s2) in zip(cfg.jobs, boxes):
            if all(a < b + m and b < a + n for a, n, b, m in zip(job.origin, shape, o2, s2)):
                raise ConfigError(field, f"slice overlaps job {other.name!r}")
        boxes.append((job.origin, shape))


def run_shared_pod(path: Path) -> list[JobResult]:
    cfg = _parse(read_yaml(path, "experiment"))
    pod_cluster = build_cluster(parse_topology(read_yaml(resolve_relative(path, cfg.pod), "pod")))
    if len(pod_cluster.islands) != 1:
        raise ConfigError("pod", "the pod topology must have exactly one island")
    pod = pod_cluster.islands[0]
    loaded = []
    for k, job in enumerate(cfg.jobs):
        job_path = resolve_relative(path, job.experiment)
        exp, topo = load_experiment(job_path)
        if len(topo.islands) != 1 or topo.islands[0].count != 1 or exp.plan.dcn:
            raise ConfigError(f"jobs.{k}.experiment", "a job in a shared pod runs on one slice, without DCN axes")
        loaded.append((job, job_path, exp, topo))
    # Every job is simulated chip by chip, together: their full-mode work adds up.
    chip_ops = sum(work_size(exp)[1] for _, _, exp, _ in loaded)
    if chip_ops > MAX_FULL_CHIP_OPS:
        raise ConfigError("jobs", f"the jobs together are about {chip_ops:.3g} chip-ops to simulate; the limit is "
                                  f"{MAX_FULL_CHIP_OPS:.3g}")
    shapes = [tuple(t.islands[0].shape) for _, _, _, t in loaded]
    _check_slots(cfg, shapes, pod.shape)

    fabrics, offsets, runs = [], [], []
    for job, job_path, exp, topo in loaded:
        cluster = build_cluster(topo)
        if not cfg.ocs:
            # No OCS: a slice's rings close through the pod's torus wherever the pod's do.
            island = dataclasses.replace(cluster.islands[0], wraparound=pod.wraparound)
            cluster = dataclasses.replace(cluster, islands=(island,))
        run = prepare(exp, topo, job_path.parent, cluster=cluster)
        slot = PodSlot(job=job.name, origin=tuple(job.origin), pod_shape=pod.shape, pod_wraps=pod.wraparound,
                       ocs=cfg.ocs)
        offsets.append(sum(len(r.program.groups) for r in runs))
        fabrics.append(FullFabric(run.program, run.placement, cluster, slot=slot, timing=link_timing_of(run.cost)))
        runs.append(run)
    groups = tuple(dataclasses.replace(g, name=f"{job.name}:{g.name}")
                   for (job, *_), r in zip(loaded, runs) for g in r.program.groups)
    combined = Program(groups=groups, group_axes=(), computations=runs[0].program.computations)
    fabric = _CombinedFabric(fabrics, offsets)
    # One cost model per job would be needed for jobs with different profiles; jobs here share the chip.
    record = {fabric.unit_offsets[j] for j in range(len(fabrics))}
    timeline = simulate(combined, runs[0].placement, pod_cluster, runs[0].cost, loaded[0][2].runtime.dispatch,
                        record_links=False, fabric=fabric, record_units=record)
    results = []
    for j, (job, job_path, exp, topo) in enumerate(loaded):
        run = runs[j]
        own = range(offsets[j], offsets[j] + len(run.program.groups))
        step = max(timeline.group_end_s[g] for g in own)
        job_timeline = dataclasses.replace(timeline, end_s=step)
        shared = measure(job_timeline, run.planned.inputs.work, run.cluster)
        alone = simulate_config(exp, topo, base_dir=job_path.parent, record_links=False).metrics
        results.append(JobResult(name=job.name, slice_shape=run.cluster.islands[0].shape, origin=tuple(job.origin),
                                 chips=run.cluster.chips, step_time_s=step, alone_step_time_s=alone.step_time_s,
                                 mfu=shared.mfu, alone_mfu=alone.mfu))
    return results


def is_shared_pod(data: dict[str, Any]) -> bool:
    return "jobs" in data and "pod" in data


def jobs_report(name: str, results: list[JobResult]) -> str:
    lines = [f"{name}: {len(results)} jobs on one pod",
             f"{'job':<12}{'slice':<12}{'origin':<12}{'chips':>6}{'step s':>11}{'alone s':>11}{'slowdown':>10}"
             f"{'MFU':>8}{'alone':>8}"]
    for r in results:
        lines.append(f"{r.name:<12}{'x'.join(map(str, r.slice_shape)):<12}{str(list(r.origin)):<12}{r.chips:>6}"
                     f"{r.step_time_s:>11.4g}{r.alone_step_time_s:>11.4g}{100 * (r.slowdown - 1):>9.1f}%"
                     f"{100 * r.mfu:>7.1f}%{100 * r.alone_mfu:>7.1f}%")
    return "\n".join(lines) + "\n"
