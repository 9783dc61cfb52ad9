"""Kernel times of a compiled program, attributed by HLO instruction name from the events of a JAX profiler trace.

XLA's CPU runtime records one event per executed thunk (a fusion, copy, dot, custom call or collective),
named by its HLO instruction and tagged with the device and the run (one execution of the program).
This module is pure: it turns those events, however captured (xprof.py), into per-kernel times.

A kernel's *duration* is its thunk's event. Its *lifetime* runs from the event's start to the kernel's
completion: a kernel whose work was split over the intra-op threads may return to the executor before
that work is done, and the runtime marks the completion later with an `end:` event linked to the
kernel's event by a flow id (xprof.py). Between such events no thunk event is open although the cores
are busy (12% of a `m` step on one device), so lifetimes, not durations, cover the step.

The thunk executor also runs independent thunks on several threads at once, so lifetimes overlap. A
kernel's *share* is its lifetime's wall time divided among the kernels live with it: each instant of an
execution is split equally between the kernels live then, so the shares of one execution add up to its
busy time (the span less its idle gaps). pathsim's engine runs a device's kernels one at a time; the
shares are the times under which that sequence takes the wall time the real executor took. Durations,
shares, span and busy time are all kept, so the report shows what the shares changed.

Each kernel keeps its median and its mean over executions. A step is a sum of hundreds of kernels: its
median is close to the sum of their means (the sum's noise averages out), while each kernel's noise on a
loaded host is right-skewed (preemption only adds time), so the sum of medians falls short of the step.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThunkEvent:
    name: str  # the HLO instruction (fusion.12, copy.3, all-reduce.1, ...)
    device: int  # device ordinal
    run_id: int  # one execution of the program (on every device of an SPMD launch)
    start_ns: int
    duration_ns: int
    done_ns: int = 0  # when the kernel's work completed (its `end:` marker), if after the event's end

    @property
    def end_ns(self) -> int:
        """The kernel's lifetime ends when its work completed: an asynchronous kernel's event ends early."""
        return max(self.start_ns + self.duration_ns, self.done_ns)


@dataclass(frozen=True)
class KernelTime:
    name: str
    time_s: float  # one call: median over executions of (the name's time in the execution / its calls)
    calls: int  # calls per execution (more than 1 inside a loop)
    mean_s: float  # one call: the mean over executions of the same
    share_s: float  # one call: the mean over executions of its share of the wall time (see above)


@dataclass(frozen=True)
class ProgramTrace:
    """Per-kernel times of one program, and what its executions looked like as a whole."""

    kernels: tuple[KernelTime, ...]  # in order of first start within an execution
    executions: int  # (device, run) pairs seen
    span_s: float  # median of (last thunk end - first thunk start) per execution
    kernel_sum_s: float  # median of the summed thunk durations per execution
    busy_s: float  # median of the time some thunk ran per execution (= its summed shares)

    def times_s(self) -> dict[str, float]:
        return {k.name: k.time_s for k in self.kernels}


def shares_ns(run: list[ThunkEvent]) -> list[float]:
    """Each event's share of the wall time: every instant split equally between the events active then."""
    starts = np.array([e.start_ns for e in run], dtype=np.int64)
    ends = np.array([e.end_ns for e in run], dtype=np.int64)
    bounds = np.unique(np.concatenate([starts, ends]))
    first, last = np.searchsorted(bounds, starts), np.searchsorted(bounds, ends)
    # active[i]: events covering the elementary interval [bounds[i], bounds[i + 1])
    active = np.cumsum(np.bincount(first, minlength=bounds.size) - np.bincount(last, minlength=bounds.size))
    per_event = np.divide(np.diff(bounds), active[:-1], out=np.zeros(bounds.size - 1), where=active[:-1] > 0)
    cumulative = np.concatenate([[0.0], np.cumsum(per_event)])
    return (cumulative[last] - cumulative[first]).tolist()


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
    share_per_call: dict[str, list[float]] = defaultdict(list)
    calls: dict[str, list[int]] = defaultdict(list)
    first_start: dict[str, list[int]] = defaultdict(list)
    spans, sums, busy = [], [], []
    for run in runs.values():
        start = min(e.start_ns for e in run)
        spans.append(max(e.end_ns for e in run) - start)
        sums.append(sum(e.duration_ns for e in run))
        shares = shares_ns(run)
        busy.append(sum(shares))
        total: dict[str, int] = defaultdict(int)
        share: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        first: dict[str, int] = {}
        for e, e_share in zip(run, shares):
            total[e.name] += e.duration_ns
            share[e.name] += e_share
            count[e.name] += 1
            first.setdefault(e.name, e.start_ns - start)
            first[e.name] = min(first[e.name], e.start_ns - start)
        for name in total:
            per_call[name].append(total[name] / count[name])
            share_per_call[name].append(share[name] / count[name])
            calls[name].append(count[name])
            first_start[name].append(first[name])
    order = sorted(per_call, key=lambda n: statistics.median(first_start[n]))
    kernels = tuple(KernelTime(n, statistics.median(per_call[n]) * 1e-9, int(statistics.median(calls[n])),
                               statistics.fmean(per_call[n]) * 1e-9, statistics.fmean(share_per_call[n]) * 1e-9)
                    for n in order)
    return ProgramTrace(kernels=kernels, executions=len(runs), span_s=statistics.median(spans) * 1e-9,
                        kernel_sum_s=statistics.median(sums) * 1e-9, busy_s=statistics.median(busy) * 1e-9)
