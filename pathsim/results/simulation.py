"""One simulated step and everything the report says about it: the result every caller gets back."""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.config.experiment import PlanConfig
from pathsim.workload.memory import MemoryUse
from pathsim.engine.timeline import Timeline
from pathsim.placement.mesh_axes import Placement
from pathsim.platform.topology import Cluster
from pathsim.results.goodput import Goodput
from pathsim.results.metrics import StepMetrics
from pathsim.workload.lowering.replication import Replication
from pathsim.catalog.xla_flags import CompileFlags
from pathsim.workload.xla.collective_check import CollectiveCheck


@dataclass(frozen=True)
class RunLabel:
    """The run's settings a report reader checks first, beside its figures."""

    name: str
    description: str
    plan: PlanConfig
    remat: str
    remat_custom: tuple[tuple[str, str], ...]  # per named tensor (remat: custom)
    dispatch: str

    @property
    def remat_text(self) -> str:
        if self.remat != "custom" or not self.remat_custom:
            return self.remat
        return "custom (" + ", ".join(f"{k}: {v}" for k, v in self.remat_custom) + ")"

    @property
    def plan_text(self) -> str:
        """The plan's axes, and the tensor style only where there is a tensor axis for it to shape."""
        plan = self.plan
        style = f" ({plan.tensor_style})" if plan.ici.get("tensor", 1) > 1 else ""
        return f"ici={dict(plan.ici)} dcn={dict(plan.dcn)}{style}"


@dataclass(frozen=True)
class SimulationResult:
    label: RunLabel
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
    compile_flags: CompileFlags | None = None  # the XLA/libtpu flags of a compiled step (program: xla)
