"""The DCN: ring collectives between hosts, and the NICs pipeline stages share."""

import pytest

from pathsim.catalog.latencies import LATENCIES
from pathsim.config.experiment import parse_experiment, parse_topology, read_yaml
from pathsim.costs.collectives import dcn_flow_bytes, dcn_latency_s
from pathsim.engine.fabric.dcn import dcn_ring, dcn_send_flow, stage_nic_classes
from pathsim.platform.topology import build_cluster
from tests.engine.test_simulator import DCN_DATA, gather
from tests.support import placement_of, small_experiment


def test_each_member_sends_to_its_ring_successor():
    op = gather("d", axis=DCN_DATA, nbytes=3e9, collective="all_reduce")
    flows, floor_s = dcn_ring(op, [5, 7, 9], lambda a, b: {("out", a): 1.0, ("in", b): 1.0}, LATENCIES)
    assert [f.usage for f in flows] == [{("out", 5): 1.0, ("in", 7): 1.0}, {("out", 7): 1.0, ("in", 9): 1.0},
                                        {("out", 9): 1.0, ("in", 5): 1.0}]
    assert {f.nbytes for f in flows} == {dcn_flow_bytes("all_reduce", 3e9, 3)}
    assert floor_s == dcn_latency_s("all_reduce", 3, LATENCIES)


def test_a_send_pays_one_message():
    flow = dcn_send_flow(1e6, {("out", 0): 1.0}, LATENCIES)
    assert (flow.nbytes, flow.min_duration_s) == (1e6, pytest.approx(LATENCIES.dcn_message_s))


def test_without_an_ici_pipeline_no_stage_shares_a_nic(repo):
    exp = parse_experiment(small_experiment())
    cluster = build_cluster(parse_topology(read_yaml(repo / "topologies" / "tpu_v4_4x4x4.yaml", "topology")))
    assert stage_nic_classes(placement_of(exp, cluster), cluster) == ({}, cluster.chip.chips_per_host)


@pytest.mark.parametrize("dim,classes,chips_per_host", [
    ("z", {0: 0, 1: 1, 2: 2, 3: 3}, 4),  # a stage per z plane: a v4 host (a 2x2x1 tray) holds one stage
    ("x", {0: 0, 1: 0, 2: 2, 3: 2}, 2),  # a stage per x column: a host holds 2 chips each of 2 stages
])
def test_pipeline_stages_on_one_host_share_its_nic(repo, dim, classes, chips_per_host):
    exp = parse_experiment(small_experiment(plan={"ici": {"pipeline": 4, "tensor": 4, "fsdp": 4},
                                                  "microbatches": 4, "placement": {"pipeline": [dim]}}))
    cluster = build_cluster(parse_topology(read_yaml(repo / "topologies" / "tpu_v4_4x4x4.yaml", "topology")))
    assert stage_nic_classes(placement_of(exp, cluster), cluster) == (classes, chips_per_host)
