"""One call from an experiment file to its prediction (pathsim.pipeline assembles the stages)."""

from __future__ import annotations

from pathlib import Path

from pathsim.config.experiment import ExperimentConfig, TopologyConfig, load_experiment
from pathsim.pipeline import cost_model_for, prepare, simulate_prepared
from pathsim.results.simulation import SimulationResult

__all__ = ["SimulationResult", "cost_model_for", "run_experiment", "simulate_config"]


def simulate_config(exp: ExperimentConfig, topo: TopologyConfig, base_dir: Path | None = None,
                    record_links: bool = True, mode: str | None = None) -> SimulationResult:
    return simulate_prepared(prepare(exp, topo, base_dir), record_links=record_links, mode=mode)


def run_experiment(path: str | Path, record_links: bool = True, mode: str | None = None,
                   program: str | None = None, cost_model: str | None = None,
                   xla_flags: str | list[str] | None = None) -> SimulationResult:
    path = Path(path)
    exp, topo = load_experiment(path)
    # `pathsim run --program / --cost-model / --xla-flags`: over the experiment's own fields
    update = {k: v for k, v in (("program", program), ("cost_model", cost_model), ("xla_flags", xla_flags))
              if v is not None}
    if update:
        exp = exp.model_copy(update=update)
    return simulate_config(exp, topo, base_dir=path.parent, record_links=record_links, mode=mode)
