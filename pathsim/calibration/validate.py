"""The closed loop: run each case's training step for real, predict it with pathsim from the profile
measured on the same machine, and compare; plus the FLOP check against XLA's cost analysis."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass

from pathsim.calibration.cases import Case, experiment
from pathsim.calibration.cost_model import CalibratedCostModel
from pathsim.calibration.device import measured_chip, measured_latencies, mesh_cluster
from pathsim.calibration.flops import FlopCheck, check_flops
from pathsim.calibration.profile import Profile
from pathsim.engine.simulator import simulate
from pathsim.errors import ConfigError
from pathsim.lowering import lower
from pathsim.placement import place
from pathsim.program import ComputeOp

SINGLE_DEVICE_GOAL = (0.10, 0.20)  # mean and max relative error the issue sets for one device


@dataclass(frozen=True)
class Prediction:
    step_s: float
    compute_s: float  # the compute ops of one chip, back to back
    measured_share: float  # share of compute_s looked up in the measured table (the rest: roofline)


@dataclass(frozen=True)
class CaseResult:
    case: str
    devices: int
    measured_s: float
    predicted: Prediction

    @property
    def relative_error(self) -> float:
        return (self.predicted.step_s - self.measured_s) / self.measured_s


@dataclass(frozen=True)
class Report:
    profile: Profile
    results: tuple[CaseResult, ...]
    flops: tuple[FlopCheck, ...]
    host_load_1min: float  # when the steps were measured


def predict(case: Case, profile: Profile) -> Prediction:
    if case.devices > 1 and case.devices != profile.meta.device_count:
        raise ConfigError("--profile", f"{case.name} runs on {case.devices} devices but the profile was measured "
                          f"on {profile.meta.device_count}; calibrate with --devices {case.devices}")
    exp = experiment(case)
    chip = measured_chip(profile)
    cluster = mesh_cluster(chip, dict(case.plan))
    slowdown = profile.meta.concurrent_slowdown if case.devices > 1 else 1.0
    cost = CalibratedCostModel(profile, chip, name="closed loop", slowdown=slowdown)
    program = lower(exp)
    timeline = simulate(program, place(exp, cluster), cluster, cost, dispatch=exp.runtime.dispatch,
                        latencies=measured_latencies(profile), record_links=False)
    lookups = [cost.lookup(op) for op in program.groups[0].ops if isinstance(op, ComputeOp)]
    compute_s = sum(x.time_s for x in lookups)
    measured = sum(x.time_s for x in lookups if x.source == "measured")
    return Prediction(step_s=timeline.end_s, compute_s=compute_s, measured_share=measured / compute_s)


def measure_case(case: Case, warmup: int, repeats: int) -> tuple[float, FlopCheck | None]:
    """Median wall time of the real step (dispatch included), and the FLOP check on one device."""
    from pathsim.calibration.jax_model import TrainStep
    from pathsim.calibration.microbench import Timing

    step = TrainStep(case)
    seconds = Timing(warmup, repeats).median_s(step.run)
    flops = check_flops(case, *step.compiled_cost()) if case.devices == 1 else None
    return seconds, flops


def run_validation(profile: Profile, case_list: tuple[Case, ...], warmup: int, repeats: int,
                   progress: bool = True) -> Report:
    from rich.progress import Progress

    results, checks = [], []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("measuring training steps", total=len(case_list))
        for case in case_list:
            predicted = predict(case, profile)
            measured_s, flops = measure_case(case, warmup, repeats)
            results.append(CaseResult(case.name, case.devices, measured_s, predicted))
            if flops is not None:
                checks.append(flops)
            bar.advance(task)
    return Report(profile=profile, results=tuple(results), flops=tuple(checks), host_load_1min=os.getloadavg()[0])


# --- summary -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ErrorSummary:
    cases: int
    mean_abs: float
    max_abs: float


def summarize(results: list[CaseResult]) -> ErrorSummary | None:
    if not results:
        return None
    errors = [abs(r.relative_error) for r in results]
    return ErrorSummary(len(errors), statistics.fmean(errors), max(errors))


def ranking_preserved(results: list[CaseResult]) -> bool:
    """Do the predictions order the cases (fastest first) as the measurements do?"""
    by_measured = [r.case for r in sorted(results, key=lambda r: r.measured_s)]
    by_predicted = [r.case for r in sorted(results, key=lambda r: r.predicted.step_s)]
    return by_measured == by_predicted


def format_report(report: Report) -> str:
    meta = report.profile.meta
    lines = [f"closed-loop check on {meta.device_kind} ({meta.backend}, {meta.device_count} device(s), "
             f"jax {meta.jax_version}); profile measured {meta.date} at host load {meta.host_load_1min:.1f}, "
             f"steps measured at host load {report.host_load_1min:.1f}",
             f"{'case':<22}{'devices':>8}{'measured ms':>13}{'predicted ms':>14}{'error':>9}{'from table':>12}"]
    for r in report.results:
        lines.append(f"{r.case:<22}{r.devices:>8}{r.measured_s * 1e3:>13.2f}{r.predicted.step_s * 1e3:>14.2f}"
                     f"{r.relative_error:>+9.1%}{r.predicted.measured_share:>12.0%}")
    single = [r for r in report.results if r.devices == 1]
    sharded = [r for r in report.results if r.devices > 1]
    for label, group in (("one device", single), ("sharded plans", sharded)):
        s = summarize(group)
        if s is None:
            continue
        line = f"{label}: {s.cases} cases, mean |error| {s.mean_abs:.1%}, max |error| {s.max_abs:.1%}"
        if group is single:
            goal_mean, goal_max = SINGLE_DEVICE_GOAL
            met = s.mean_abs < goal_mean and s.max_abs < goal_max
            line += f" (goal < {goal_mean:.0%} / < {goal_max:.0%}: {'met' if met else 'NOT met'})"
        lines.append(line + f"; ranking preserved: {'yes' if ranking_preserved(group) else 'no'}")
    if sharded:
        lines.append(f"  sharded plans: {meta.device_count} devices, concurrent slowdown measured "
                     f"{meta.concurrent_slowdown:.2f}x (devices share the host's cores)")
    if report.flops:
        lines.append("FLOPs per step, pathsim's lowered program against XLA's compiled step:")
        lines.append(f"{'case':<22}{'pathsim GFLOP':>15}{'XLA GFLOP':>12}{'gap':>8}{'XLA dots':>12}{'gap':>8}")
        for f in report.flops:
            lines.append(f"{f.case:<22}{f.pathsim_flops / 1e9:>15.3f}{f.xla_flops / 1e9:>12.3f}"
                         f"{f.relative_gap:>+8.2%}{f.xla_dot_flops / 1e9:>12.3f}{f.matmul_gap:>+8.2%}")
        lines.append("  (XLA's total also counts elementwise work, which pathsim's accounting leaves out)")
    return "\n".join(lines)
