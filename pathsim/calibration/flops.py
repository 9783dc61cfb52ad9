"""pathsim's FLOP accounting against XLA's: the lowered Program's compute FLOPs on one chip, and the
FLOPs XLA's cost analysis counts in the compiled step.

XLA also counts elementwise work (softmax, GELU, norms, Adam: a few FLOPs per element) that pathsim's
lowering, like PaLM's accounting, leaves out; with head_dim 64 and d_model >= 128 that is about 1-2%.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pathsim.calibration.cases import Case, experiment
from pathsim.pipeline import lowered_program
from pathsim.workload.model import model_flops_per_token
from pathsim.workload.program import ComputeOp, Program


@dataclass(frozen=True)
class FlopCheck:
    case: str
    pathsim_flops: float  # the lowered program, one chip
    palm_formula_flops: float  # 6N + 12 L H Q T per token, times the tokens of one chip
    xla_flops: float  # cost_analysis()["flops"]: matmuls and elementwise work
    xla_dot_flops: float  # the dots of the compiled HLO alone

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


def check_flops(case: Case, xla_flops: float, hlo_text: str, dtype_bytes: int = 4) -> FlopCheck:
    ours, palm = pathsim_flops(case, dtype_bytes)
    return FlopCheck(case=case.name, pathsim_flops=ours, palm_formula_flops=palm, xla_flops=xla_flops,
                     xla_dot_flops=hlo_dot_flops(hlo_text))


_DEF = re.compile(r"%([\w.\-]+) = \w+\[([\d,]*)\]")
_DOT = re.compile(r"= \w+\[([\d,]*)\]\S* dot\(%([\w.\-]+), %[\w.\-]+\).*?lhs_contracting_dims=\{([\d,]*)\}")


def _dims(text: str) -> list[int]:
    return [int(d) for d in text.split(",") if d]


def hlo_dot_flops(hlo_text: str) -> float:
    """Matmul FLOPs of an HLO module: 2 x output elements x contracted size, summed over its dots.

    Separates XLA's matmul FLOPs from its elementwise ones, so the matmul accounting can be compared
    exactly. Assumes each computation holding a dot runs once (true of the unrolled step here)."""
    shapes = {name: _dims(dims) for name, dims in _DEF.findall(hlo_text)}
    total = 0.0
    for out, lhs, contracting in _DOT.findall(hlo_text):
        lhs_shape = shapes[lhs]
        total += 2.0 * math.prod(_dims(out)) * math.prod(lhs_shape[i] for i in _dims(contracting))
    return total
