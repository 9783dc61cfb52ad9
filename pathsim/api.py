"""One call from an experiment to its prediction: load -> build -> place -> lower -> simulate -> measure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pathsim.costs import AnalyticCostModel, ComputeCostModel
from pathsim.engine import simulate
from pathsim.experiment import ExperimentConfig, TopologyConfig, load_experiment, resolve_relative
from pathsim.lowering import lower
from pathsim.memory import MemoryUse, memory_use
from pathsim.metrics import StepMetrics, measure
from pathsim.placement import Placement, place
from pathsim.timeline import Timeline
from pathsim.topology import Cluster, build_cluster


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


def cost_model_for(exp: ExperimentConfig, cluster: Cluster, base_dir: Path | None) -> ComputeCostModel:
    if exp.calibration is None:
        return AnalyticCostModel(cluster.chip)
    from pathsim.calibration import load_cost_model  # imported only when a profile is named

    profile = resolve_relative((base_dir or Path.cwd()) / "experiment.yaml", exp.calibration.profile)
    return load_cost_model(profile, cluster.chip)


def simulate_config(exp: ExperimentConfig, topo: TopologyConfig, base_dir: Path | None = None,
                    record_links: bool = True) -> SimulationResult:
    cluster = build_cluster(topo)
    placement = place(exp, cluster)
    program = lower(exp, placement.chips_per_group)
    cost = cost_model_for(exp, cluster, base_dir)
    timeline = simulate(program, placement, cluster, cost, exp.runtime.dispatch, record_links=record_links)
    return SimulationResult(
        experiment=exp, cluster=cluster, placement=placement, timeline=timeline,
        metrics=measure(timeline, exp, cluster), memory=memory_use(exp, cluster), cost_model=cost.name,
        program_ops=program.op_count(),
    )


def run_experiment(path: str | Path, record_links: bool = True) -> SimulationResult:
    path = Path(path)
    exp, topo = load_experiment(path)
    return simulate_config(exp, topo, base_dir=path.parent, record_links=record_links)
