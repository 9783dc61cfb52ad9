"""Assumptions about the software stack (XLA on TPU, T5X), each documented; none is fitted to a result."""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.catalog.hardware import GIB, Sourced


@dataclass(frozen=True)
class SoftwareAssumptions:
    # Softmax scores and the optimizer's moments are kept in f32 (XLA TPU and T5X defaults).
    f32_bytes: int = 4
    # Optimizer moments per parameter: Adam and unfactored Adafactor with momentum keep two
    # (PaLM paper, section 5: "Adafactor without factorization (first and second moments kept)"); SGD none.
    optimizer_moments: tuple[tuple[str, int], ...] = (("adafactor", 2), ("adam", 2), ("sgd", 0))


SOFTWARE = SoftwareAssumptions()


def optimizer_moments(optimizer: str) -> int:
    return dict(SOFTWARE.optimizer_moments)[optimizer]


# Host memory one XLA compile of a PaLM-sized step holds at its peak: how many compiles may run at once.
XLA_COMPILE_PEAK_BYTES = Sourced(5.46 * GIB, "peak RSS of the compile's child process, PaLM 540B on two TPU v4 "
                                 "pods (bench/bench_xla_compile.py; docs/xla.md, Compile cost)")
