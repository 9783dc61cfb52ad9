import pytest

from tests.support import placement_of, small_experiment
from pathsim.config.experiment import load_experiment, parse_experiment, parse_topology
from pathsim.errors import ConfigError
from pathsim.placement.mesh_axes import AxisSegment
from pathsim.platform.topology import build_cluster
from pathsim.mesh.axis import MeshAxis

TENSOR, FSDP = MeshAxis("ici", "tensor"), MeshAxis("ici", "fsdp")


def placed(repo, shape, plan, count=1):
    topo = parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": shape, "count": count}]})
    exp = parse_experiment(small_experiment(plan=plan))
    return placement_of(exp, build_cluster(topo))


def test_palm_placement(repo):
    exp, topo = load_experiment(repo / "experiments" / "palm540b.yaml")
    p = placement_of(exp, build_cluster(topo))
    assert p.axis(TENSOR).segments == (AxisSegment("x", 12, 1, True),)
    assert [s.dim for s in p.axis(FSDP).segments] == ["y", "z"]
    assert p.group_islands == (0, 1) and p.chips_per_group == 3072


def test_auto_placement_prefers_whole_dims(repo):
    p = placed(repo, [12, 16, 16], {"ici": {"tensor": 16, "fsdp": 192}})
    assert p.axis(TENSOR).segments == (AxisSegment("y", 16, 1, True),)
    assert p.axis(FSDP).segments == (AxisSegment("x", 12, 1, True), AxisSegment("z", 16, 1, True))


def test_partial_dims_are_lines_then_strided_rings(repo):
    p = placed(repo, [12, 16, 16], {"ici": {"tensor": 4, "fsdp": 768}, "placement": {"tensor": ["x:4"]}})
    assert p.axis(TENSOR).segments == (AxisSegment("x", 4, 1, False),)
    fsdp = {s.dim: s for s in p.axis(FSDP).segments}
    # What is left of x (3 chips, 4 apart) spans the wrapped ring: each logical hop crosses 4 links.
    assert fsdp["x"] == AxisSegment("x", 3, 4, True)
    assert fsdp["x"].link_load == 4.0


def test_mesh_must_cover_the_island(repo):
    with pytest.raises(ConfigError, match="plan.ici"):
        placed(repo, [4, 4, 4], {"ici": {"tensor": 4, "fsdp": 8}})


def test_dcn_axes_must_cover_the_islands(repo):
    with pytest.raises(ConfigError, match="plan.dcn"):
        placed(repo, [4, 4, 4], {"ici": {"tensor": 4, "fsdp": 16}, "dcn": {"data": 3}}, count=2)


def test_explicit_placement_errors(repo):
    with pytest.raises(ConfigError, match="plan.placement.tensor"):
        placed(repo, [4, 4, 4], {"ici": {"tensor": 4, "fsdp": 16}, "placement": {"tensor": ["w"]}})
    with pytest.raises(ConfigError, match="plan.placement.tensor"):
        placed(repo, [4, 4, 4], {"ici": {"tensor": 4, "fsdp": 16}, "placement": {"tensor": ["x:3"]}})
