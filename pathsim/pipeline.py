"""An experiment through the stages, assembled here once: resolve -> place -> program -> cost model ->
simulate -> measure. Every caller (run, sweeps, compare, shared pods, calibration, xla_compare) goes through
`prepare` and `simulate_prepared`; the stages below take only the typed pieces they use."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pathsim.catalog.kernels import kernel_spec
from pathsim.catalog.latencies import LATENCIES, RuntimeLatencies
from pathsim.catalog.hardware import GIB
from pathsim.catalog.xla_flags import COMPILED_LAYER_PREFETCH, COMPILER_HBM_GIB, CompileFlags, resolve_flags
from pathsim.config.experiment import (
    ExperimentConfig, ModelConfig, PlanConfig, TopologyConfig, TrainingConfig, check_work_size, resolve_relative)
from pathsim.costs.compute import ComputeCostModel, WithLinks, link_timing_of
from pathsim.workload.memory import MemoryUse, memory_use
from pathsim.costs.registry import cost_model_named
from pathsim.engine import simulate
from pathsim.engine.fabric import FullFabric
from pathsim.errors import ConfigError
from pathsim.mesh.plan import Mesh, mesh_of
from pathsim.placement.mesh_axes import Placement, place
from pathsim.platform.scenario import choose_mode, link_state, slowdowns
from pathsim.platform.topology import Cluster, build_cluster
from pathsim.results.goodput import goodput
from pathsim.results.metrics import measure
from pathsim.results.simulation import RunLabel, SimulationResult
from pathsim.workload.lowering import LoweringOptions, lower
from pathsim.workload.lowering.context import Shard, shard_for
from pathsim.workload.lowering.replication import Replication, replications
from pathsim.workload.model import StepWork, step_work
from pathsim.workload.program import Program
from pathsim.workload.xla.collective_check import CollectiveCheck, check_collectives


@dataclass(frozen=True)
class StageInputs:
    """The experiment resolved once into what the stages read."""

    model: ModelConfig
    training: TrainingConfig
    plan: PlanConfig
    mesh: Mesh
    shard: Shard
    lowering: LoweringOptions
    work: StepWork


def weight_prefetch_layers(exp: ExperimentConfig, chip: str | None) -> int:
    """The experiment's `runtime.weight_prefetch_layers`, else what XLA's compiled step does on the chip.
    Where no compiled step says (a program lowered only to count its FLOPs, a measured device) one layer
    ahead."""
    if exp.runtime.weight_prefetch_layers is not None:
        return exp.runtime.weight_prefetch_layers
    return COMPILED_LAYER_PREFETCH.get(chip or "", 1)


def resolve(exp: ExperimentConfig, mesh: Mesh | None = None, chip: str | None = None) -> StageInputs:
    """ConfigError naming the field for a plan the model does not split under."""
    return StageInputs(
        model=exp.model, training=exp.training, plan=exp.plan, mesh=mesh or mesh_of(exp.plan),
        shard=shard_for(exp.model, exp.training, exp.plan),
        lowering=LoweringOptions(weight_prefetch_layers=weight_prefetch_layers(exp, chip),
                                 overlap_dcn_gradients=exp.runtime.overlap_dcn_gradients),
        work=step_work(exp.model, exp.training))


def lowered_program(exp: ExperimentConfig, ici_chips_per_group: int | None = None) -> Program:
    """pathsim's own lowering of the experiment's step (no cluster needed)."""
    inputs = resolve(exp)
    return lower(inputs.shard, inputs.mesh, inputs.lowering, ici_chips_per_group)


def cost_model_for(exp: ExperimentConfig, cluster: Cluster, base_dir: Path | None) -> ComputeCostModel:
    """A named calibration profile wins (for kernels; links keep the chip's measured figures); else
    `cost_model`: the TPU kernel model (default), the compiler's estimates (compiled programs only) or the
    spec-sheet roofline (pathsim.costs.registry)."""
    kernel_model = cost_model_named("tpu_kernels", cluster.chip)
    if exp.calibration is not None:
        from pathsim.costs.calibrated import load_cost_model  # imported only when a profile is named

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


@dataclass(frozen=True)
class PlannedRun:
    """The plan on the cluster, before any program: what a screen or a sweep's memory check needs."""

    cluster: Cluster
    placement: Placement
    inputs: StageInputs
    memory: MemoryUse


def plan_run(exp: ExperimentConfig, cluster: Cluster) -> PlannedRun:
    """Place the plan (its errors first, as a user fixes them), then resolve the model's split under it."""
    mesh = mesh_of(exp.plan)
    placement = place(exp.plan, mesh, cluster)
    inputs = resolve(exp, mesh, cluster.chip.name)
    memory = memory_use(inputs.shard, inputs.lowering.weight_prefetch_layers, cluster.chip.hbm_bytes)
    return PlannedRun(cluster=cluster, placement=placement, inputs=inputs, memory=memory)


@dataclass(frozen=True)
class PreparedRun:
    """Everything `simulate_prepared` needs, built once."""

    experiment: ExperimentConfig
    planned: PlannedRun
    cost: ComputeCostModel
    program: Program
    program_source: str  # "lowered" or "xla"
    notes: tuple[str, ...] = ()
    collective_check: CollectiveCheck | None = None
    replications: tuple[Replication, ...] = ()
    compile_flags: CompileFlags | None = None  # program: xla only

    @property
    def cluster(self) -> Cluster:
        return self.planned.cluster

    @property
    def placement(self) -> Placement:
        return self.planned.placement


def prepare(exp: ExperimentConfig, topo: TopologyConfig | None, base_dir: Path | None = None, *,
            cluster: Cluster | None = None, planned: PlannedRun | None = None,
            cost: ComputeCostModel | None = None, program: Program | None = None) -> PreparedRun:
    """The run's cluster, placement, cost model and program (lowered, or compiled with `program: xla`).
    A caller that already has one of them (a sweep's cluster and planned run, a calibration's measured
    cost model or imported program) passes it instead of having it built; `topo` is then only needed to
    build the cluster or to compile."""
    if planned is None:
        if cluster is None:
            if topo is None:
                raise ValueError("prepare needs the topology or a cluster")
            cluster = build_cluster(topo)
        planned = plan_run(exp, cluster)
    cost = cost or cost_model_for(exp, planned.cluster, base_dir)
    if program is not None:
        return PreparedRun(experiment=exp, planned=planned, cost=cost, program=program, program_source="imported")
    if exp.program == "xla":
        assert topo is not None, "compiling the step needs its topology"
        from pathsim.results.xla_notes import xla_notes
        from pathsim.workload.xla.program import xla_program  # jax and libtpu are imported only on this path

        imported = xla_program(exp.model, exp.training, exp.plan, topo, resolve_flags(exp.xla_flags, topo.chip))
        program = imported.program
        # The compiler's figure against the HBM the compiler gives a program: the compiler's own verdict.
        usable = COMPILER_HBM_GIB.get(topo.chip)
        planned = replace(planned, memory=replace(
            planned.memory, compiled_bytes=imported.compiled.per_chip_bytes,
            hbm_bytes=planned.memory.hbm_bytes if usable is None else usable * GIB))
        return PreparedRun(
            experiment=exp, planned=planned, cost=cost, program=program, program_source="xla",
            notes=xla_notes(planned.cluster, cost, imported, planned.memory),
            collective_check=check_collectives(program, exp.model, exp.training, exp.plan, imported.compiled.mesh.axes),
            compile_flags=imported.compiled.flags)
    inputs = planned.inputs
    program = lower(inputs.shard, inputs.mesh, inputs.lowering, planned.placement.chips_per_group)
    return PreparedRun(experiment=exp, planned=planned, cost=cost, program=program, program_source="lowered",
                       replications=replications(inputs.shard, inputs.model))


def run_label(exp: ExperimentConfig) -> RunLabel:
    return RunLabel(name=exp.name, description=exp.description, plan=exp.plan, remat=exp.training.remat,
                    remat_custom=tuple((exp.training.remat_custom or {}).items()), dispatch=exp.runtime.dispatch)


def simulate_prepared(run: PreparedRun, record_links: bool = True, mode: str | None = None,
                      latencies: RuntimeLatencies = LATENCIES) -> SimulationResult:
    """One step of the prepared run; `mode` forces folded or full over the experiment's scenario."""
    exp, cluster, placement, program = run.experiment, run.cluster, run.placement, run.program
    chosen = choose_mode(exp.scenario, mode)
    if mode is not None:  # the experiment's own mode was checked when it was loaded; a forced one is not
        check_work_size(exp, chosen)
    fabric, record = None, None
    if chosen == "full":
        fabric = FullFabric(program, placement, cluster, slowdowns=slowdowns(exp.scenario, cluster),
                            links=link_state(exp.scenario, cluster), timing=link_timing_of(run.cost))
        record = fabric.recorded_units()
        record_links = False
    timeline = simulate(program, placement, cluster, run.cost, exp.runtime.dispatch, latencies=latencies,
                        record_links=record_links, fabric=fabric, record_units=record)
    metrics = measure(timeline, run.planned.inputs.work, cluster)
    failures = exp.scenario.failures
    return SimulationResult(
        label=run_label(exp), cluster=cluster, placement=placement, timeline=timeline, metrics=metrics,
        memory=run.planned.memory, cost_model=run.cost.name, program_ops=program.op_count(), mode=chosen,
        goodput=goodput(failures, cluster, metrics.tokens_per_s) if failures is not None else None,
        program_source=run.program_source, notes=run.notes, collective_check=run.collective_check,
        replications=run.replications, compile_flags=run.compile_flags,
    )
