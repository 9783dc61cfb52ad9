"""The engine on tiny programs whose timelines are worked out by hand in each test's comment."""

import dataclasses
from dataclasses import dataclass

import pytest

from pathsim.catalog.latencies import LATENCIES
from pathsim.config.experiment import parse_topology
from pathsim.costs.collectives import closed_form_time_s, dcn_chip_bytes_per_s
from pathsim.engine import simulate
from pathsim.placement.mesh_axes import AxisPlacement, AxisSegment, Placement
from pathsim.platform.topology import build_cluster
from pathsim.mesh.axis import MeshAxis
from pathsim.workload.program import CommOp, ComputeOp, GroupProgram, Program, RecvOp

W = 2 * 4.5e10  # one v4 chip's bandwidth on one torus dim
V = 4e9  # an all-gather of 4 GB over a ring of 4 moves 3 GB per chip: 1/30 s
T_AG = V * 3 / 4 / W
TENSOR, FSDP, PIPELINE, DCN_DATA = (MeshAxis("ici", "tensor"), MeshAxis("ici", "fsdp"), MeshAxis("ici", "pipeline"),
                                    MeshAxis("dcn", "data"))


@dataclass(frozen=True)
class OneTeraflop:
    """Ops take flops / 1e12 seconds: 1e12 FLOPs is one second."""

    name: str = "test"

    def op_time_s(self, op):
        return op.flops / 1e12


def compute(name, seconds, deps=()):
    return ComputeOp(name=name, kind="matmul", phase="forward", flops=seconds * 1e12, hbm_bytes=0.0, deps=deps)


def gather(name, axis=TENSOR, deps=(), nbytes=V, collective="all_gather"):
    return CommOp(name=name, collective=collective, axis=axis, bytes=nbytes, phase="forward", deps=deps, key=name)


AXES = (
    AxisPlacement(TENSOR, 4, (AxisSegment("x", 4, 1, True),)),
    AxisPlacement(FSDP, 16, (AxisSegment("y", 4, 1, True), AxisSegment("z", 4, 1, True))),
    AxisPlacement(DCN_DATA, 2),
    AxisPlacement(PIPELINE, 4, (AxisSegment("z", 4, 1, True),)),
)


def run(groups_ops, group_axes=(), islands=1, computations=("train",), **simulate_kwargs):
    topo = parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 4], "count": islands}]})
    cluster = build_cluster(topo)
    groups = []
    for i, ops in enumerate(groups_ops):
        coords = tuple((a, i) for a, _ in group_axes)
        groups.append(GroupProgram(name=f"g{i}", coords=coords, ops=tuple(ops), chips=64))
    program = Program(groups=tuple(groups), group_axes=tuple(group_axes), computations=computations)
    island_of = tuple(i if islands > 1 else 0 for i in range(len(groups)))
    placement = Placement(axes=AXES, group_islands=island_of, chips_per_group=64)
    return simulate(program, placement, cluster, OneTeraflop(), **simulate_kwargs)


def test_compute_runs_one_kernel_at_a_time():
    # No dependencies, but one stream: 1 s + 2 s.
    assert run([[compute("a", 1.0), compute("b", 2.0)]]).end_s == pytest.approx(3.0)


def test_collective_overlaps_independent_compute():
    # The gather (1/30 s) runs under the 1 s compute; b waits for both: 1 + 0.5 s.
    tl = run([[gather("ag"), compute("a", 1.0), compute("b", 0.5, deps=(0, 1))]])
    assert tl.end_s == pytest.approx(1.5)


def test_exposed_collective_adds_its_time():
    # a (1 s) -> gather (1/30 s) -> b (1 s).
    tl = run([[compute("a", 1.0), gather("ag", deps=(0,)), compute("b", 1.0, deps=(1,))]])
    assert tl.end_s == pytest.approx(2.0 + T_AG)


def test_uncontended_collective_equals_closed_form():
    for collective, axis in (("all_gather", 0), ("all_reduce", 0), ("reduce_scatter", 1), ("all_to_all", 1)):
        tl = run([[gather("c", axis=AXES[axis].axis, collective=collective)]])
        assert tl.end_s == pytest.approx(closed_form_time_s(collective, V, AXES[axis], build_cluster(
            parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 4]}]})).chip))


def test_concurrent_collectives_on_one_dim_share_it():
    # Two gathers on the x links at once get half the bandwidth each: both end at 2 T.
    tl = run([[gather("a"), gather("b")]])
    assert tl.end_s == pytest.approx(2 * T_AG)


def test_collectives_on_different_dims_do_not_interfere():
    # tensor on x, fsdp on y and z (twice the bandwidth, 15/16 of V per chip).
    tl = run([[gather("a"), gather("b", axis=FSDP)]])
    assert tl.end_s == pytest.approx(max(T_AG, V * 15 / 16 / (2 * W)))


def test_max_min_fairness_gives_leftover_to_the_unconstrained_flow():
    # A starts alone on x; B (on x) joins after 0.01 s compute: they share until A ends.
    # A: 0.01 s alone at W moves 0.01 W; then both at W/2. Total bytes per chip 3e9.
    tl = run([[gather("a"), compute("c", 0.01), gather("b", deps=(1,))]])
    b_per_chip = 3e9
    a_left = b_per_chip - 0.01 * W
    a_end = 0.01 + a_left / (W / 2)
    b_moved_shared = (a_end - 0.01) * W / 2
    b_end = a_end + (b_per_chip - b_moved_shared) / W
    assert tl.end_s == pytest.approx(b_end)


def test_dcn_all_reduce_waits_for_the_slowest_member():
    # Gang semantics: group 1 computes 2 s, so the exchange starts at 2 s and moves V per chip.
    nbytes = 1e9
    ops0 = [compute("a", 1.0), gather("dcn", axis=DCN_DATA, deps=(0,), nbytes=nbytes, collective="all_reduce")]
    ops1 = [compute("a", 2.0), gather("dcn", axis=DCN_DATA, deps=(0,), nbytes=nbytes, collective="all_reduce")]
    tl = run([ops0, ops1], group_axes=((DCN_DATA, 2),), islands=2)
    chip = build_cluster(parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 4]}]})).chip
    assert tl.end_s == pytest.approx(2.0 + max(nbytes / dcn_chip_bytes_per_s(chip), LATENCIES.dcn_message_s))


def test_pipeline_send_and_receive():
    # Stage 0 computes 1 s and sends 0.9 GB over one z link (4.5e10 B/s): stage 1 starts at 1.02 s.
    send = CommOp(name="s", collective="send", axis=PIPELINE, bytes=0.9e9, phase="forward", deps=(0,),
                  peer_group=1, key="x")
    ops0 = [compute("a", 1.0), send]
    ops1 = [RecvOp(name="r", key="x", phase="forward"), compute("b", 1.0, deps=(0,))]
    tl = run([ops0, ops1], group_axes=((PIPELINE, 2),))
    assert tl.end_s == pytest.approx(1.0 + 0.9e9 / 4.5e10 + 1.0)


def test_unfinishable_program_is_reported():
    # b depends on a collective that never gets its second participant.
    ops0 = [gather("dcn", axis=DCN_DATA, nbytes=1e6, collective="all_reduce"), compute("b", 1.0, deps=(0,))]
    ops1 = [compute("a", 1.0)]
    with pytest.raises(RuntimeError, match="never run"):
        run([ops0, ops1], group_axes=((DCN_DATA, 2),), islands=2)


def test_dcn_floor_uses_the_latencies_passed_to_simulate():
    # A tiny all-reduce over 2 islands lasts its floor: 2 ring steps of one DCN message each.
    ops = [[gather("dcn", axis=DCN_DATA, nbytes=8.0, collective="all_reduce")] for _ in range(2)]
    slow = dataclasses.replace(LATENCIES, dcn_message_s=1e-3)
    for lat in (LATENCIES, slow):
        tl = run(ops, group_axes=((DCN_DATA, 2),), islands=2, latencies=lat)
        dcn = [s for s in tl.spans if s.track == "dcn"]
        assert dcn[0].duration_s == pytest.approx(2 * lat.dcn_message_s, rel=1e-3)
