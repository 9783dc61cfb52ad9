"""Model, training, plan --compile--> CompiledStep --import--> Program: the second source of Programs, beside the
lowering. The report notes that put the compiler's own figures (per-chip memory, kernel-time estimate)
beside pathsim's are pathsim.results.xla_notes."""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.catalog.kernels import COMPILER_CLOCK_HZ
from pathsim.catalog.xla_flags import CompileFlags
from pathsim.config.experiment import ModelConfig, PlanConfig, TopologyConfig, TrainingConfig
from pathsim.workload.program import Program
from pathsim.workload.xla.compile import CompiledStep, compile_step
from pathsim.workload.xla.hlo_import import import_hlo


@dataclass(frozen=True)
class XlaProgram:
    program: Program
    compiled: CompiledStep


def xla_program(model: ModelConfig, training: TrainingConfig, plan: PlanConfig, topo: TopologyConfig,
                flags: CompileFlags) -> XlaProgram:
    compiled = compile_step(model, training, plan, topo, flags)
    clock = COMPILER_CLOCK_HZ.get(topo.chip)
    program = import_hlo(compiled.hlo_text, compiled.mesh, clock.value if clock else None)
    return XlaProgram(program=program, compiled=compiled)
