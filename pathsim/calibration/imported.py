"""The closed loop on XLA's own program: the compiled step's scheduled HLO imported as a pathsim Program
(pathsim.workload.xla), each kernel costed at the time it was measured to take inside the real step (a
StepKernelTimings), simulated on the measured platform with collectives fitted as for the lowered program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pathsim.calibration.cases import Case, experiment
from pathsim.calibration.device import measured_chip, measured_latencies, mesh_cluster
from pathsim.calibration.kernel_cost import KernelCostModel
from pathsim.calibration.kernel_timings import StepKernelTimings, Statistic, hlo_fingerprint
from pathsim.costs.calibrated.profile import CostProfile
from pathsim.costs.compute import AnalyticCostModel
from pathsim.engine.timeline import Timeline
from pathsim.errors import ConfigError
from pathsim.pipeline import prepare, simulate_prepared
from pathsim.workload.program import CommOp, ComputeOp, Program
from pathsim.workload.xla.hlo_import import MeshAxes, import_hlo
from pathsim.workload.xla.mesh import mesh_plan


@dataclass(frozen=True)
class ImportedPrediction:
    step_s: float
    compute_s: float  # the compute ops of one chip, back to back
    comm_s: float  # the collectives' simulated time, whether hidden behind compute or not
    ops: int  # compute ops in the imported program
    unmeasured_ops: int  # compute ops the kernel timings have no time for (costed by the roofline)
    unmeasured_s: float


@dataclass(frozen=True)
class KernelAccounting:
    """What the real step's kernels add up to, against the step (from the kernel timings, one device)."""

    kernel_total_s: float  # sum over the program's kernels of mean share x calls: what the model uses
    durations_s: float  # the same with the kernels' mean durations (overlapping kernels counted in full)
    kernel_medians_s: float  # the same with median durations (reported: the sum of medians falls short)
    busy_s: float  # median over executions of the time some kernel ran (the shares of one execution, summed)
    span_s: float  # first kernel start to last kernel end
    traced_step_s: float  # wall time of the step while traced
    collective_s: float  # the part of kernel_total_s spent in collective thunks (waits included)


@dataclass(frozen=True)
class ErrorTerms:
    """predicted - measured, split exactly into what each assumption of the model costs (seconds):
    the terms add up to the error."""

    coverage_s: float  # program ops costed otherwise than by a measured kernel, or kernels not imported
    statistic_s: float  # sum of per-kernel mean shares - median busy time (noise: mean and median of a step)
    gaps_s: float  # busy time - span (<= 0: idle gaps between the kernels, which the engine does not have)
    host_s: float  # the one call overhead modelled - the real step's host time outside its kernels
    collectives_s: float  # simulated exposed collectives - the collective thunks' measured time
    drift_s: float  # the step traced (kernel timings) - the step measured (validation): profiler, load

    def total_s(self) -> float:
        return (self.coverage_s + self.statistic_s + self.gaps_s + self.host_s + self.collectives_s
                + self.drift_s)


def error_terms(prediction: ImportedPrediction, k: KernelAccounting, measured_s: float,
                call_overhead_s: float) -> ErrorTerms:
    exposed_comm_s = prediction.step_s - prediction.compute_s - call_overhead_s
    return ErrorTerms(
        coverage_s=prediction.compute_s - (k.kernel_total_s - k.collective_s),
        statistic_s=k.kernel_total_s - k.busy_s,
        gaps_s=k.busy_s - k.span_s,
        host_s=call_overhead_s - (k.traced_step_s - k.span_s),
        collectives_s=exposed_comm_s - k.collective_s,
        drift_s=k.traced_step_s - measured_s)


def case_mesh(case: Case) -> MeshAxes | None:
    """The mesh of the case's step (mesh.local_mesh: devices 0..n-1 over the plan's axes) in the importer's
    terms."""
    if case.devices <= 1:
        return None
    return mesh_plan(experiment(case).plan).axes


def import_case_program(hlo_text: str, case: Case) -> Program:
    return import_hlo(hlo_text, case_mesh(case))


_LOOP_THUNK = re.compile(r"while(\.\d+)?")


def with_loop_thunks(program: Program, kernels: StepKernelTimings) -> Program:
    """XLA:CPU runs a `while` loop (the layer scan) as a thunk of its own, which the trace times beside its
    body's kernels: its condition and the buffers it carries between iterations. The import expands the
    body by its trip count and has no op for the loop itself, so each timed loop thunk joins every group's
    program, once per call, after the step's kernels (on one device the kernels run one after another, so
    where it sits does not change the step); the kernel cost model prices it at its measured time."""
    loops = [k for k in kernels.kernels if _LOOP_THUNK.fullmatch(k.name)]
    if not loops:
        return program
    groups = []
    for g in program.groups:
        ops = list(g.ops)
        for k in loops:
            for _ in range(k.calls):
                last = len(ops) - 1
                ops.append(ComputeOp(name=k.name, kind="elementwise", phase=ops[last].phase if ops else "forward",
                                     flops=0.0, hbm_bytes=0.0, deps=(last,) if ops else ()))
        groups.append(replace(g, ops=tuple(ops)))
    return replace(program, groups=tuple(groups))


def accounting(kernels: StepKernelTimings, program: Program) -> KernelAccounting:
    collectives = {op.name for op in program.groups[0].ops if isinstance(op, CommOp)}
    return KernelAccounting(
        kernel_total_s=kernels.total_s("share"), durations_s=kernels.total_s("mean"),
        kernel_medians_s=kernels.total_s("median"), busy_s=kernels.busy_s, span_s=kernels.span_s,
        traced_step_s=kernels.traced_step_s,
        collective_s=sum(k.share_s * k.calls for k in kernels.kernels if k.name in collectives))


def _comm_s(timeline: Timeline) -> float:
    return sum(s.duration_s for s in timeline.spans if s.track in ("ici", "dcn"))


def predict_imported(case: Case, hlo_text: str, kernels: StepKernelTimings, profile: CostProfile,
                     statistic: Statistic = "share") -> tuple[ImportedPrediction, KernelAccounting]:
    if kernels.hlo_sha256 != hlo_fingerprint(hlo_text):
        raise ConfigError("--kernels", f"{case.name}: the compiled step differs from the one whose kernels were timed "
                          "(another jax or model?); re-run `pathsim profile-kernels`")
    exp = experiment(case)
    chip = measured_chip(profile)
    cluster = mesh_cluster(chip, dict(case.plan))
    program = with_loop_thunks(import_case_program(hlo_text, case), kernels)
    # No concurrent-slowdown factor: each kernel was timed inside the real step, with the other devices
    # of the mesh competing for the same cores.
    cost = KernelCostModel(kernels.times_s(statistic), AnalyticCostModel(chip), name="kernels of the compiled step")
    run = prepare(exp, None, cluster=cluster, cost=cost, program=program)
    timeline = simulate_prepared(run, record_links=False, latencies=measured_latencies(profile)).timeline
    lookups = [cost.lookup(op) for op in program.groups[0].ops if isinstance(op, ComputeOp)]
    unmeasured = [x.time_s for x in lookups if x.source != "measured"]
    prediction = ImportedPrediction(step_s=timeline.end_s, compute_s=sum(x.time_s for x in lookups),
                                    comm_s=_comm_s(timeline), ops=len(lookups), unmeasured_ops=len(unmeasured),
                                    unmeasured_s=sum(unmeasured))
    return prediction, accounting(kernels, program)
