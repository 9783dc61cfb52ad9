"""KernelCostModel: each op of a program imported from XLA costs the time its kernel was measured to take
inside the real step (its StepKernelTimings), looked up by HLO instruction name.

An op the kernel timings do not hold (an instruction the runtime never ran as a thunk, or a renamed one) falls
back to a roofline of the measured chip and is counted, so a report can say how much was not measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.costs.calibrated.model import Lookup
from pathsim.costs.compute import ComputeCostModel
from pathsim.workload.program import ComputeOp


@dataclass(frozen=True)
class KernelCostModel:
    times_s: dict[str, float]  # HLO instruction name -> seconds per call
    fallback: ComputeCostModel
    name: str

    def lookup(self, op: ComputeOp) -> Lookup:
        time_s = self.times_s.get(op.name)
        if time_s is not None:
            return Lookup(time_s, "measured")
        return Lookup(self.fallback.op_time_s(op), "roofline")

    def op_time_s(self, op: ComputeOp) -> float:
        return self.lookup(op).time_s
