"""The micro-benchmarks behind `pathsim calibrate`: JAX kernels on the default backend, timed as a
benchmark should be (compile, warm-up runs, then the median of repeats), with a progress bar.

Each timed call includes the call overhead of a jitted function; its median (an empty jitted call) is
measured first and subtracted, so the rows hold device time. Import only from the commands: it imports jax.
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from pathsim.calibration.grid import BYTES_PER_ELEMENT, Grid, MatmulWorkload, MemoryWorkload
from pathsim.costs.calibrated.profile import (COLLECTIVES, DTYPE_BYTES, CollectivePoint, CostProfile,
                                              CostProfileMeta, MatmulPoint, MemoryPoint)
from pathsim.workload.xla.step import rms_norm

MIN_TIME_S = 1e-7  # a row is never below this after the call overhead is subtracted (timer resolution)
REFERENCE_MATMUL = 512  # edge of the square f32 matmul that measures the slowdown of concurrent devices


@dataclass(frozen=True)
class Timing:
    warmup: int
    repeats: int

    def median_s(self, fn: Callable, *args) -> float:
        for _ in range(self.warmup):
            jax.block_until_ready(fn(*args))
        times = []
        for _ in range(self.repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times.append(time.perf_counter() - start)
        return statistics.median(times)


def _array(shape, dtype: str, seed: int = 0):
    return jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float32).astype(dtype)


def matmul_case(w: MatmulWorkload) -> tuple[Callable, tuple]:
    a = _array((w.batch, w.m, w.k), w.dtype, 0)
    b = _array((w.batch, w.k, w.n), w.dtype, 1)
    return jax.jit(lambda x, y: jnp.einsum("bmk,bkn->bmn", x, y)), (a, b)


def _adam(p, g, m, v):
    m = 0.9 * m + 0.1 * g.astype(jnp.float32)
    v = 0.999 * v + 0.001 * jnp.square(g.astype(jnp.float32))
    return (p - (1e-3 * m / (jnp.sqrt(v) + 1e-8)).astype(p.dtype)), m, v


def memory_case(w: MemoryWorkload) -> tuple[Callable, tuple]:
    """The kernel standing for one kind of memory-bound op, on `elements` elements."""
    width = min(w.elements, 256)
    rows = max(w.elements // width, 1)
    if w.kind == "norm":
        return (jax.jit(lambda x, r, s: rms_norm(x + r, s, x.dtype)),
                (_array((rows, width), w.dtype), _array((rows, width), w.dtype, 1), jnp.ones((width,), w.dtype)))
    if w.kind == "softmax":
        return (jax.jit(lambda x: jax.nn.softmax(x, axis=-1).astype(w.dtype)),
                (_array((rows, width), "float32"),))
    if w.kind == "elementwise":
        return jax.jit(lambda x: jax.nn.gelu(x, approximate=True)), (_array((w.elements,), w.dtype),)
    if w.kind == "optimizer":
        f32 = lambda seed: _array((w.elements,), "float32", seed)  # noqa: E731
        return jax.jit(_adam), (_array((w.elements,), w.dtype), _array((w.elements,), w.dtype, 1), f32(2), f32(3))
    if w.kind == "gather":
        table = _array((4096, width), w.dtype)
        idx = jax.random.randint(jax.random.PRNGKey(2), (rows,), 0, 4096)
        return jax.jit(lambda t, i: jnp.take(t, i, axis=0)), (table, idx)
    raise ValueError(f"no benchmark for memory op kind {w.kind!r}")


def memory_bytes(w: MemoryWorkload) -> float:
    width = min(w.elements, 256)
    return BYTES_PER_ELEMENT[w.kind](DTYPE_BYTES[w.dtype]) * width * max(w.elements // width, 1)


def collective_case(collective: str, group: int, v_bytes: float) -> tuple[Callable, tuple]:
    """One collective over groups of `group` devices, every group of the mesh at once (as in SPMD).
    V (v_bytes) is the full array of the scaling book's closed forms, in f32."""
    devices = jax.devices()
    mesh = Mesh(np.array(devices).reshape(len(devices) // group, group), ("rest", "grp"))
    elements = max(int(v_bytes) // 4 // group * group, group)
    if collective == "all_gather":
        local, body = elements // group, lambda x: jax.lax.all_gather(x, "grp", tiled=True)
    elif collective == "reduce_scatter":
        local, body = elements, lambda x: jax.lax.psum_scatter(x, "grp", tiled=True)
    else:
        local, body = elements, lambda x: jax.lax.psum(x, "grp")
    spec = P(("rest", "grp"))
    fn = jax.jit(jax.shard_map(body, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False))
    x = jax.device_put(jnp.ones((local * len(devices),), jnp.float32), NamedSharding(mesh, spec))
    return fn, (x,)


def concurrent_slowdown(timing: Timing) -> float:
    """Time of a matmul run on every device at once over its time on one: about devices / cores for CPU
    devices sharing a host's cores, about 1 for devices with their own compute units."""
    n = len(jax.devices())
    single, args = matmul_case(MatmulWorkload("matmul", "float32", REFERENCE_MATMUL, REFERENCE_MATMUL,
                                              REFERENCE_MATMUL, 1))
    if n == 1:
        return 1.0
    mesh = Mesh(np.array(jax.devices()), ("d",))
    stacked = jax.device_put(_array((n, REFERENCE_MATMUL, REFERENCE_MATMUL), "float32"), NamedSharding(mesh, P("d")))
    together = jax.jit(lambda x: jnp.einsum("bmk,bkn->bmn", x, x))
    return timing.median_s(together, stacked) / timing.median_s(single, *args)


def _memory_total_bytes() -> float:
    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return float(stats["bytes_limit"])
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))  # CPU: the host's memory


def run_calibration(grid: Grid, timing: Timing, progress: bool = True) -> CostProfile:
    from rich.progress import Progress

    devices = jax.devices()
    groups = [g for g in range(2, len(devices) + 1) if len(devices) % g == 0]
    collective_jobs = [(c, g, v) for g in groups for c in COLLECTIVES for v in grid.collective_bytes]
    total = len(grid.matmuls) + len(grid.memory) + len(collective_jobs) + 2
    noop = jax.jit(lambda x: x)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"calibrating {devices[0].device_kind}", total=total)
        call_overhead_s = timing.median_s(noop, jnp.zeros((1,)))
        slowdown = concurrent_slowdown(timing)
        bar.advance(task, 2)

        def kernel_s(fn, args) -> float:
            value = max(timing.median_s(fn, *args) - call_overhead_s, MIN_TIME_S)
            bar.advance(task)
            return value

        matmuls = tuple(MatmulPoint(w.kind, w.dtype, w.m, w.k, w.n, w.batch, kernel_s(*matmul_case(w)))
                        for w in grid.matmuls)
        memory = tuple(MemoryPoint(w.kind, memory_bytes(w), kernel_s(*memory_case(w))) for w in grid.memory)
        collectives = tuple(CollectivePoint(c, g, float(v), kernel_s(*collective_case(c, g, v)))
                            for c, g, v in collective_jobs)
    meta = CostProfileMeta(
        backend=jax.default_backend(), device_kind=devices[0].device_kind, device_count=len(devices),
        jax_version=jax.__version__, date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        warmup=timing.warmup, repeats=timing.repeats, call_overhead_s=call_overhead_s,
        concurrent_slowdown=slowdown, memory_bytes=_memory_total_bytes(), host_load_1min=os.getloadavg()[0])
    return CostProfile(meta=meta, matmuls=matmuls, memory_ops=memory, collectives=collectives)
