"""Compute cost models: how long one op takes on one chip. Pluggable: the engine only calls op_time_s.

`AnalyticCostModel` is the spec-sheet roofline: a kernel takes the longer of its FLOPs at peak (with the
matrix unit's padding) and its HBM bytes at HBM bandwidth. Calibrated models measured with JAX live in
pathsim.calibration and implement the same protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from pathsim.catalog.hardware import ChipSpec
from pathsim.costs.collectives import SPEC_SHEET_LINKS, LinkTiming
from pathsim.workload.program import ComputeOp, MatmulShape


class ComputeCostModel(Protocol):
    name: str

    def op_time_s(self, op: ComputeOp) -> float: ...


def link_timing_of(cost: object) -> LinkTiming:
    """The link timing a cost model brings (attribute `links`); the spec sheet's for models without one."""
    return getattr(cost, "links", SPEC_SHEET_LINKS)


def matmul_element_bytes(op: ComputeOp) -> float:
    """The lowering counts a matmul's bytes as batch (mk + kn + mn) elements: bytes / elements."""
    s = op.matmul
    return op.hbm_bytes / (op.scale * s.batch * (s.m * s.k + s.k * s.n + s.m * s.n))


def mxu_padding_efficiency(shape: MatmulShape, tile: int) -> float:
    """Share of the matrix unit doing useful work: the k x n weight tile is padded to the MXU edge."""
    pad = lambda n: math.ceil(n / tile) * tile  # noqa: E731
    return (shape.k * shape.n) / (pad(shape.k) * pad(shape.n))


@dataclass(frozen=True)
class AnalyticCostModel:
    chip: ChipSpec
    name: str = "analytic roofline (spec sheet)"

    def op_time_s(self, op: ComputeOp) -> float:
        flops_rate = self.chip.peak_bf16_flops_per_s
        if op.matmul is not None:
            flops_rate *= mxu_padding_efficiency(op.matmul, self.chip.mxu_tile)
        return max(op.flops / flops_rate, op.hbm_bytes / self.chip.hbm_bytes_per_s)


@dataclass(frozen=True)
class WithLinks:
    """A compute cost model with the link timing of another source: a cost profile of a TPU chip times
    kernels only, its collectives keep the chip's measured link figures."""

    compute: ComputeCostModel
    links: LinkTiming

    @property
    def name(self) -> str:
        return f"{self.compute.name}; links: {self.links.name}"

    def op_time_s(self, op: ComputeOp) -> float:
        return self.compute.op_time_s(op)
