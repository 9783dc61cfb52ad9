import networkx as nx
import pytest

from pathsim.config.experiment import parse_topology
from pathsim.errors import ConfigError
from pathsim.platform.topology import build_cluster, ici_subgraph


def cluster(shape, chip="tpu_v4", count=1):
    return build_cluster(parse_topology({"name": "t", "chip": chip, "islands": [{"shape": shape, "count": count}]}))


def test_cube_counts_and_diameter():
    c = cluster([4, 4, 4])
    island = c.islands[0]
    assert c.chips == 64 and c.hosts == 16
    assert island.wraparound == (True, True, True)
    g = ici_subgraph(c, 0)
    assert g.number_of_nodes() == 64
    assert g.number_of_edges() == 64 * 3  # a 3D torus: 6 links per chip, each shared by two chips
    assert nx.diameter(g) == island.ici_diameter_hops() == 6


def test_small_slice_has_no_wraparound():
    c = cluster([2, 2, 4])
    island = c.islands[0]
    assert island.wraparound == (False, False, False)
    g = ici_subgraph(c, 0)
    # A 2x2x4 mesh: (1*2*4) + (2*1*4) + (2*2*3) links.
    assert g.number_of_edges() == 8 + 8 + 12
    assert nx.diameter(g) == island.ici_diameter_hops() == 1 + 1 + 3


def test_palm_pods():
    c = cluster([12, 16, 16], count=2)
    assert c.chips == 6144 and c.hosts == 1536
    assert [i.name for i in c.islands] == ["island0", "island1"]
    assert c.islands[0].ici_diameter_hops() == 6 + 8 + 8
    g = c.graph()
    hosts = [n for n, d in g.nodes(data=True) if d["kind"] == "host"]
    assert len(hosts) == 1536
    assert g.degree[("dcn",)] == 1536


def test_slices_are_whole_cubes_or_fit_in_one():
    assert cluster([8, 16, 24]).islands[0].wraparound == (True, True, True)
    with pytest.raises(ConfigError, match="whole 4x4x4 cubes"):
        cluster([4, 4, 6])
    with pytest.raises(ConfigError, match="at most 4"):
        cluster([1, 2, 8])


def test_twisted_torus_shapes():
    twisted = build_cluster(parse_topology({"name": "t", "chip": "tpu_v4",
                                            "islands": [{"shape": [4, 4, 8], "twisted": True}]}))
    assert twisted.islands[0].all_to_all_gain == pytest.approx(1.63)
    wide = build_cluster(parse_topology({"name": "t", "chip": "tpu_v4",
                                         "islands": [{"shape": [4, 8, 8], "twisted": True}]}))
    assert wide.islands[0].all_to_all_gain == pytest.approx(1.31)
    assert cluster([4, 4, 8]).islands[0].all_to_all_gain == 1.0
    with pytest.raises(ConfigError, match="topology.islands.0.twisted"):
        build_cluster(parse_topology({"name": "t", "chip": "tpu_v4",
                                      "islands": [{"shape": [4, 8, 12], "twisted": True}]}))


def test_2d_chip_needs_2d_shape():
    with pytest.raises(ConfigError, match="topology.islands.0.shape"):
        cluster([4, 4, 4], chip="tpu_v5e")


def test_unknown_chip():
    with pytest.raises(ConfigError, match="topology.chip"):
        cluster([4, 4, 4], chip="tpu_v9")


def test_slice_larger_than_pod():
    with pytest.raises(ConfigError, match="exceed"):
        cluster([16, 16, 20])


def test_overrides_change_the_chip():
    c = build_cluster(parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 4]}],
                                      "overrides": {"ici_link_bytes_per_s": 1e10}}))
    assert c.chip.ici_link_bytes_per_s == 1e10
    assert c.overrides == (("ici_link_bytes_per_s", 1e10),)


def test_more_islands_than_a_deployment_holds_are_refused():
    from pathsim.platform.topology import MAX_ISLANDS

    topo = parse_topology({"name": "t", "chip": "tpu_v4",
                           "islands": [{"shape": [4, 4, 4], "count": 1024}, {"shape": [4, 4, 4], "count": 2}]})
    with pytest.raises(ConfigError, match=f"at most {MAX_ISLANDS}") as err:
        build_cluster(topo)
    assert err.value.field == "topology.islands"
