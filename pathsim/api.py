"""One call from an experiment to its prediction: load -> build -> place -> lower -> simulate -> measure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pathsim.catalog.kernels import kernel_spec
from pathsim.config.experiment import (
    ExperimentConfig, TopologyConfig, check_work_size, load_experiment, resolve_relative)
from pathsim.costs.compute import ComputeCostModel, WithLinks, link_timing_of
from pathsim.costs.memory import MemoryUse, memory_use
from pathsim.costs.registry import cost_model_named
from pathsim.engine import simulate
from pathsim.engine.fabric import FullFabric
from pathsim.engine.timeline import Timeline
from pathsim.errors import ConfigError
from pathsim.placement.mesh_axes import Placement, place
from pathsim.platform.scenario import choose_mode, link_state, slowdowns
from pathsim.platform.topology import Cluster, build_cluster
from pathsim.results.goodput import Goodput, goodput
from pathsim.results.metrics import StepMetrics, measure
from pathsim.workload.lowering import lower
from pathsim.workload.xla.collective_check import CollectiveCheck, check_collectives
from pathsim.workload.lowering.replication import Replication, replications


@dataclass(frozen=True)
class SimulationResult:
    experiment: ExperimentConfig
    cluster: Cluster
    placement: Placement
    timeline: Timeline
    metrics: StepMetrics
    memory: MemoryUse
    cost_model: str
    program_ops: int
    mode: str  # "folded" (one chip per device group) or "full" (every chip and link)
    goodput: Goodput | None
    program_source: str = "lowered"  # "lowered" (pathsim's own lowering) or "xla" (the compiled step)
    notes: tuple[str, ...] = ()  # extra report lines from the program's source (e.g. the compiler's memory)
    collective_check: CollectiveCheck | None = None  # an imported program's collective bytes vs its plan's
    replications: tuple[Replication, ...] = ()  # work the lowered plan repeats on several chips


def cost_model_for(exp: ExperimentConfig, cluster: Cluster, base_dir: Path | None) -> ComputeCostModel:
    """A named calibration profile wins (for kernels; links keep the chip's measured figures); else
    `cost_model`: the TPU kernel model (default), the compiler's estimates (compiled programs only) or the
    spec-sheet roofline (pathsim.costs.registry)."""
    kernel_model = cost_model_named("tpu_kernels", cluster.chip)
    if exp.calibration is not None:
        from pathsim.calibration import load_cost_model  # imported only when a profile is named

        profile = resolve_relative((base_dir or Path.cwd()) / "experiment.yaml", exp.calibration.profile)
        cost = load_cost_model(profile, cluster.chip)
        measured_on, expected = cost.profile.meta.device_kind, kernel_spec(cluster.chip.name).device_kind
        if measured_on != expected:
            raise ConfigError("calibration.profile", f"{profile.name} was measured on {measured_on!r}, but the "
                              f"experiment's chip {cluster.chip.name} is {expected!r}: name a profile of that chip")
        return WithLinks(cost, kernel_model.links)
    if exp.cost_model == "compiler" and exp.program != "xla":
        raise ConfigError("cost_model", "compiler prices the kernels of a compiled program by the compiler's "
                          "own estimates: it needs program: xla (or --program xla)")
    if exp.cost_model != "tpu_kernels":
        return cost_model_named(exp.cost_model, cluster.chip)
    return kernel_model


def simulate_config(exp: ExperimentConfig, topo: TopologyConfig, base_dir: Path | None = None,
                    record_links: bool = True, mode: str | None = None) -> SimulationResult:
    cluster = build_cluster(topo)
    placement = place(exp, cluster)
    cost = cost_model_for(exp, cluster, base_dir)
    if exp.program == "xla":
        from pathsim.results.xla_notes import xla_notes
        from pathsim.workload.xla.program import xla_program  # jax and libtpu are imported only on this path

        imported = xla_program(exp.model, exp.training, exp.plan, topo)
        repeated = ()  # XLA's own sharding decides
        program, source, notes = imported.program, "xla", xla_notes(cluster, cost, imported, memory_use(exp, cluster))
        check = check_collectives(program, exp.model, exp.training, exp.plan, imported.compiled.mesh.axes)
    else:
        program, source, notes, check = lower(exp, placement.chips_per_group), "lowered", (), None
        repeated = replications(exp)
    chosen = choose_mode(exp.scenario, mode)
    if mode is not None:  # the experiment's own mode was checked when it was loaded; a forced one is not
        check_work_size(exp, chosen)
    fabric, record = None, None
    if chosen == "full":
        slow = slowdowns(exp.scenario, cluster)
        fabric = FullFabric(program, placement, cluster, slowdowns=slow, links=link_state(exp.scenario, cluster),
                            timing=link_timing_of(cost))
        # Timelines of every chip would not fit in memory: keep one chip per group and every straggler.
        record = {next(i for i, u in enumerate(fabric.units) if u.group == g) for g in range(len(program.groups))}
        record |= {i for i, u in enumerate(fabric.units) if u.slowdown != 1.0}
        record_links = False
    timeline = simulate(program, placement, cluster, cost, exp.runtime.dispatch, record_links=record_links,
                        fabric=fabric, record_units=record)
    metrics = measure(timeline, exp, cluster)
    failures = exp.scenario.failures
    return SimulationResult(
        experiment=exp, cluster=cluster, placement=placement, timeline=timeline, metrics=metrics,
        memory=memory_use(exp, cluster), cost_model=cost.name, program_ops=program.op_count(), mode=chosen,
        goodput=goodput(failures, cluster, metrics.tokens_per_s) if failures is not None else None,
        program_source=source, notes=notes, collective_check=check, replications=repeated,
    )


def run_experiment(path: str | Path, record_links: bool = True, mode: str | None = None,
                   program: str | None = None, cost_model: str | None = None) -> SimulationResult:
    path = Path(path)
    exp, topo = load_experiment(path)
    # `pathsim run --program / --cost-model`: over the experiment's own fields
    update = {k: v for k, v in (("program", program), ("cost_model", cost_model)) if v is not None}
    if update:
        exp = exp.model_copy(update=update)
    return simulate_config(exp, topo, base_dir=path.parent, record_links=record_links, mode=mode)
