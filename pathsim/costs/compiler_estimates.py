"""The compiler's own kernel costs: each kernel of an imported XLA program at its `estimated_cycles` over
the chip's clock (pathsim/catalog/kernels.py COMPILER_CLOCK_HZ, with sources).

libtpu's per-kernel estimate is the chip maker's model of the chip; for a chip with no public kernel
timings (TPU v4) it is the best kernel-level source there is. Kernels that carry no estimate (custom calls,
some unfused ops) fall back to another model, and the report counts them. Only imported programs carry
estimates: the lowering's kernels have none, so this model needs `program: xla`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.catalog.hardware import ChipSpec
from pathsim.catalog.kernels import COMPILER_CLOCK_HZ
from pathsim.costs.collectives import LinkTiming
from pathsim.costs.compute import ComputeCostModel
from pathsim.errors import ConfigError
from pathsim.workload.program import ComputeOp


@dataclass(frozen=True)
class CompilerEstimateCostModel:
    """A kernel at the compiler's estimate, or at `fallback`'s price when it has none."""

    fallback: ComputeCostModel
    links: LinkTiming  # collectives keep the chip's measured link figures
    clock_hz: float

    @property
    def name(self) -> str:
        return (f"compiler's estimated_cycles at {self.clock_hz / 1e9:.2f} GHz "
                f"(kernels without one: {self.fallback.name})")

    def op_time_s(self, op: ComputeOp) -> float:
        return op.compiler_estimate_s if op.compiler_estimate_s is not None else self.fallback.op_time_s(op)


def compiler_clock_hz(chip: ChipSpec) -> float:
    """The clock `estimated_cycles` count in on `chip`; a one-line error for a chip with no sourced clock."""
    clock = COMPILER_CLOCK_HZ.get(chip.name)
    if clock is None:
        raise ConfigError("cost_model", f"compiler estimates need the clock they count in, and {chip.name} has "
                          f"no published one (known: {', '.join(sorted(COMPILER_CLOCK_HZ))}); use tpu_kernels")
    return clock.value
