"""The closed loop: run each case's training step for real, predict it with pathsim from the profile
measured on the same machine, and compare; plus the FLOP check against XLA's cost analysis.

Two predictions per case: pathsim's own lowering costed by kernels timed alone (the CostProfile), and, given
kernel timings, XLA's compiled program imported and costed by its kernels timed inside the step
(imported.py)."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Literal

from pathsim.calibration.cases import Case, experiment, train_step
from pathsim.costs.calibrated.model import CalibratedCostModel
from pathsim.calibration.device import measured_chip, measured_latencies, mesh_cluster
from pathsim.calibration.flops import FlopCheck, check_flops
from pathsim.calibration.imported import ImportedPrediction, KernelAccounting, error_terms, predict_imported
from pathsim.calibration.kernel_timings import KernelTimings, StepKernelTimings
from pathsim.costs.calibrated.profile import CostProfile
from pathsim.errors import ConfigError
from pathsim.pipeline import prepare, simulate_prepared
from pathsim.workload.program import ComputeOp

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
    imported: ImportedPrediction | None = None  # with kernel timings: kernels at their mean shares
    kernels: KernelAccounting | None = None
    imported_durations: ImportedPrediction | None = None  # kernels at their mean durations, for comparison
    imported_medians: ImportedPrediction | None = None  # kernels at their median durations, for comparison

    @property
    def relative_error(self) -> float:
        return (self.predicted.step_s - self.measured_s) / self.measured_s

    @property
    def imported_error(self) -> float | None:
        if self.imported is None:
            return None
        return (self.imported.step_s - self.measured_s) / self.measured_s


@dataclass(frozen=True)
class Report:
    profile: CostProfile
    results: tuple[CaseResult, ...]
    flops: tuple[FlopCheck, ...]
    host_load_1min: float  # when the steps were measured
    kernel_timings: KernelTimings | None = None
    host_cores: int = 0  # cores this process could run on (0: unknown)


def predict(case: Case, profile: CostProfile) -> Prediction:
    if case.devices > 1 and case.devices != profile.meta.device_count:
        raise ConfigError("--profile", f"{case.name} runs on {case.devices} devices but the profile was measured "
                          f"on {profile.meta.device_count}; calibrate with --devices {case.devices}")
    exp = experiment(case)
    chip = measured_chip(profile)
    cluster = mesh_cluster(chip, dict(case.plan))
    slowdown = profile.meta.concurrent_slowdown if case.devices > 1 else 1.0
    cost = CalibratedCostModel(profile, chip, name="closed loop", slowdown=slowdown)
    run = prepare(exp, None, cluster=cluster, cost=cost)
    program = run.program
    timeline = simulate_prepared(run, record_links=False, latencies=measured_latencies(profile)).timeline
    lookups = [cost.lookup(op) for op in program.groups[0].ops if isinstance(op, ComputeOp)]
    compute_s = sum(x.time_s for x in lookups)
    measured = sum(x.time_s for x in lookups if x.source == "measured")
    return Prediction(step_s=timeline.end_s, compute_s=compute_s, measured_share=measured / compute_s)


@dataclass(frozen=True)
class MeasuredStep:
    seconds: float  # median wall time of the real step, call overhead included, not traced
    flops: FlopCheck | None  # one device only
    hlo_text: str  # the compiled step's scheduled HLO
    kernels: StepKernelTimings | None  # its kernels, traced between the timed steps (trace_kernels)


def _wall_times_s(run, n: int) -> list[float]:
    import jax

    times = []
    for _ in range(n):
        start = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - start)
    return times


def measure_case(case: Case, warmup: int, repeats: int, trace_kernels: bool = False) -> MeasuredStep:
    """The step timed `repeats` times; with trace_kernels, its kernels traced over `repeats` more steps run
    between the first and the second half of the timed ones, so that both see the same host load."""
    import jax

    step = train_step(case)
    for _ in range(warmup):
        jax.block_until_ready(step.run())
    times = _wall_times_s(step.run, (repeats + 1) // 2)
    kernels = None
    if trace_kernels:
        from pathsim.calibration.kernel_bench import time_step_kernels

        kernels = time_step_kernels(case, step, 0, repeats)
    times += _wall_times_s(step.run, repeats // 2)
    hlo_text = step.compiled.as_text()
    flops = check_flops(case, hlo_text) if case.devices == 1 else None
    return MeasuredStep(statistics.median(times), flops, hlo_text, kernels)


def _check_kernel_timings(kernels: KernelTimings, profile: CostProfile) -> None:
    k, p = kernels.meta, profile.meta
    if (k.backend, k.device_kind, k.device_count) != (p.backend, p.device_kind, p.device_count):
        raise ConfigError("--kernels", f"measured on {k.device_count} x {k.device_kind} ({k.backend}), the profile "
                          f"on {p.device_count} x {p.device_kind} ({p.backend})")


def validate_case(case: Case, profile: CostProfile, kernels: KernelTimings | None, warmup: int, repeats: int,
                  trace_kernels: bool = False) -> tuple[CaseResult, MeasuredStep]:
    predicted = predict(case, profile)
    measured = measure_case(case, warmup, repeats, trace_kernels)
    program = measured.kernels or (kernels.program(case.name) if kernels is not None else None)
    if kernels is not None and program is None:
        raise ConfigError("--kernels", f"no kernel times for {case.name}; time the kernels of the same cases")
    imported = accounting = durations = medians = None
    if program is not None:
        imported, accounting = predict_imported(case, measured.hlo_text, program, profile, "share")
        durations, _ = predict_imported(case, measured.hlo_text, program, profile, "mean")
        medians, _ = predict_imported(case, measured.hlo_text, program, profile, "median")
    return (CaseResult(case.name, case.devices, measured.seconds, predicted, imported, accounting, durations, medians),
            measured)


def run_validation(profile: CostProfile, case_list: tuple[Case, ...], warmup: int, repeats: int,
                   progress: bool = True, kernels: KernelTimings | None = None,
                   trace_kernels: bool = False) -> Report:
    """With `kernels`, the imported program is costed from those stored kernel timings; with trace_kernels,
    from kernels traced around each step's own timing (the report's kernel_timings holds them)."""
    from rich.progress import Progress

    if kernels is not None:
        _check_kernel_timings(kernels, profile)
    results, checks, traced = [], [], []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("measuring training steps", total=len(case_list))
        for case in case_list:
            result, measured = validate_case(case, profile, kernels, warmup, repeats, trace_kernels)
            results.append(result)
            checks += [measured.flops] if measured.flops is not None else []
            traced += [measured.kernels] if measured.kernels is not None else []
            bar.advance(task)
    if trace_kernels:
        from pathsim.calibration.kernel_bench import kernel_timings_meta

        kernels = KernelTimings(meta=kernel_timings_meta(warmup, repeats), programs=tuple(traced))
    return Report(profile=profile, results=tuple(results), flops=tuple(checks), host_load_1min=os.getloadavg()[0],
                  kernel_timings=kernels, host_cores=_host_cores())


def _host_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 0


# --- summary -------------------------------------------------------------------------------------------
Method = Literal["lowered", "imported", "imported_durations", "imported_medians"]
_METHOD_LABELS = {"lowered": "lowered program", "imported": "imported program",
                  "imported_durations": "imported program, kernel durations (overlap counted in full)",
                  "imported_medians": "imported program, median kernel durations"}


@dataclass(frozen=True)
class ErrorSummary:
    cases: int
    mean_abs: float
    max_abs: float


def predicted_s(result: CaseResult, method: Method) -> float:
    return result.predicted.step_s if method == "lowered" else getattr(result, method).step_s


def summarize(results: list[CaseResult], method: Method = "lowered") -> ErrorSummary | None:
    if not results or (method != "lowered" and any(getattr(r, method) is None for r in results)):
        return None
    errors = [abs(predicted_s(r, method) - r.measured_s) / r.measured_s for r in results]
    return ErrorSummary(len(errors), statistics.fmean(errors), max(errors))


def ranking_preserved(results: list[CaseResult], method: Method = "lowered") -> bool:
    """Do the predictions order the cases (fastest first) as the measurements do?"""
    by_measured = [r.case for r in sorted(results, key=lambda r: r.measured_s)]
    by_predicted = [r.case for r in sorted(results, key=lambda r: predicted_s(r, method))]
    return by_measured == by_predicted


def _summary_lines(report: Report) -> list[str]:
    single = [r for r in report.results if r.devices == 1]
    sharded = [r for r in report.results if r.devices > 1]
    lines = []
    for method in _METHOD_LABELS:
        for label, group in (("one device", single), ("sharded plans", sharded)):
            s = summarize(group, method)
            if s is None:
                continue
            line = (f"{label}, {_METHOD_LABELS[method]}: {s.cases} cases, mean |error| {s.mean_abs:.1%}, "
                    f"max {s.max_abs:.1%}")
            if group is single:
                goal_mean, goal_max = SINGLE_DEVICE_GOAL
                met = s.mean_abs < goal_mean and s.max_abs < goal_max
                line += f" (goal < {goal_mean:.0%} / < {goal_max:.0%}: {'met' if met else 'NOT met'})"
            lines.append(line + f"; ranking preserved: {'yes' if ranking_preserved(group, method) else 'no'}")
    return lines


def _accounting_lines(report: Report) -> list[str]:
    """Where the imported prediction's error comes from: the real step's kernels against the step."""
    rows = [r for r in report.results if r.kernels is not None]
    if not rows:
        return []
    call_overhead_s = report.profile.meta.call_overhead_s
    lines = ["Imported program against the real step (ms, one device's kernels), and its error split by cause "
             "(% of measured):",
             f"{'case':<22}{'measured':>9}{'traced':>8}{'span':>8}{'busy':>8}{'kernels':>9}{'durat.':>8}{'medians':>9}"
             f"{'coll.':>7}{'unmeas.':>9}{'error':>8}{'cover':>7}{'stat':>7}{'gaps':>7}{'host':>7}{'coll.':>7}{'drift':>7}"]
    for r in rows:
        k, p = r.kernels, r.imported
        t = error_terms(p, k, r.measured_s, call_overhead_s)
        pct = lambda x: f" {x / r.measured_s:>+6.1%}"  # noqa: E731  (a space even past 999%)
        lines.append(
            f"{r.case:<22}{r.measured_s * 1e3:>9.2f}{k.traced_step_s * 1e3:>8.2f}{k.span_s * 1e3:>8.2f}"
            f"{k.busy_s * 1e3:>8.2f}{k.kernel_total_s * 1e3:>9.2f}{k.durations_s * 1e3:>8.2f}"
            f"{k.kernel_medians_s * 1e3:>9.2f}{k.collective_s * 1e3:>7.2f}"
            f"{p.unmeasured_ops:>5}/{p.ops:<3} {r.imported_error:>+7.1%}{pct(t.coverage_s)}{pct(t.statistic_s)}"
            f"{pct(t.gaps_s)}{pct(t.host_s)}{pct(t.collectives_s)}{pct(t.drift_s)}")
    lines += ["  measured: the step's median wall time, no profiler; traced: the same under the profiler (the",
              "  kernel timings); span: first kernel start to last kernel end; busy: the part of the span in which",
              "  some kernel ran; kernels: per-kernel mean shares of the wall time x calls, summed, as the model",
              "  costs them (durat.: mean durations instead, which count kernels the executor overlapped in full;",
              "  medians: median durations; coll.: the collectives' shares, waits for the other devices included);",
              "  unmeas.: ops with no kernel time.",
              "  error = cover + stat + gaps + host + coll. + drift, where cover = the program's compute ops - the",
              "  kernels measured; stat = sum of per-kernel mean shares - median busy time; gaps = busy - span (idle",
              "  time between kernels, which the engine, running them back to back, does not have);",
              f"  host = the modelled call overhead ({call_overhead_s * 1e6:.0f} us) - (traced - span);",
              "  coll. = simulated exposed collectives - measured collective thunks (waits included);",
              "  drift = traced - measured (profiler overhead, host load between the two)"]
    return lines


def _time_shared_warning(report: Report) -> list[str]:
    meta = report.profile.meta
    devices = max((r.devices for r in report.results), default=1)
    if meta.backend != "cpu" or not 0 < report.host_cores < devices:
        return []
    return [f"  warning: {devices} CPU devices on {report.host_cores} cores time-share the cores, so the sharded "
            "plans are not a mesh of independent devices (docs/calibration.md); check them on a host with at least "
            f"{devices} cores (bench/closed_loop_cpu_mesh.sh)"]


def format_report(report: Report) -> str:
    meta = report.profile.meta
    lines = [f"closed-loop check on {meta.device_kind} ({meta.backend}, {meta.device_count} device(s), "
             f"jax {meta.jax_version}); profile measured {meta.date} at host load {meta.host_load_1min:.1f}, "
             f"steps measured at host load {report.host_load_1min:.1f}"]
    if report.kernel_timings is not None:
        k = report.kernel_timings.meta
        lines.append(f"kernel timings measured {k.date} at host load {k.host_load_1min:.1f} "
                     f"({k.repeats} traced steps per case)")
    lines += [f"{'':<43}{'lowered program':^35}{'imported program':^23}",
              f"{'case':<22}{'devices':>8}{'measured ms':>13}{'predicted ms':>14}{'error':>9}{'from table':>12}"
              f"{'predicted ms':>14}{'error':>9}"]
    for r in report.results:
        line = (f"{r.case:<22}{r.devices:>8}{r.measured_s * 1e3:>13.2f}{r.predicted.step_s * 1e3:>14.2f}"
                f"{r.relative_error:>+9.1%}{r.predicted.measured_share:>12.0%}")
        if r.imported is not None:
            line += f"{r.imported.step_s * 1e3:>14.2f}{r.imported_error:>+9.1%}"
        lines.append(line)
    lines += _summary_lines(report)
    lines += _time_shared_warning(report)
    if any(r.devices > 1 for r in report.results):
        lines.append(f"  sharded plans: {meta.device_count} devices, concurrent slowdown measured "
                     f"{meta.concurrent_slowdown:.2f}x (devices share the host's cores; the lowered program's "
                     "times are multiplied by it, the imported program's kernels were timed under it)")
    lines += _accounting_lines(report)
    if report.flops:
        lines.append("FLOPs per step, pathsim's lowered program against XLA's compiled step:")
        lines.append(f"{'case':<22}{'pathsim GFLOP':>15}{'XLA GFLOP':>12}{'gap':>8}{'XLA dots':>12}{'gap':>8}")
        for f in report.flops:
            lines.append(f"{f.case:<22}{f.pathsim_flops / 1e9:>15.3f}{f.xla_flops / 1e9:>12.3f}"
                         f"{f.relative_gap:>+8.2%}{f.xla_dot_flops / 1e9:>12.3f}{f.matmul_gap:>+8.2%}")
        lines.append("  (XLA's HLO with each loop body counted once per iteration; its total also counts elementwise "
                     "work, which pathsim's accounting leaves out)")
    return "\n".join(lines)
