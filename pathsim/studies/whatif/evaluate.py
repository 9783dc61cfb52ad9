"""One plan -> one flat result row: resolved, screened, checked against HBM and (unless screened out)
simulated. Runs in worker processes; bad plans become rows with a reason, never exceptions."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_args

from pathsim.catalog.hardware import GIB
from pathsim.config.experiment import AXIS_KINDS, ExperimentConfig, TopologyConfig
from pathsim.workload.memory import MemoryUse
from pathsim.errors import ConfigError
from pathsim.pipeline import cost_model_for, plan_run, prepare, simulate_prepared
from pathsim.platform.topology import Cluster, build_cluster
from pathsim.results.metrics import Breakdown
from pathsim.studies.whatif.params import Point, resolve
from pathsim.studies.whatif.screen import Screen, ScreenResult
from pathsim.workload.program import Phase

# Outcomes: "ok" fits and was simulated; "out_of_memory" needs more HBM than the chip has; "invalid" the
# plan does not fit the model or the chips (indivisible shapes, axes that do not multiply to the chips);
# "error" the simulator failed on it. Only "ok" rows are ranked as usable plans.
STATUSES = ("ok", "out_of_memory", "invalid", "error")

PLAN_COLUMNS = (
    *(f"plan.ici.{k}" for k in AXIS_KINDS), *(f"plan.dcn.{k}" for k in AXIS_KINDS if k != "tensor"),
    "plan.microbatches", "plan.tensor_style", "plan.pipeline_schedule", "training.remat",
    "training.global_batch_seqs", "chip", "chips",
)
# A sweep's plans are lowered: the compiler's figure (compiled_bytes) never appears in its rows.
MEMORY_COLUMNS = tuple(f"memory.{f.name}" for f in fields(MemoryUse) if f.name != "compiled_bytes") + (
    "memory.total_bytes",)
RESULT_COLUMNS = (
    "status", "reason", "plan", "fits",
    "screen.step_time_s", "screen.mfu", "screen.hfu",
    "simulated", "step_time_s", "tokens_per_s", "mfu", "hfu",
    *(f"breakdown.{f.name}" for f in fields(Breakdown)),
    *(f"compute_by_phase_s.{p}" for p in get_args(Phase)),
    *MEMORY_COLUMNS, "wall_s",
)


@dataclass(frozen=True)
class Task:
    """What a worker needs for one plan: everything picklable, nothing shared."""

    key: str
    experiment: str
    experiment_id: str
    point: Point
    base_exp: dict[str, Any]
    base_topo: dict[str, Any]
    experiment_path: Path
    simulate: bool  # False: screen only (plan search)
    simulate_infeasible: bool
    program: str | None = None  # the experiment's program source, overridden ("xla": verify a plan compiled)


def cell(value: Any) -> Any:
    """Mappings and lists go to CSV as JSON, scalars as they are."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list, tuple)) else value


def plan_label(exp: ExperimentConfig, cluster: Cluster) -> str:
    axes = lambda d: ",".join(f"{k}={v}" for k, v in d.items()) or "-"  # noqa: E731
    style = f"{exp.plan.tensor_style}; " if exp.plan.ici.get("tensor", 1) > 1 else ""  # no tensor axis, no style
    return (f"{cluster.chips} {cluster.chip.name}: ici {axes(exp.plan.ici)}; dcn {axes(exp.plan.dcn)}; "
            f"mb={exp.plan.microbatches}; remat={exp.training.remat}; {style}"
            f"batch={exp.training.global_batch_seqs}")


def _plan_row(exp: ExperimentConfig, cluster: Cluster) -> dict[str, Any]:
    row: dict[str, Any] = {f"plan.ici.{k}": v for k, v in exp.plan.ici.items()}
    row.update({f"plan.dcn.{k}": v for k, v in exp.plan.dcn.items()})
    row.update({"plan.microbatches": exp.plan.microbatches, "plan.tensor_style": exp.plan.tensor_style,
                "plan.pipeline_schedule": exp.plan.pipeline_schedule, "training.remat": exp.training.remat,
                "training.global_batch_seqs": exp.training.global_batch_seqs, "chip": cluster.chip.name,
                "chips": cluster.chips, "plan": plan_label(exp, cluster)})
    return row


class _Clusters:
    """Per-process caches: one cluster and one screen per topology (screens cache shard shapes)."""

    def __init__(self) -> None:
        self._screens: dict[str, tuple[Cluster, Screen]] = {}

    def get(self, exp: ExperimentConfig, topo: TopologyConfig, base_dir: Path) -> tuple[Cluster, Screen]:
        key = topo.model_dump_json() + repr(exp.calibration)
        if key not in self._screens:
            cluster = build_cluster(topo)
            self._screens[key] = (cluster, Screen(cluster, cost_model_for(exp, cluster, base_dir)))
        return self._screens[key]


_CACHE = _Clusters()


def evaluate(task: Task) -> dict[str, Any]:
    start = time.perf_counter()
    row: dict[str, Any] = {"plan_key": task.key, "experiment": task.experiment,
                           "experiment_id": task.experiment_id, "simulated": False}
    row.update({path: cell(value) for path, value in task.point})
    try:
        exp, topo = resolve(task.base_exp, task.base_topo, task.experiment_path, task.point)
        if task.program is not None:
            exp = exp.model_copy(update={"program": task.program})
        cluster, screen = _CACHE.get(exp, topo, task.experiment_path.parent)
        row.update(_plan_row(exp, cluster))
        planned = plan_run(exp, cluster)
        mem = planned.memory
        screened: ScreenResult = screen(planned.inputs, planned.placement)
    except ConfigError as exc:
        row.update(status="invalid", reason=str(exc), wall_s=time.perf_counter() - start)
        return row
    row.update({f"memory.{k}": v for k, v in mem.as_dict().items()})
    row.update({"fits": mem.feasible, "screen.step_time_s": screened.step_time_s, "screen.mfu": screened.mfu,
                "screen.hfu": screened.hfu, "status": "ok" if mem.feasible else "out_of_memory"})
    if not mem.feasible:
        row["reason"] = f"needs {mem.total_bytes / GIB:.1f} GiB per chip, HBM holds {mem.hbm_bytes / GIB:.1f} GiB"
    if task.simulate and (mem.feasible or task.simulate_infeasible):
        try:
            run = prepare(exp, topo, task.experiment_path.parent, planned=planned)
            result = simulate_prepared(run, record_links=False)
        except Exception as exc:  # a simulator failure is a result of the sweep, not the end of it
            where = traceback.extract_tb(exc.__traceback__)[-1]
            row.update(status="error", reason=f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})")
        else:
            m, mem = result.metrics, result.memory
            if mem.compiled_bytes is not None:  # a compiled program: the compiler's figure decides the fit
                row.update({"memory.compiled_bytes": mem.compiled_bytes, "fits": mem.feasible,
                            "status": "ok" if mem.feasible else "out_of_memory"})
                if not mem.feasible:
                    row["reason"] = (f"XLA needs {mem.compiled_bytes / GIB:.1f} GiB per chip, HBM holds "
                                     f"{mem.hbm_bytes / GIB:.1f} GiB")
            row.update({"simulated": True, "step_time_s": m.step_time_s, "tokens_per_s": m.tokens_per_s,
                        "mfu": m.mfu, "hfu": m.hfu})
            row.update({f"breakdown.{k}": v for k, v in m.breakdown.as_dict().items()})
            row.update({f"compute_by_phase_s.{k}": v for k, v in m.compute_by_phase_s})
    row["wall_s"] = time.perf_counter() - start
    return row
