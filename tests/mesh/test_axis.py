"""The typed mesh axis: printed as users write it, parsed back, refused when it names no axis."""

import pytest

from pathsim.config.experiment import AXIS_KINDS
from pathsim.mesh.axis import NETWORKS, MeshAxis


def test_prints_as_the_plan_key_and_parses_back():
    axis = MeshAxis("dcn", "data")
    assert str(axis) == "dcn.data" and f"plan.{axis}" == "plan.dcn.data"
    for network in NETWORKS:
        for kind in AXIS_KINDS:
            assert MeshAxis.parse(str(MeshAxis(network, kind))) == MeshAxis(network, kind)


def test_is_a_value():
    assert MeshAxis.parse("ici.fsdp") == MeshAxis("ici", "fsdp")
    assert {MeshAxis("ici", "fsdp"): 1}[MeshAxis.parse("ici.fsdp")] == 1
    with pytest.raises(AttributeError):
        MeshAxis("ici", "fsdp").kind = "data"  # frozen: safe as a dict key


def test_sorts_as_the_printed_names():
    axes = [MeshAxis(n, k) for n in NETWORKS for k in AXIS_KINDS]
    assert [str(a) for a in sorted(axes)] == sorted(str(a) for a in axes)


@pytest.mark.parametrize("text", ["ici", "ici.", "nvlink.data", "ici.model", "ici.fsdp.x", "dcn_data", ""])
def test_refuses_what_names_no_axis(text):
    with pytest.raises(ValueError, match="no mesh axis"):
        MeshAxis.parse(text)
