"""cost_model: compiler on a tiny compiled step: kernels at the compiler's estimated_cycles over the clock."""

from __future__ import annotations

import subprocess
import sys


from pathsim.api import simulate_config
from pathsim.catalog.hardware import chip_spec
from pathsim.catalog.kernels import COMPILER_CLOCK_HZ
from pathsim.catalog.xla_flags import resolve_flags
from pathsim.config.experiment import ExperimentConfig, TopologyConfig, read_yaml
from pathsim.costs.registry import cost_model_named
from pathsim.workload.program import ComputeOp
from pathsim.workload.xla.program import xla_program
from tests.support import REPO
from tests.workload.xla.conftest import NEEDS_TPU_COMPILER, tiny_experiment

DATA = REPO / "tests" / "workload" / "xla" / "data"


def _configs(**overrides) -> tuple[ExperimentConfig, TopologyConfig]:
    exp = ExperimentConfig.model_validate(tiny_experiment(**overrides))
    return exp, TopologyConfig.model_validate(read_yaml(DATA / "v4_2x2x1.yaml", "topology"))


@NEEDS_TPU_COMPILER
def test_each_kernel_costs_its_estimated_cycles_over_the_v4_clock():
    exp, topo = _configs(cost_model="compiler")
    program = xla_program(exp.model, exp.training, exp.plan, topo, resolve_flags(exp.xla_flags, topo.chip)).program
    ops = [op for op in program.groups[0].ops if isinstance(op, ComputeOp)]
    with_estimate = [op for op in ops if op.compiler_estimate_s is not None]
    assert len(with_estimate) > 0.9 * len(ops)  # TPU HLO carries an estimate on nearly every kernel
    chip_model = cost_model_named("compiler", chip_spec("tpu_v4"))
    assert COMPILER_CLOCK_HZ["tpu_v4"].value == 1.05e9
    for op in with_estimate[:20]:
        assert chip_model.op_time_s(op) == op.compiler_estimate_s


@NEEDS_TPU_COMPILER
def test_the_step_moves_with_the_cost_model_and_the_report_names_it():
    by_kernels = simulate_config(*_configs())
    by_compiler = simulate_config(*_configs(cost_model="compiler"))
    assert by_compiler.cost_model.startswith("compiler's estimated_cycles at 1.05 GHz")
    assert by_compiler.metrics.step_time_s != by_kernels.metrics.step_time_s
    assert by_compiler.metrics.mfu > 0 and by_kernels.metrics.mfu > 0


def test_the_cli_refuses_compiler_costs_for_the_lowered_program():
    proc = subprocess.run([sys.executable, "-m", "pathsim.cli", "run", str(REPO / "experiments" / "palm540b.yaml"),
                           "--cost-model", "compiler"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "error: cost_model: compiler prices the kernels of a compiled program by the compiler's own estimates: "
        "it needs program: xla (or --program xla)"]
