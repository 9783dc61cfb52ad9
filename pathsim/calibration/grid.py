"""What `pathsim calibrate` measures: the matmul shapes and memory-bound op sizes the transformer lowering
produces for the closed-loop cases, plus a generic grid of shapes and dtypes around them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pathsim.calibration.cases import Case, experiment
from pathsim.costs.calibrated.model import matmul_element_bytes
from pathsim.costs.calibrated.profile import DTYPE_BYTES, MEMORY_KINDS
from pathsim.pipeline import lowered_program
from pathsim.workload.program import ComputeOp

DTYPE_OF_BYTES = {4: "float32", 2: "bfloat16"}
F32_BYTES = 4

# Bytes read + written per element of each kind's benchmark kernel, as the lowering counts the op it
# stands for (workload/lowering/transformer.py), b = element size:
BYTES_PER_ELEMENT = {
    "norm": lambda b: 5.0 * b,  # residual add (read two, write one), then layer norm (read, write)
    "softmax": lambda b: 2.0 * F32_BYTES + 2.0 * b,  # f32 scores written and read, probabilities too
    "elementwise": lambda b: 2.0 * b,  # GELU: read one, write one
    "optimizer": lambda b: 3.0 * b + 4.0 * F32_BYTES,  # Adam: weights read and written, gradients read,
    # two f32 moments read and written
    "gather": lambda b: 2.0 * b,  # embedding rows read and written
}


@dataclass(frozen=True)
class MatmulWorkload:
    kind: str
    dtype: str
    m: int
    k: int
    n: int
    batch: int


@dataclass(frozen=True)
class MemoryWorkload:
    kind: str
    dtype: str
    elements: int  # of the op's main tensor; bytes follow from the kind (microbench.memory_bytes)


@dataclass(frozen=True)
class Grid:
    matmuls: tuple[MatmulWorkload, ...]
    memory: tuple[MemoryWorkload, ...]
    collective_bytes: tuple[float, ...]  # V, for each collective and group size


def lowered_ops(case_list: tuple[Case, ...], dtype_bytes: int) -> list[ComputeOp]:
    ops = []
    for case in case_list:
        program = lowered_program(experiment(case, dtype_bytes))
        ops.extend(op for op in program.groups[0].ops if isinstance(op, ComputeOp))
    return ops


def _sweep(lo: float, hi: float, factor: float = 4.0) -> list[int]:
    """Sizes from below lo to above hi, a factor apart, so every size in [lo, hi] is bracketed."""
    out, x = [], 2 ** math.floor(math.log2(max(lo, 1.0)))
    while True:
        out.append(int(x))
        if x >= hi:
            return out
        x *= factor


def build_grid(case_list: tuple[Case, ...], dtypes: tuple[str, ...], generic_sizes: tuple[int, ...],
               collective_bytes: tuple[float, ...], dtype_bytes: int = 4) -> Grid:
    ops = lowered_ops(case_list, dtype_bytes)
    case_dtype = DTYPE_OF_BYTES[dtype_bytes]
    matmuls = {MatmulWorkload(op.kind, DTYPE_OF_BYTES[round(matmul_element_bytes(op))],
                              op.matmul.m, op.matmul.k, op.matmul.n, op.matmul.batch)
               for op in ops if op.matmul is not None}
    for dtype in dtypes:
        for m in generic_sizes:
            for k in generic_sizes:
                for n in generic_sizes:
                    matmuls.add(MatmulWorkload("matmul", dtype, m, k, n, 1))
    memory = set()
    for kind in MEMORY_KINDS:
        sizes = [op.hbm_bytes / op.scale for op in ops if op.kind == kind and op.hbm_bytes > 0]
        if not sizes:
            continue
        per_element = BYTES_PER_ELEMENT[kind](DTYPE_BYTES[case_dtype])
        for elements in _sweep(min(sizes) / per_element, max(sizes) / per_element):
            memory.add(MemoryWorkload(kind, case_dtype, elements))
    return Grid(matmuls=tuple(sorted(matmuls, key=lambda w: (w.kind, w.dtype, w.batch * w.m * w.k * w.n))),
                memory=tuple(sorted(memory, key=lambda w: (w.kind, w.elements))),
                collective_bytes=collective_bytes)
