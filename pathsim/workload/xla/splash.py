"""Splash (flash) attention kernels in compiled HLO, priced from their shapes.

A Pallas kernel compiles to one `custom-call` with custom_call_target="tpu_custom_call" and no
`estimated_cycles` (../xla_tpu_aot notes in docs/xla.md). The XLA step's attention (workload/xla/flash.py)
calls JAX's splash kernel, whose compiled calls are named by the kernel: `splash_mha_fwd...` (forward, and
its recompute under remat), `splash_mha_dq...` and `splash_mha_dkv...` (the backward pass), in the
instruction's op_name. Each carries its block sizes in its `xprof_metadata` frontend attribute.

What a kernel computes, from its query operand [..., heads, T, head_dim] (leading dims: the sequences the
batch's vmap added) and its block sizes: the (query block, key block) pairs at or below the causal diagonal
(pathsim's step masks causally; the lowering counts the same pairs, lowering/flash.py), each running
2 block matmuls forward (Q K^T, P V), 3 in the dq kernel (the scores recomputed, dP = dO V^T, dQ = dS K) and
4 in the dkv kernel (the scores recomputed, dV = P^T dO, dP, dK = dS^T Q; 5 when it also writes dQ, the
fused backward). Its HBM bytes: every floating-point operand and output (Q, K, V, the output, its
gradient, the softmax statistics, dQ, dK, dV, and the small [block, 128] running-statistic buffers splash
declares as outputs); the mask's integer block tables are not HBM traffic worth a term.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pathsim.catalog.kernels import FLASH_BLOCK_KV, FLASH_BLOCK_Q
from pathsim.workload.lowering.flash import causal_block_pairs
from pathsim.workload.program import MatmulShape
from pathsim.workload.xla.hlo_text import Instruction, Shape

_NAME = re.compile(r"splash_m[hq]a_(fwd|dq|dkv)")
MATMULS_PER_BLOCK = {"fwd": 2, "dq": 3, "dkv": 4}
_FLOAT = ("bf16", "f32", "f16")


@dataclass(frozen=True)
class SplashKernel:
    """One compiled splash kernel: which one, its block matmul (batch = block matmuls run), its HBM bytes."""

    kernel: str  # fwd, dq or dkv
    block: MatmulShape
    hbm_bytes: float


def _block_size(attrs: str, key: str, default: int) -> int:
    m = re.search(rf'\\"{key}\\": (\d+)', attrs)
    return int(m.group(1)) if m else default


def _floats(shapes: list[Shape]) -> list[Shape]:
    return [s for s in shapes if s.dtype in _FLOAT]


def splash_kernel(instr: Instruction, operands: list[Shape]) -> SplashKernel | None:
    """The splash kernel `instr` runs, or None when it is no splash kernel."""
    if "tpu_custom_call" not in (instr.attr("custom_call_target") or ""):
        return None
    m = _NAME.search(instr.op_name()) or _NAME.search(instr.name)
    if m is None:
        return None
    kernel = m.group(1)
    inputs, outputs = _floats(operands), _floats(instr.shape.arrays())
    q = next((s for s in inputs if len(s.dims) >= 3), None)  # the first attention tensor: Q
    if q is None:
        return None
    *lead, heads, seq_len, head_dim = q.dims
    # Gradients written: [..., heads, T, head_dim] like Q (the running-statistic buffers have one rank less).
    grads = sum(len(o.dims) == len(q.dims) and o.dims[-1] == head_dim for o in outputs)
    suffix = "" if kernel == "fwd" else f"_{kernel}"
    bq = min(seq_len, _block_size(instr.attrs, f"block_q{suffix}", FLASH_BLOCK_Q.value))
    bk = min(seq_len, _block_size(instr.attrs, f"block_kv{suffix}", FLASH_BLOCK_KV.value))
    per_block = MATMULS_PER_BLOCK[kernel] + (1 if kernel == "dkv" and grads > 2 else 0)
    pairs = causal_block_pairs(seq_len, bq, bk)
    block = MatmulShape(m=bq, k=head_dim, n=bk, batch=per_block * pairs * heads * math.prod(lead))
    return SplashKernel(kernel, block, float(sum(s.bytes for s in inputs + outputs)))
