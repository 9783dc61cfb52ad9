"""The plan's mesh: axes and sizes, the axes that separate device groups, layers over stages."""

import pytest

from pathsim.config.experiment import PlanConfig
from pathsim.errors import ConfigError
from pathsim.mesh.plan import mesh_of, stage_layers
from pathsim.mesh.axis import MeshAxis

ICI, DCN = "ici", "dcn"


def test_the_mesh_lists_every_axis_ici_first_and_names_the_group_axes():
    mesh = mesh_of(PlanConfig(ici={"tensor": 4, "pipeline": 2, "fsdp": 8}, dcn={"data": 2}))
    assert mesh.axes == ((MeshAxis(ICI, "tensor"), 4), (MeshAxis(ICI, "pipeline"), 2), (MeshAxis(ICI, "fsdp"), 8),
                         (MeshAxis(DCN, "data"), 2))
    # DCN axes and the ICI pipeline separate groups; the other ICI axes fold into one group of 4 x 8 chips.
    assert mesh.group_axes == ((MeshAxis(DCN, "data"), 2), (MeshAxis(ICI, "pipeline"), 2))
    assert mesh.ici_chips_per_group == 32
    assert mesh.size(MeshAxis(ICI, "data")) == 1


def test_fsdp_and_pipeline_live_where_the_plan_puts_them():
    assert mesh_of(PlanConfig(ici={"fsdp": 4})).axis_of("fsdp") == MeshAxis(ICI, "fsdp")
    assert mesh_of(PlanConfig(ici={"tensor": 4}, dcn={"fsdp": 2})).axis_of("fsdp") == MeshAxis(DCN, "fsdp")
    assert mesh_of(PlanConfig(ici={"tensor": 4})).axis_of("pipeline") == MeshAxis(ICI, "pipeline")


@pytest.mark.parametrize("plan, field", [
    (PlanConfig(ici={"fsdp": 4}, dcn={"tensor": 2}), "plan.dcn.tensor"),
    (PlanConfig(ici={"fsdp": 4}, dcn={"fsdp": 2}), "plan.dcn.fsdp"),
])
def test_a_plan_the_mesh_cannot_hold_names_its_field(plan, field):
    with pytest.raises(ConfigError) as err:
        mesh_of(plan)
    assert err.value.field == field


def test_layers_split_evenly_and_earlier_stages_take_the_remainder():
    assert [len(stage_layers(4, 2, s)) for s in range(2)] == [2, 2]
    assert [list(stage_layers(5, 2, s)) for s in range(2)] == [[0, 1, 2], [3, 4]]
