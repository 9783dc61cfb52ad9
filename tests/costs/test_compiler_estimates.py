"""cost_model: compiler: a kernel at the compiler's estimate, a kernel without one at the fallback's price."""

from __future__ import annotations

import pytest

from pathsim.api import cost_model_for
from pathsim.catalog.hardware import chip_spec
from pathsim.config.experiment import ExperimentConfig
from pathsim.costs.compiler_estimates import CompilerEstimateCostModel
from pathsim.costs.compute import AnalyticCostModel
from pathsim.costs.registry import cost_model_named
from pathsim.errors import ConfigError
from pathsim.platform.topology import build_cluster
from pathsim.config.experiment import TopologyConfig, read_yaml
from pathsim.workload.program import ComputeOp
from tests.support import REPO, small_experiment


def _op(estimate_s: float | None) -> ComputeOp:
    return ComputeOp(name="k", kind="elementwise", phase="forward", flops=0.0, hbm_bytes=1.2e9,
                     compiler_estimate_s=estimate_s)


def test_a_kernel_is_priced_at_its_estimate_or_at_the_fallback():
    v4 = chip_spec("tpu_v4")
    fallback = AnalyticCostModel(v4)
    model = CompilerEstimateCostModel(fallback=fallback, links=None, clock_hz=1.05e9)
    assert model.op_time_s(_op(3.5e-3)) == 3.5e-3
    assert model.op_time_s(_op(None)) == pytest.approx(1.2e9 / v4.hbm_bytes_per_s)  # 1.2 GB at spec HBM rate


def test_the_registry_builds_it_from_the_chip_clock_with_the_kernel_model_behind():
    model = cost_model_named("compiler", chip_spec("tpu_v4"))
    assert model.clock_hz == 1.05e9 and "1.05 GHz" in model.name and "TPU kernel model" in model.name
    assert model.links.name == "measured TPU link figures"


def test_a_chip_without_a_sourced_clock_is_refused_naming_the_field():
    with pytest.raises(ConfigError) as err:
        cost_model_named("compiler", chip_spec("tpu_v5p"))
    assert err.value.field == "cost_model" and "tpu_v4" in str(err.value)


def test_the_lowered_program_has_no_estimates_to_read():
    exp = ExperimentConfig.model_validate(small_experiment(cost_model="compiler"))
    topo = TopologyConfig.model_validate(read_yaml(REPO / "topologies" / "tpu_v4_4x4x4.yaml", "topology"))
    with pytest.raises(ConfigError) as err:
        cost_model_for(exp, build_cluster(topo), None)
    assert err.value.field == "cost_model" and "program: xla" in str(err.value)
