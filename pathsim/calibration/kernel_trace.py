"""Kernel times of a compiled program, attributed by HLO instruction name from profiler events.

XLA's CPU runtime records one event per executed thunk (a fusion, copy, dot, custom call or collective),
named by its HLO instruction and tagged with the device and the run (one execution of the program).
This module is pure: it turns those events, however captured (xprof.py), into per-kernel times.

A kernel's time is its thunk's event duration. The thunk executor may run independent thunks on several
threads at once, so the kernels of one run can sum to more than its span; the span and the sum are both
kept, so that the gap between them (overlap, idle gaps) is reported rather than hidden.

Each kernel keeps its median and its mean over executions. A step is a sum of hundreds of kernels: its
median is close to the sum of their means (the sum's noise averages out), while each kernel's noise on a
loaded host is right-skewed (preemption only adds time), so the sum of medians falls short of the step.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class ThunkEvent:
    name: str  # the HLO instruction (fusion.12, copy.3, all-reduce.1, ...)
    device: int  # device ordinal
    run_id: int  # one execution of the program (on every device of an SPMD launch)
    start_ns: int
    duration_ns: int


@dataclass(frozen=True)
class KernelTime:
    name: str
    time_s: float  # one call: median over executions of (the name's time in the execution / its calls)
    calls: int  # calls per execution (more than 1 inside a loop)
    mean_s: float  # one call: the mean over executions of the same


@dataclass(frozen=True)
class ProgramTrace:
    """Per-kernel times of one program, and what its executions looked like as a whole."""

    kernels: tuple[KernelTime, ...]  # in order of first start within an execution
    executions: int  # (device, run) pairs seen
    span_s: float  # median of (last thunk end - first thunk start) per execution
    kernel_sum_s: float  # median of the summed thunk durations per execution

    def times_s(self) -> dict[str, float]:
        return {k.name: k.time_s for k in self.kernels}


def attribute(events: list[ThunkEvent] | tuple[ThunkEvent, ...]) -> ProgramTrace:
    """Group events by execution ((device, run)); per name, the median over executions of its per-call time.

    Every execution of an SPMD program runs the same instructions, so devices are pooled: on a shared-core
    CPU mesh that makes each kernel's time its typical time with the other devices competing."""
    if not events:
        raise ValueError("no thunk events: was the program run while the profiler traced?")
    runs: dict[tuple[int, int], list[ThunkEvent]] = defaultdict(list)
    for e in events:
        runs[(e.device, e.run_id)].append(e)
    per_call: dict[str, list[float]] = defaultdict(list)
    calls: dict[str, list[int]] = defaultdict(list)
    first_start: dict[str, list[int]] = defaultdict(list)
    spans, sums = [], []
    for run in runs.values():
        start = min(e.start_ns for e in run)
        spans.append(max(e.start_ns + e.duration_ns for e in run) - start)
        sums.append(sum(e.duration_ns for e in run))
        total: dict[str, int] = defaultdict(int)
        count: dict[str, int] = defaultdict(int)
        first: dict[str, int] = {}
        for e in run:
            total[e.name] += e.duration_ns
            count[e.name] += 1
            first.setdefault(e.name, e.start_ns - start)
            first[e.name] = min(first[e.name], e.start_ns - start)
        for name in total:
            per_call[name].append(total[name] / count[name])
            calls[name].append(count[name])
            first_start[name].append(first[name])
    order = sorted(per_call, key=lambda n: statistics.median(first_start[n]))
    kernels = tuple(KernelTime(n, statistics.median(per_call[n]) * 1e-9, int(statistics.median(calls[n])),
                               statistics.fmean(per_call[n]) * 1e-9) for n in order)
    return ProgramTrace(kernels=kernels, executions=len(runs), span_s=statistics.median(spans) * 1e-9,
                        kernel_sum_s=statistics.median(sums) * 1e-9)
