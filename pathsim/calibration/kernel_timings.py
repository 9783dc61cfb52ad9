"""Kernel timings: the measured time of every kernel of each closed-loop case's compiled step, by HLO
instruction name, in JSON (calibration/<name>-kernels.json).

Unlike a CostProfile (profile.py), whose rows are kernels rebuilt and timed alone, these are the kernels of
the real fused step, timed inside it from a trace of the JAX profiler. A program is identified by the sha256 of its
compiled HLO computations: a recompiled step that differs (another jax, another model) no longer matches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pathsim.calibration.kernel_trace import KernelTime
from pathsim.costs.calibrated.profile import json_document
from pathsim.config.yamlio import read_text
from pathsim.errors import ConfigError
from pathsim.results.outputs import write_text_atomic

FORMAT = "pathsim-kernels/2"  # /2: kernel shares of the wall time and the busy time (kernel_trace.py)
Statistic = Literal["share", "mean", "median"]


_METADATA = re.compile(r", metadata=\{[^}]*\}")
_COMPUTATION = re.compile(r"^(ENTRY )?%")


def hlo_fingerprint(hlo_text: str) -> str:
    """sha256 of the computations without their source metadata: the stack traces jax records name the
    calling script, which differs between `pathsim` and `python -m`, while the program does not."""
    lines = hlo_text.splitlines()
    start = next((i for i, line in enumerate(lines) if _COMPUTATION.match(line)), len(lines))
    body = "\n".join(_METADATA.sub("", line) for line in lines[start:])
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class KernelTimingsMeta:
    backend: str
    device_kind: str
    device_count: int
    jax_version: str
    date: str  # ISO 8601, UTC
    warmup: int
    repeats: int  # traced executions of each step
    host_load_1min: float  # the host's load average when measured


@dataclass(frozen=True)
class StepKernelTimings:
    case: str  # Case.name
    devices: int
    hlo_sha256: str
    traced_step_s: float  # median wall time of one step while traced (profiler overhead included)
    span_s: float  # median first-thunk-start to last-thunk-end of one execution on one device
    kernel_sum_s: float  # median summed thunk time of one execution on one device
    busy_s: float  # median time some thunk ran in one execution on one device (its kernels' shares, summed)
    executions: int  # (device, run) executions the medians are over
    kernels: tuple[KernelTime, ...]

    def times_s(self, statistic: Statistic = "share") -> dict[str, float]:
        """Seconds per call of each kernel: its mean share of the wall time (the default: see kernel_trace.py),
        or its duration's mean or median."""
        field = {"share": "share_s", "mean": "mean_s", "median": "time_s"}[statistic]
        return {k.name: getattr(k, field) for k in self.kernels}

    def total_s(self, statistic: Statistic = "share") -> float:
        """The kernels of one execution, summed."""
        times = self.times_s(statistic)
        return sum(times[k.name] * k.calls for k in self.kernels)


@dataclass(frozen=True)
class KernelTimings:
    meta: KernelTimingsMeta
    programs: tuple[StepKernelTimings, ...]

    def program(self, case: str) -> StepKernelTimings | None:
        return next((p for p in self.programs if p.case == case), None)


def to_json(timings: KernelTimings) -> str:
    return json.dumps({"format": FORMAT, **dataclasses.asdict(timings)}, indent=1)


def save_kernel_timings(timings: KernelTimings, path: Path, field: str = "--out") -> None:
    write_text_atomic(path, to_json(timings) + "\n", field)


def from_json(text: str, field: str = "--kernels") -> KernelTimings:
    doc = json_document(text, field, FORMAT, "kernel timings file")
    try:
        meta = KernelTimingsMeta(**doc["meta"])
        programs = tuple(StepKernelTimings(**{**p, "kernels": tuple(KernelTime(**k) for k in p["kernels"])})
                         for p in doc["programs"])
    except (KeyError, TypeError) as exc:
        raise ConfigError(field, f"malformed kernel timings: {exc}") from None
    for p in programs:
        bad = [k.name for k in p.kernels if not min(k.time_s, k.mean_s, k.share_s) >= 0.0 or k.calls < 1]
        if bad:
            raise ConfigError(field, f"{p.case}: negative time or no calls for {bad[:3]}")
    return KernelTimings(meta=meta, programs=programs)


def load_kernel_timings(path: Path, field: str = "--kernels") -> KernelTimings:
    if not path.exists():
        raise ConfigError(field, f"file {str(path)!r} does not exist; run `pathsim profile-kernels --out {path}`")
    return from_json(read_text(path, field), field)
