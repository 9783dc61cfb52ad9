"""Experiment --compile--> CompiledStep --import--> Program, with the report notes that put the
compiler's own figures (per-chip memory, kernel-time estimate) beside pathsim's."""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.catalog.hardware import GIB
from pathsim.catalog.kernels import COMPILER_CLOCK_HZ
from pathsim.costs import ComputeCostModel
from pathsim.experiment import ExperimentConfig, TopologyConfig
from pathsim.memory import memory_use
from pathsim.program import ComputeOp, Program
from pathsim.topology import Cluster
from pathsim.xla.compile import CompiledStep, compile_step
from pathsim.xla.hlo_import import import_hlo



@dataclass(frozen=True)
class XlaProgram:
    program: Program
    compiled: CompiledStep
    notes: tuple[str, ...]


def compiler_totals(program: Program, cost: ComputeCostModel) -> tuple[float, float | None, int]:
    """One chip's kernel time priced by `cost`, by the compiler's own estimates (None when the HLO has
    none), and the number of kernels without an estimate."""
    ops = [op for op in program.groups[0].ops if isinstance(op, ComputeOp)]
    priced = sum(cost.op_time_s(op) for op in ops)
    estimates = [op.compiler_estimate_s for op in ops if op.compiler_estimate_s is not None]
    return priced, (sum(estimates) if estimates else None), len(ops) - len(estimates)


def xla_program(exp: ExperimentConfig, topo: TopologyConfig, cluster: Cluster,
                cost: ComputeCostModel) -> XlaProgram:
    compiled = compile_step(exp, topo)
    clock = COMPILER_CLOCK_HZ.get(topo.chip)
    program = import_hlo(compiled.hlo_text, compiled.mesh, clock.value if clock else None)
    mem = memory_use(exp, cluster)
    priced, estimated, missing = compiler_totals(program, cost)
    hbm = cluster.chip.hbm_bytes
    how = (f"cache hit (compiled in {compiled.compile_s:.1f} s)" if compiled.cache_hit
           else f"compiled in {compiled.compile_s:.1f} s")
    notes = [
        f"XLA program: {compiled.target}, jax {compiled.versions['jax']}, libtpu {compiled.versions['libtpu']}, "
        f"{how}",
        f"per-chip memory: XLA {compiled.per_chip_bytes / GIB:.2f} GiB (temp {compiled.memory_bytes['temp'] / GIB:.2f}),"
        f" pathsim estimate {mem.total_bytes / GIB:.2f} GiB, of {hbm / GIB:.1f} GiB HBM"
        + (" (XLA's figure exceeds HBM, yet it compiled)" if compiled.per_chip_bytes > hbm else ""),
        f"kernel time per chip: {priced * 1e3:.1f} ms priced by {cost.name}"
        + (f", {estimated * 1e3:.1f} ms by the compiler's estimated_cycles"
           f" at {clock.value / 1e9:.2f} GHz" if estimated is not None else ", no compiler estimate (no clock "
           f"for {topo.chip})")
        + (f" ({missing} kernels without one)" if estimated is not None and missing else ""),
    ]
    return XlaProgram(program=program, compiled=compiled, notes=tuple(notes))
