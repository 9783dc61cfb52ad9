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


@dataclass(frozen=True)
class AutodiffResiduals:
    """What JAX's autodiff keeps of a layer's elementwise ops for the backward pass, beside the inputs of
    the matmuls (which every matmul keeps). Measured with jax 0.10.2's `saved_residuals` on the compiled
    step's ops (pathsim/workload/xla/step.py; tests/catalog/test_software.py measures them again); XLA's
    program without remat stores the same norm and SwiGLU residuals, one buffer each per layer
    (studies/memory_corpus.py, docs/memory.md)."""

    # RMS norm: its input in f32 and that times the rsqrt (the statistics are per row, negligible).
    norm_f32_copies: int = 2
    # Per element of the MLP's hidden width, beyond its input (gate and up) and its output (the down
    # projection's input): SwiGLU's silu keeps the sigmoid, its derivative term and silu itself; the tanh
    # GELU keeps four intermediates; ReLU a boolean mask (counted as one byte).
    activation_copies: tuple[tuple[str, int], ...] = (("swiglu", 3), ("gelu", 4), ("relu", 0))
    relu_mask_bytes: int = 1


AUTODIFF = AutodiffResiduals()


def activation_residual_bytes(mlp: str, act_bytes: int) -> int:
    """Bytes per hidden element the MLP's activation keeps for its backward, beyond its input and output."""
    copies = dict(AUTODIFF.activation_copies)[mlp] * act_bytes
    return copies + (AUTODIFF.relu_mask_bytes if mlp == "relu" else 0)


def optimizer_moments(optimizer: str) -> int:
    return dict(SOFTWARE.optimizer_moments)[optimizer]


# Host memory one XLA compile of a PaLM-sized step holds at its peak: how many compiles may run at once.
XLA_COMPILE_PEAK_BYTES = Sourced(5.46 * GIB, "peak RSS of the compile's child process, PaLM 540B on two TPU v4 "
                                 "pods (bench/bench_xla_compile.py; docs/xla.md, Compile cost)")
