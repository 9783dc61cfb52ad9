"""Run a compiled JAX program under the JAX profiler and read back its thunk events (kernel_trace.py).

The trace is written to a temporary directory and read with jax.profiler.ProfileData (the .xplane.pb):
every event carrying an `hlo_op` stat is one executed thunk of a compiled program. Only the events of the
module being measured are kept (other programs, e.g. jax's own helpers, may run while tracing).
Import only from the commands: it imports jax.
"""

from __future__ import annotations

import glob
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import jax
from jax.profiler import ProfileData

from pathsim.calibration.kernel_trace import ThunkEvent


@dataclass(frozen=True)
class TracedRuns:
    events: tuple[ThunkEvent, ...]
    wall_s: float  # median wall time of one call while traced (profiler overhead included)


def hlo_module_name(hlo_text: str) -> str:
    """`HloModule jit_step, ...` -> "jit_step": the name the profiler tags each thunk with."""
    first = hlo_text.split("\n", 1)[0]
    return first.split()[1].rstrip(",")


def read_thunk_events(xplane_path: str, module: str) -> tuple[ThunkEvent, ...]:
    """The module's thunk events, each with the end of its `end:` completion marker where there is one:
    the thunk's event carries a flow-producer id (`_p`), its completion marker the same id as `_c`."""
    data = ProfileData.from_file(xplane_path)
    thunks, done_ns = [], {}
    for plane in data.planes:
        for line in plane.lines:
            for ev in line.events:
                stats = dict(ev.stats)
                if ev.name.startswith("end: ") and "_c" in stats:
                    done_ns[stats["_c"]] = int(ev.start_ns + ev.duration_ns)
                elif "hlo_op" in stats and stats.get("hlo_module") == module:
                    thunks.append((ev, stats))
    return tuple(ThunkEvent(name=str(stats["hlo_op"]), device=int(stats.get("device_ordinal", 0)),
                            run_id=int(stats.get("run_id", 0)), start_ns=int(ev.start_ns),
                            duration_ns=int(ev.duration_ns), done_ns=done_ns.get(stats.get("_p"), 0))
                 for ev, stats in thunks)


def trace_runs(run: Callable[[], object], module: str, warmup: int, repeats: int) -> TracedRuns:
    """Run `run()` (one step, returning something to block on) `warmup` times untraced, then `repeats`
    times under the profiler."""
    for _ in range(warmup):
        jax.block_until_ready(run())
    walls = []
    with tempfile.TemporaryDirectory(prefix="pathsim-xprof-") as tmp:
        with jax.profiler.trace(tmp):
            for _ in range(repeats):
                start = time.perf_counter()
                jax.block_until_ready(run())
                walls.append(time.perf_counter() - start)
        paths = glob.glob(os.path.join(tmp, "**", "*.xplane.pb"), recursive=True)
        if not paths:
            raise RuntimeError(f"the JAX profiler wrote no .xplane.pb under {tmp}")
        events = tuple(e for path in paths for e in read_thunk_events(path, module))
    return TracedRuns(events=events, wall_s=statistics.median(walls))
