"""Report notes on an imported XLA program: the compiler's per-chip memory and kernel-time estimate beside
pathsim's own memory estimate and the cost model's pricing of the same kernels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathsim.catalog.hardware import GIB
from pathsim.catalog.kernels import COMPILER_CLOCK_HZ
from pathsim.costs.compute import ComputeCostModel
from pathsim.workload.memory import MemoryUse
from pathsim.platform.topology import Cluster
from pathsim.workload.program import ComputeOp, Program

if TYPE_CHECKING:  # annotations only: importing the XLA source is left to the api's xla path
    from pathsim.workload.xla.program import XlaProgram


def compiler_totals(program: Program, cost: ComputeCostModel) -> tuple[float, float | None, int]:
    """One chip's kernel time priced by `cost`, by the compiler's own estimates (None when the HLO has
    none), and the number of kernels without an estimate."""
    ops = [op for op in program.groups[0].ops if isinstance(op, ComputeOp)]
    priced = sum(cost.op_time_s(op) for op in ops)
    estimates = [op.compiler_estimate_s for op in ops if op.compiler_estimate_s is not None]
    return priced, (sum(estimates) if estimates else None), len(ops) - len(estimates)


def xla_notes(cluster: Cluster, cost: ComputeCostModel, imported: XlaProgram, mem: MemoryUse) -> tuple[str, ...]:
    """`mem` is pathsim's own estimate for the same plan, shown beside the compiler's figure."""
    compiled, program = imported.compiled, imported.program
    chip = cluster.chip.name
    clock = COMPILER_CLOCK_HZ.get(chip)
    priced, estimated, missing = compiler_totals(program, cost)
    hbm = mem.hbm_bytes  # what the compiler gives one program (catalog COMPILER_HBM_GIB)
    how = (f"cache hit (compiled in {compiled.compile_s:.1f} s)" if compiled.cache_hit
           else f"compiled in {compiled.compile_s:.1f} s")
    notes = [
        f"XLA program: {compiled.target}, jax {compiled.versions['jax']}, libtpu {compiled.versions['libtpu']}, "
        f"{how}",
        f"XLA flags: {compiled.flags.text()}",
        f"per-chip memory: XLA {compiled.per_chip_bytes / GIB:.2f} GiB (temp {compiled.temp_bytes / GIB:.2f}"
        + (", the heap as memory_analysis reports it: the compiler's log gave no fragmentation to count once"
           if "temp_fragmentation" not in compiled.memory_bytes else "") + "),"
        f" pathsim estimate {mem.total_bytes / GIB:.2f} GiB, of {hbm / GIB:.2f} GiB HBM the compiler gives a"
        f" program ({cluster.chip.hbm_bytes / GIB:.1f} GiB in the chip catalog)"
        + (" (XLA's figure exceeds it: the compile for the target did not refuse it)"
           if compiled.per_chip_bytes > hbm else ""),
        *host_note(compiled.memory_bytes.get("host_temp"), mem.offloaded_bytes),
        f"kernel time per chip: {priced * 1e3:.1f} ms priced by {cost.name}"
        + (f", {estimated * 1e3:.1f} ms by the compiler's estimated_cycles"
           f" at {clock.value / 1e9:.2f} GHz" if estimated is not None else ", no compiler estimate (no clock "
           f"for {chip})")
        + (f" ({missing} kernels without one)" if estimated is not None and missing else ""),
    ]
    return tuple(notes)


def host_note(xla_host_bytes: float | None, offloaded_bytes: float) -> tuple[str, ...]:
    """The host memory the compiled step's offloaded tensors use beside the estimate's offloaded bytes;
    nothing when neither offloads, or the compile predates the figure and the estimate offloads nothing."""
    if not xla_host_bytes and not offloaded_bytes:
        return ()
    xla = "not recorded (compiled before it was)" if xla_host_bytes is None else f"{xla_host_bytes / GIB:.2f} GiB"
    return (f"host memory per chip (offloaded tensors): XLA {xla}, pathsim estimate {offloaded_bytes / GIB:.2f} GiB",)
