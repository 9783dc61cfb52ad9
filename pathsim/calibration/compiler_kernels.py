"""Kernel times from the compiler, for a chip with no published kernel timings (TPU v4):

    python -m pathsim.calibration.compiler_kernels [--chip tpu_v4] [--limit N]

Each representative kernel is compiled ahead of time for one chip of the target (libtpu, no TPU needed)
and priced by its `estimated_cycles` in the compiled HLO over the chip's clock (catalog COMPILER_CLOCK_HZ):
- matmuls: the bf16 shapes of R-Oliver/tpu-perf-model's jnp.dot grid (families square, random, skinny,
  tile probes, ridge band: pathsim/data/kernels/jnp_dot_v5e_v6e.csv) and every matmul shape the lowering
  emits for the shipped experiments on that chip (family `lowering`), bf16 in and out as the lowering
  prices them;
- memory-bound kernels of each kind the lowering emits, written as the computation its op stands for, at
  2^18 to 2^28 elements, with the bytes the lowering counts for that op.
The rows go to pathsim/data/kernels/compiler_kernels_<chip>.csv and the jax and libtpu versions that
produced them to the .json beside it; fit.py fits the memory-bound kinds' figures on them and checks the
matmul figures against them (`python -m pathsim.costs.tpu_kernels.fit --compiler tpu_v4`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from pathsim.costs.tpu_kernels.reference_data import CSV_NAME as DOT_CSV, compiler_csv_path, default_reference_dir

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
COLUMNS = ("kind", "family", "batch", "m", "k", "n", "elements", "lowering_bytes", "cycles", "kernels",
           "kernels_without_estimate")
MEMORY_SIZES = tuple(2 ** e for e in range(18, 29, 2))  # elements of the kernel's main array
_CYCLES = re.compile(r'"estimated_cycles":"(\d+)"')


@dataclass(frozen=True)
class MemoryKernel:
    """A memory-bound kernel kind of the lowering, as a JAX computation over `elements` of its main array."""

    kind: str  # the lowering's ComputeKind
    bytes_per_element: float  # what the lowering counts for the op, per element of the main array
    build: Callable[[int], tuple[Callable, list[tuple[tuple[int, ...], str]]]]  # elements -> (fn, arg shapes)


def _rows_of(elements: int, width: int) -> tuple[int, int]:
    return max(1, elements // width), min(width, elements)


def _norm(elements: int):
    """Residual add then RMS norm (lowering: read two, write one, then read and write: 5 bf16 per element)."""
    import jax
    import jax.numpy as jnp

    def fn(x, r, g):
        y = x + r
        scale = jax.lax.rsqrt(jnp.mean(jnp.square(y.astype(jnp.float32)), axis=-1, keepdims=True) + 1e-6)
        return y, (y.astype(jnp.float32) * scale).astype(jnp.bfloat16) * g

    shape = _rows_of(elements, 8192)
    return fn, [(shape, "bf16"), (shape, "bf16"), ((shape[1],), "bf16")]


def _softmax(elements: int):
    """f32 attention scores to bf16 probabilities (lowering: f32 written and read, bf16 written and read)."""
    import jax
    import jax.numpy as jnp

    return (lambda s: jax.nn.softmax(s, axis=-1).astype(jnp.bfloat16)), [(_rows_of(elements, 2048), "f32")]


def _elementwise(elements: int):
    """The SwiGLU activation (lowering: read two, write one, bf16)."""
    import jax

    return (lambda a, b: jax.nn.silu(a) * b), [(_rows_of(elements, 8192), "bf16")] * 2


def _optimizer(elements: int):
    """AdamW on bf16 weights and gradients with f32 moments (lowering: weights and moments read and
    written, gradients read)."""
    import jax.numpy as jnp

    def fn(p, g, m, v):
        g32 = g.astype(jnp.float32)
        m2 = 0.9 * m + 0.1 * g32
        v2 = 0.95 * v + 0.05 * g32 * g32
        p32 = p.astype(jnp.float32)
        return (p32 - 1e-4 * (m2 / (jnp.sqrt(v2) + 1e-8) + 0.1 * p32)).astype(jnp.bfloat16), m2, v2

    shape = _rows_of(elements, 8192)
    return fn, [(shape, "bf16"), (shape, "bf16"), (shape, "f32"), (shape, "f32")]


MEMORY_KERNELS = (
    MemoryKernel("norm", 5 * 2, _norm),
    MemoryKernel("softmax", 2 * 4 + 2 * 2, _softmax),
    MemoryKernel("elementwise", 3 * 2, _elementwise),
    MemoryKernel("optimizer", 2 * 2 + 2 + 2 * 2 * 4, _optimizer),
)


def grid_shapes(folder: Path | None = None) -> list[tuple[str, int, int, int, int]]:
    """(family, batch, m, k, n) of the measured jnp.dot grid's bf16 shapes."""
    rows = pd.read_csv((folder or default_reference_dir()) / DOT_CSV)
    rows = rows[(rows.sku == "v5e") & (rows.dtype == "bf16")]
    return [(r.family, 1, int(r.M), int(r.K), int(r.N)) for r in rows.itertuples()]


def lowering_shapes(chip: str) -> list[tuple[str, int, int, int, int]]:
    """(family, batch, m, k, n) of every matmul the lowering emits for the shipped experiments on `chip`."""
    from pathsim.config.experiment import load_experiment
    from pathsim.errors import ConfigError
    from pathsim.pipeline import lowered_program
    from pathsim.workload.program import ComputeOp

    shapes: set[tuple[int, int, int, int]] = set()
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        try:
            exp, topo = load_experiment(path)
        except ConfigError:
            continue  # a sweep or scenario file
        if topo.chip != chip:
            continue
        for group in lowered_program(exp).groups:
            shapes |= {(op.matmul.batch, op.matmul.m, op.matmul.k, op.matmul.n) for op in group.ops
                       if isinstance(op, ComputeOp) and op.matmul is not None and op.kind != "flash_attention"}
    return [("lowering", *s) for s in sorted(shapes)]


def one_chip_device(chip: str):
    from jax.experimental import topologies

    from pathsim.workload.xla.mesh import TPU_TARGETS

    prefix, config = TPU_TARGETS[chip]
    one = "1x1x1" if config == "megacore" else "1x1"
    return topologies.get_topology_desc(platform="tpu", topology_name=f"{prefix}:{one}", chip_config_name=config,
                                        chips_per_host_bounds=(1, 1, 1), num_slices=1).devices[0]


def compiled_cycles(device, fn: Callable, args: list[tuple[tuple[int, ...], str]]) -> tuple[int, int, int]:
    """(sum of estimated_cycles, kernels, kernels without an estimate) of `fn` compiled for one chip."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    dtypes = {"bf16": jnp.bfloat16, "f32": jnp.float32}
    sharding = NamedSharding(Mesh(np.array([device]), ("x",)), PartitionSpec())
    specs = [jax.ShapeDtypeStruct(shape, dtypes[dt], sharding=sharding) for shape, dt in args]
    text = jax.jit(fn).lower(*specs).compile().as_text()
    kernels = [line for line in _entry_lines(text) if " fusion(" in line or " convolution(" in line
               or " custom-call(" in line]
    cycles = [int(m.group(1)) for line in kernels for m in [_CYCLES.search(line)] if m]
    return sum(cycles), len(kernels), len(kernels) - len(cycles)


def _entry_lines(text: str) -> list[str]:
    """The instructions of the ENTRY computation (kernels launched by the step; fused bodies excluded)."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("ENTRY "):
            inside = True
        elif inside and line.startswith("}"):
            break
        elif inside:
            lines.append(line)
    return lines


def matmul_fn(batch: int):
    import jax.numpy as jnp

    if batch == 1:
        return lambda a, b: jnp.dot(a, b)
    return lambda a, b: jnp.einsum("bmk,bkn->bmn", a, b)


def collect(chip: str, limit: int = 0, progress: Callable[[str], None] = print) -> pd.DataFrame:
    device = one_chip_device(chip)
    matmuls = grid_shapes() + lowering_shapes(chip)
    if limit:  # evenly spaced, so every family is sampled
        matmuls = matmuls[:: max(1, len(matmuls) // limit)][:limit]
    rows = []
    start = time.monotonic()
    for i, (family, batch, m, k, n) in enumerate(matmuls):
        lead = (batch,) if batch > 1 else ()
        cycles, kernels, missing = compiled_cycles(device, matmul_fn(batch), [((*lead, m, k), "bf16"),
                                                                              ((*lead, k, n), "bf16")])
        rows.append(dict(kind="matmul", family=family, batch=batch, m=m, k=k, n=n, elements=0,
                         lowering_bytes=2.0 * batch * (m * k + k * n + m * n), cycles=cycles, kernels=kernels,
                         kernels_without_estimate=missing))
        if i % 25 == 0:
            progress(f"{i + 1}/{len(matmuls)} matmuls, {time.monotonic() - start:.0f} s")
    for kernel in MEMORY_KERNELS:
        for elements in MEMORY_SIZES:
            fn, args = kernel.build(elements)
            cycles, kernels, missing = compiled_cycles(device, fn, args)
            rows.append(dict(kind=kernel.kind, family="memory", batch=1, m=0, k=0, n=0, elements=elements,
                             lowering_bytes=kernel.bytes_per_element * elements, cycles=cycles, kernels=kernels,
                             kernels_without_estimate=missing))
    progress(f"{len(rows)} kernels compiled in {time.monotonic() - start:.0f} s")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("jax", "jaxlib", "libtpu"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathsim.calibration.compiler_kernels",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--chip", default="tpu_v4")
    parser.add_argument("--limit", type=int, default=0, help="at most N matmul shapes, evenly spaced (0: all)")
    parser.add_argument("--out-dir", type=Path, default=None, help="default: pathsim/data/kernels")
    args = parser.parse_args(argv)
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    from pathsim.catalog.kernels import COMPILER_CLOCK_HZ

    frame = collect(args.chip, args.limit)
    out = compiler_csv_path(args.chip, args.out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    meta = dict(chip=args.chip, clock_hz=COMPILER_CLOCK_HZ[args.chip].value, versions=versions(),
                generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                command="python -m pathsim.calibration.compiler_kernels" + (f" --chip {args.chip}"))
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out} ({len(frame)} kernels) and {out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
