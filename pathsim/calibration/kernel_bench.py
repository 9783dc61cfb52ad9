"""`pathsim profile-kernels`: each closed-loop case's compiled step, traced by the JAX profiler, its kernels
attributed by HLO name (kernel_trace.py) into KernelTimings. Import only from the commands: imports jax."""

from __future__ import annotations

import datetime
import os

import jax

from pathsim.calibration.cases import Case, train_step
from pathsim.calibration.kernel_timings import KernelTimings, KernelTimingsMeta, StepKernelTimings, hlo_fingerprint
from pathsim.calibration.kernel_trace import attribute
from pathsim.calibration.xprof import hlo_module_name, trace_runs


def time_step_kernels(case: Case, step, warmup: int, repeats: int) -> StepKernelTimings:
    """The kernels of `step` (cases.train_step of `case`), traced over `repeats` steps."""
    hlo = step.compiled.as_text()
    traced = trace_runs(step.run, hlo_module_name(hlo), warmup, repeats)
    trace = attribute(traced.events)
    return StepKernelTimings(case=case.name, devices=case.devices, hlo_sha256=hlo_fingerprint(hlo),
                          traced_step_s=traced.wall_s, span_s=trace.span_s, kernel_sum_s=trace.kernel_sum_s,
                          busy_s=trace.busy_s, executions=trace.executions, kernels=trace.kernels)


def run_kernel_timings(case_list: tuple[Case, ...], warmup: int, repeats: int,
                       progress: bool = True) -> KernelTimings:
    from rich.progress import Progress

    programs = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("timing the kernels of compiled steps", total=len(case_list))
        for case in case_list:
            programs.append(time_step_kernels(case, train_step(case), warmup, repeats))
            bar.advance(task)
    return KernelTimings(meta=kernel_timings_meta(warmup, repeats), programs=tuple(programs))


def kernel_timings_meta(warmup: int, repeats: int) -> KernelTimingsMeta:
    """This machine and its load now (call it when the measurements are done)."""
    devices = jax.devices()
    return KernelTimingsMeta(
        backend=jax.default_backend(), device_kind=devices[0].device_kind, device_count=len(devices),
        jax_version=jax.__version__, date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        warmup=warmup, repeats=repeats, host_load_1min=os.getloadavg()[0])
