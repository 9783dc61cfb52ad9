"""CalibratedCostModel: op costs from a measured profile, per op the spec-sheet roofline beyond it.

A matmul's dtype is read off the op itself: the lowering counts a matmul's HBM bytes as its operands and
output (batch (mk + kn + mn) elements) times the element size, so bytes / elements is the element size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pathsim.costs.calibrated.interpolate import BytesTable, ShapeTable
from pathsim.costs.calibrated.profile import DTYPE_BYTES, CostProfile, load_cost_profile
from pathsim.catalog.hardware import ChipSpec
from pathsim.costs.compute import AnalyticCostModel, matmul_element_bytes
from pathsim.workload.program import ComputeOp

Source = Literal["measured", "roofline"]


@dataclass(frozen=True)
class Lookup:
    time_s: float
    source: Source


def _dtype_for(element_bytes: float, available: set[str]) -> str | None:
    matches = [d for d in sorted(available) if DTYPE_BYTES[d] == round(element_bytes)]
    return matches[0] if matches else None


@dataclass(frozen=True)
class CalibratedCostModel:
    """`slowdown` multiplies every time: the profile's concurrent_slowdown when every device of a
    shared-core CPU mesh computes at once (1.0 on devices that own their compute units)."""

    profile: CostProfile
    chip: ChipSpec
    name: str
    slowdown: float = 1.0
    _matmul: dict = field(init=False, repr=False, compare=False)
    _memory: dict = field(init=False, repr=False, compare=False)
    _roofline: AnalyticCostModel = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups: dict[tuple[str, str], tuple[list, list]] = {}
        for p in self.profile.matmuls:
            shapes, times = groups.setdefault((p.kind, p.dtype), ([], []))
            shapes.append((p.m, p.k, p.n, p.batch))
            times.append(p.time_s)
        memory: dict[str, tuple[list, list]] = {}
        for q in self.profile.memory_ops:
            nbytes, times = memory.setdefault(q.kind, ([], []))
            nbytes.append(q.bytes)
            times.append(q.time_s)
        object.__setattr__(self, "_matmul", {key: ShapeTable.build(*v) for key, v in groups.items()})
        object.__setattr__(self, "_memory", {key: BytesTable.build(*v) for key, v in memory.items()})
        object.__setattr__(self, "_roofline", AnalyticCostModel(self.chip))

    def _matmul_table(self, op: ComputeOp) -> ShapeTable | None:
        dtypes = {dtype for _, dtype in self._matmul}
        dtype = _dtype_for(matmul_element_bytes(op), dtypes)
        # Attention matmuls use their own (batched) table when measured, else the plain matmul one.
        for kind in (op.kind, "matmul"):
            if (kind, dtype) in self._matmul:
                return self._matmul[(kind, dtype)]
        return None

    def lookup(self, op: ComputeOp) -> Lookup:
        if op.matmul is not None and op.kind != "flash_attention":  # a fused kernel is no measured matmul
            table = self._matmul_table(op)
            s = op.matmul
            shape = (s.m, s.k, s.n, s.batch)
            if table is not None and table.covers(shape):
                return Lookup(self.slowdown * op.scale * table.time_s(shape), "measured")
        elif op.kind in self._memory and op.hbm_bytes > 0:
            table = self._memory[op.kind]
            full_bytes = op.hbm_bytes / op.scale
            if table.covers(full_bytes):
                return Lookup(self.slowdown * op.scale * table.time_s(full_bytes), "measured")
        return Lookup(self.slowdown * self._roofline.op_time_s(op), "roofline")

    def op_time_s(self, op: ComputeOp) -> float:
        return self.lookup(op).time_s


def load_cost_model(profile_path: Path, chip: ChipSpec) -> CalibratedCostModel:
    """The cost model an experiment's `calibration.profile` names; ConfigError for a missing or bad file."""
    profile = load_cost_profile(Path(profile_path))
    return CalibratedCostModel(profile=profile, chip=chip,
                               name=f"calibrated profile {Path(profile_path).name} ({profile.meta.device_kind})")
