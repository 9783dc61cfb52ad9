"""FoldedFabric: one unit per group, a representative chip's links and its share of the host's NIC."""

import pytest

from pathsim.config.experiment import parse_topology
from pathsim.engine.fabric import Fabric, FoldedFabric
from pathsim.placement.mesh_axes import Placement
from pathsim.platform.topology import build_cluster
from pathsim.workload.program import GroupProgram, Program
from tests.engine.test_simulator import AXES, DCN_DATA, TENSOR, gather


@pytest.fixture
def two_islands():
    """Two groups, one per island, along the DCN data axis."""
    cluster = build_cluster(parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 4],
                                                                                         "count": 2}]}))
    groups = tuple(GroupProgram(name=f"g{i}", coords=((DCN_DATA, i),), ops=(), chips=64) for i in range(2))
    program = Program(groups=groups, group_axes=((DCN_DATA, 2),), computations=("train",))
    return FoldedFabric(program, Placement(axes=AXES, group_islands=(0, 1), chips_per_group=64), cluster)


def test_folded_fabric_is_a_fabric(two_islands):
    assert isinstance(two_islands, Fabric)
    assert [u.name for u in two_islands.units] == ["g0", "g1"] and [u.island for u in two_islands.units] == [0, 1]


def test_an_ici_collective_is_the_group_alone_a_dcn_one_spans_the_groups(two_islands):
    assert two_islands.members(1, gather("t", axis=TENSOR)) == ((1,), [1])
    _, members = two_islands.members(1, gather("d", axis=DCN_DATA, collective="all_reduce"))
    assert members == [0, 1]


def test_a_unit_has_a_share_of_its_hosts_nic(two_islands):
    # 4 chips per v4 host: each group's representative chip gets a quarter of the host's DCN bandwidth.
    chip = two_islands.chip
    nics = {r: c for r, c in two_islands.capacity.items() if len(r) == 4 and r[1] == "nic"}
    assert len(nics) == 4 and set(nics.values()) == {chip.dcn_bytes_per_s_per_host / 4}


def test_an_ici_collective_loads_the_units_own_links(two_islands):
    flows, floor_s = two_islands.flows(gather("t", axis=TENSOR), [0])
    assert len(flows) == 1 and floor_s >= 0.0
    assert {name for name, _ in flows[0].usage} == {"g0"}
