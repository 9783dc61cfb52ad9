"""The TPU kernel cost model: measured kernel efficiencies instead of the spec sheet's peaks.

A matmul [batch, m, k] x [batch, k, n] takes
    T = floor + (Tc^p + Tm^p)^(1/p)
    Tc = 2 batch m n round_up(k, mxu) / (eta_mxu peak)          contraction dim padded to the MXU edge
    Tm = bytes / (eta_hbm bandwidth)                                operands in (8, 128) tiles (32 for int8),
         each operand re-read once per output block of the other side (block edge from the fit)
A memory-bound kernel (norm, softmax, elementwise, optimizer, gather) takes floor + bytes / (eta_stream bw).
Collectives keep the engine's flows, at the measured payload rate of a link, and start after a measured
fixed cost plus one remote-DMA cost per ring step (pathsim.costs.collectives.LinkTiming).
Every constant is in pathsim/catalog/kernels.py with its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pathsim.catalog import kernels as K
from pathsim.catalog.hardware import ChipSpec
from pathsim.costs.collectives import LinkTiming
from pathsim.costs.compute import matmul_element_bytes
from pathsim.workload.program import ComputeOp

LANE = 128  # minor tile dim of a TPU vector register (Cloud TPU performance guide)


@dataclass(frozen=True)
class MatmulFigures:
    """The four fitted matmul constants (pathsim.costs.tpu_kernels.fit fits them; the catalog holds the result)."""

    efficiency: float
    hbm_efficiency: float
    sharpness: float
    block: float
    floor_s: float = K.KERNEL_FLOOR_S.value


CATALOG_MATMUL = MatmulFigures(K.MATMUL_EFFICIENCY.value, K.MATMUL_HBM_EFFICIENCY.value,
                               K.OVERLAP_SHARPNESS.value, K.MATMUL_BLOCK.value)


def _round_up(x: Any, multiple: Any) -> Any:
    return np.ceil(np.asarray(x, dtype=float) / multiple) * multiple


def matmul_time_s(m: Any, k: Any, n: Any, batch: Any, in_bytes: Any, out_bytes: Any, *, peak_flops_per_s: Any,
                  hbm_bytes_per_s: float, mxu_edge: int, figures: MatmulFigures = CATALOG_MATMUL) -> Any:
    """Kernel time of a matmul on one chip; scalars or numpy arrays (the fit prices 900 rows at once)."""
    sublane = np.where(np.asarray(in_bytes) == 1, 32, 8)
    tc = 2.0 * batch * m * n * _round_up(k, mxu_edge) / (figures.efficiency * peak_flops_per_s)
    mp, np_ = _round_up(m, sublane), _round_up(n, LANE)
    a_bytes = mp * _round_up(k, LANE) * in_bytes * np.ceil(np_ / figures.block)
    b_bytes = _round_up(k, sublane) * np_ * in_bytes * np.ceil(mp / figures.block)
    tm = batch * (a_bytes + b_bytes + mp * np_ * out_bytes) / (figures.hbm_efficiency * hbm_bytes_per_s)
    p = figures.sharpness
    return figures.floor_s + (tc ** p + tm ** p) ** (1.0 / p)


def fused_attention_time_s(block: Any, nbytes: float, *, peak_flops_per_s: float, hbm_bytes_per_s: float,
                           mxu_edge: int, figures: MatmulFigures = CATALOG_MATMUL) -> float:
    """A fused (flash) attention kernel: its block matmuls at the MXU share of large matmuls, the head dim
    padded to the MXU edge (the contraction of Q K^T, the output width of P V); its HBM bytes (Q, K, V, the
    output) streamed once, blocks staying in VMEM; the two overlap as a matmul's compute and memory do."""
    tc = 2.0 * block.batch * block.m * block.n * _round_up(block.k, mxu_edge) / (figures.efficiency * peak_flops_per_s)
    tm = nbytes / (figures.hbm_efficiency * hbm_bytes_per_s)
    p = figures.sharpness
    return float(figures.floor_s + (tc ** p + tm ** p) ** (1.0 / p))


def stream_time_s(nbytes: float, hbm_bytes_per_s: float, efficiency: float) -> float:
    """A memory-bound kernel: its bytes at the measured HBM share, after the per-kernel floor."""
    return K.KERNEL_FLOOR_S.value + nbytes / (efficiency * hbm_bytes_per_s)


@dataclass(frozen=True)
class TpuKernelCostModel:
    """Per-op kernel time on one TPU chip (ComputeCostModel protocol), and the links' timing."""

    chip: ChipSpec
    kernels: K.KernelSpec
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"TPU kernel model ({self.kernels.kernels_from})"

    @property
    def links(self) -> LinkTiming:
        k = self.kernels
        return LinkTiming(name="measured TPU link figures", ici_payload_efficiency=k.ici_payload_efficiency.value,
                          first_hop_s=k.ici_first_hop_s.value, extra_hop_s=k.ici_extra_hop_s.value,
                          collective_fixed_s=k.collective_fixed_s.value)

    def _full_kernel_s(self, op: ComputeOp) -> float:
        chip = self.chip
        if op.kind == "flash_attention":
            return fused_attention_time_s(op.matmul, op.hbm_bytes / op.scale, peak_flops_per_s=chip.peak_bf16_flops_per_s,
                                          hbm_bytes_per_s=chip.hbm_bytes_per_s, mxu_edge=int(self.kernels.mxu_edge.value))
        if op.matmul is not None and op.flops > 0:
            s, eb = op.matmul, round(matmul_element_bytes(op))
            return float(matmul_time_s(s.m, s.k, s.n, s.batch, eb, eb, peak_flops_per_s=chip.peak_bf16_flops_per_s,
                                       hbm_bytes_per_s=chip.hbm_bytes_per_s, mxu_edge=int(self.kernels.mxu_edge.value)))
        if op.hbm_bytes <= 0 and op.flops <= 0:
            return 0.0
        return stream_time_s(op.hbm_bytes / op.scale, chip.hbm_bytes_per_s, self.kernels.stream_efficiency(op.kind))

    def op_time_s(self, op: ComputeOp) -> float:
        """`scale` runs that share of the whole kernel (PaLM's partial rematerialization)."""
        key = (op.kind, op.flops / op.scale, op.hbm_bytes / op.scale, op.matmul)
        full = self._cache.get(key)
        if full is None:
            full = self._cache[key] = self._full_kernel_s(op)
        return op.scale * full
