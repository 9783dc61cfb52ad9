"""pathsim's FLOP accounting against XLA's: the lowered Program's compute FLOPs on one chip, and the
FLOPs of the compiled step's HLO, each loop body counted once per iteration. (XLA's own cost_analysis()
counts a while body once: on a step whose layers run under a scan it agrees with the HLO count on one
layer and misses the others.)

XLA also counts elementwise work (softmax, GELU, norms, Adam: a few FLOPs per element) that pathsim's
lowering, like PaLM's accounting, leaves out; with head_dim 64 and d_model >= 128 that is about 1-2%.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.calibration.cases import Case, experiment
from pathsim.pipeline import lowered_program
from pathsim.workload.model import model_flops_per_token
from pathsim.workload.program import ComputeOp, Program
from pathsim.workload.xla.hlo_import import import_hlo, matmul_flops


@dataclass(frozen=True)
class FlopCheck:
    case: str
    pathsim_flops: float  # the lowered program, one chip
    palm_formula_flops: float  # 6N + 12 L H Q T per token, times the tokens of one chip
    xla_flops: float  # the compiled HLO's matmuls and elementwise work, loops expanded (hlo_flops)
    xla_dot_flops: float  # the compiled HLO's matmuls alone, loops expanded

    @property
    def relative_gap(self) -> float:
        return (self.pathsim_flops - self.xla_flops) / self.xla_flops

    @property
    def matmul_gap(self) -> float:
        return (self.pathsim_flops - self.xla_dot_flops) / self.xla_dot_flops


def program_flops(program: Program) -> float:
    """Compute FLOPs of one chip of the first group (every chip of a one-island SPMD plan runs these)."""
    return sum(op.flops for op in program.groups[0].ops if isinstance(op, ComputeOp))


def pathsim_flops(case: Case, dtype_bytes: int = 4) -> tuple[float, float]:
    exp = experiment(case, dtype_bytes)
    tokens = exp.training.global_batch_seqs * exp.model.seq_len / case.devices
    return program_flops(lowered_program(exp)), model_flops_per_token(exp.model) * tokens


def check_flops(case: Case, hlo_text: str, dtype_bytes: int = 4) -> FlopCheck:
    ours, palm = pathsim_flops(case, dtype_bytes)
    return FlopCheck(case=case.name, pathsim_flops=ours, palm_formula_flops=palm, xla_flops=hlo_flops(hlo_text),
                     xla_dot_flops=hlo_dot_flops(hlo_text))


def hlo_dot_flops(hlo_text: str) -> float:
    """Matmul FLOPs of an HLO module: 2 x output elements x contracted size over its dots and convolutions,
    a loop body's counted once per iteration (hlo_import.matmul_flops). Separates XLA's matmul FLOPs from its
    elementwise ones, so the matmul accounting can be compared exactly."""
    return matmul_flops(hlo_text)


def hlo_flops(hlo_text: str) -> float:
    """All FLOPs of an HLO module as the importer counts them (matmuls, and one per element an elementwise
    op writes or a reduction reads), loops expanded: XLA's cost_analysis() counts a while body once, so on a
    step whose layers run under a scan it misses all but one layer."""
    return program_flops(import_hlo(hlo_text))
