"""The plan's mesh: with a topology, the TPU target too; without one, the devices at hand."""

from __future__ import annotations

import pytest

from pathsim.config.experiment import ExperimentConfig, TopologyConfig, read_yaml
from pathsim.errors import ConfigError
from pathsim.mesh.axis import MeshAxis
from pathsim.workload.xla.mesh import mesh_plan
from tests.support import REPO
from tests.workload.xla.conftest import tiny_experiment

TOPO = TopologyConfig.model_validate(read_yaml(REPO / "tests" / "workload" / "xla" / "data" / "v4_2x2x1.yaml",
                                               "topology"))


def test_a_plan_without_a_topology_has_the_same_mesh_and_rules_and_no_target():
    plan = ExperimentConfig.model_validate(tiny_experiment()).plan
    on_tpu, local = mesh_plan(plan, TOPO), mesh_plan(plan)
    assert on_tpu.target.name == "v4:2x2x1" and local.target is None
    assert local.axes == on_tpu.axes and local.rules() == on_tpu.rules()
    assert local.axes.axes == ((MeshAxis("ici", "fsdp"), 2), (MeshAxis("ici", "tensor"), 2))


def test_the_dcn_axes_must_span_the_topologys_islands():
    plan = ExperimentConfig.model_validate(tiny_experiment(**{"plan.dcn": {"data": 2}})).plan
    mesh_plan(plan)  # no topology: nothing to span
    with pytest.raises(ConfigError, match="islands"):
        mesh_plan(plan, TOPO)


def test_a_local_mesh_needs_the_devices():
    pytest.importorskip("jax")
    from pathsim.workload.xla.mesh import local_mesh

    plan = ExperimentConfig.model_validate(tiny_experiment(**{"plan.ici": {"fsdp": 4096}, "plan.placement": {}})).plan
    with pytest.raises(ConfigError, match="needs 4096 devices"):
        local_mesh(mesh_plan(plan))
