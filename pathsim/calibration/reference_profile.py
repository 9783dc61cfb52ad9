"""The TPU kernel model as a cost profile (`pathsim calibrate --from-reference CHIP`).

It has the format of a profile measured with `pathsim calibrate`, so that a user with a real TPU can
measure one on that TPU and compare the two row by row. Its rows are the model's kernel times over a grid
of shapes and sizes wide enough for the lowering's ops; it has no collective rows (one device).
"""

from __future__ import annotations

import datetime
import itertools

from pathsim.costs.calibrated.profile import MEMORY_KINDS, CostProfile, CostProfileMeta, MatmulPoint, MemoryPoint
from pathsim.catalog.hardware import chip_spec
from pathsim.catalog.kernels import LAUNCH_OVERHEAD_S, kernel_spec
from pathsim.costs.tpu_kernels.model import TpuKernelCostModel
from pathsim.workload.program import ComputeOp, MatmulShape

_DIMS = tuple(2**e for e in range(7, 17))  # 128 .. 65536: the lowering's per-chip matmul dims
_HEAD_DIMS = (64, 128, 256, 512)
_BATCHES = tuple(4**e for e in range(0, 9))  # attention: heads x sequences per chip
_ATTENTION_DIMS = tuple(2**e for e in range(7, 15))
_MEMORY_BYTES = tuple(2.0**e for e in range(10, 37))
_DTYPE, _ELEMENT_BYTES = "bfloat16", 2


def _matmul_point(model: TpuKernelCostModel, kind: str, m: int, k: int, n: int, batch: int) -> MatmulPoint:
    shape = MatmulShape(m=m, k=k, n=n, batch=batch)
    op = ComputeOp(name="grid", kind=kind, phase="forward", flops=shape.flops,
                   hbm_bytes=_ELEMENT_BYTES * batch * (m * k + k * n + m * n), matmul=shape)
    return MatmulPoint(kind=kind, dtype=_DTYPE, m=m, k=k, n=n, batch=batch, time_s=model.op_time_s(op))


def reference_profile(chip_name: str, field: str = "--from-reference") -> CostProfile:
    chip, kernels = chip_spec(chip_name, field), kernel_spec(chip_name)
    model = TpuKernelCostModel(chip, kernels)
    matmuls = [_matmul_point(model, "matmul", m, k, n, 1) for m, k, n in itertools.product(_DIMS, _DIMS, _DIMS)]
    matmuls += [_matmul_point(model, "attention_matmul", m, k, n, b) for m, k, n, b in
                itertools.product(_ATTENTION_DIMS, _HEAD_DIMS, _ATTENTION_DIMS, _BATCHES)]
    memory = [MemoryPoint(kind=kind, bytes=b, time_s=model.op_time_s(
        ComputeOp(name="grid", kind=kind, phase="forward", flops=0.0, hbm_bytes=b)))
        for kind in MEMORY_KINDS for b in _MEMORY_BYTES]
    meta = CostProfileMeta(backend="tpu", device_kind=kernels.device_kind, device_count=1,
                           jax_version="none: pathsim TPU kernel model (pathsim/catalog/kernels.py)",
                           date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                           warmup=0, repeats=0, call_overhead_s=LAUNCH_OVERHEAD_S.value, concurrent_slowdown=1.0,
                           memory_bytes=chip.hbm_bytes, host_load_1min=0.0)
    return CostProfile(meta=meta, matmuls=tuple(matmuls), memory_ops=tuple(memory), collectives=())
