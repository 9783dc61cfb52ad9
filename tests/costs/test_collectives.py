"""The scaling book's collective closed forms, re-derived here by hand."""

import pytest

from pathsim.catalog.hardware import CHIPS
from pathsim.costs.collectives import closed_form_time_s, dcn_chip_bytes_per_s
from pathsim.placement.mesh_axes import AxisPlacement, AxisSegment
from pathsim.mesh.axis import MeshAxis

V4 = CHIPS["tpu_v4"]
W = 2 * 4.5e10  # both directions of one v4 link


def axis(*segments, network="ici"):
    size = 1
    for s in segments:
        size *= s.size
    return AxisPlacement(MeshAxis(network, "data"), size, tuple(segments))


def test_all_gather_one_wrapped_axis():
    v = 1e9
    t = closed_form_time_s("all_gather", v, axis(AxisSegment("x", 16, 1, True)), V4)
    assert t == pytest.approx(v / W * 15 / 16)


def test_all_gather_two_axes_halves_the_time():
    v = 1e9
    two = axis(AxisSegment("y", 16, 1, True), AxisSegment("z", 16, 1, True))
    assert closed_form_time_s("all_gather", v, two, V4) == pytest.approx(v / (2 * W) * 255 / 256)


def test_no_wraparound_doubles_the_time():
    v = 1e9
    ring = closed_form_time_s("all_gather", v, axis(AxisSegment("x", 4, 1, True)), V4)
    line = closed_form_time_s("all_gather", v, axis(AxisSegment("x", 4, 1, False)), V4)
    assert line == pytest.approx(2 * ring)


def test_reduce_scatter_all_reduce_all_to_all():
    v, a = 1e9, axis(AxisSegment("x", 8, 1, True))
    ag = closed_form_time_s("all_gather", v, a, V4)
    assert closed_form_time_s("reduce_scatter", v, a, V4) == pytest.approx(ag)
    assert closed_form_time_s("all_reduce", v, a, V4) == pytest.approx(2 * ag)
    assert closed_form_time_s("all_to_all", v, a, V4) == pytest.approx(ag / 4)


def test_small_messages_are_latency_bound():
    # T = max(T_hop x |X| / 2, V / W): 16 chips -> 8 hops of 1 us.
    t = closed_form_time_s("all_gather", 1024, axis(AxisSegment("x", 16, 1, True)), V4)
    assert t == pytest.approx(8e-6)
    both = axis(AxisSegment("y", 16, 1, True), AxisSegment("z", 16, 1, True))
    assert closed_form_time_s("all_gather", 1024, both, V4) == pytest.approx(16e-6)


def test_dcn_exchange_between_two_pods():
    # PaLM: each host exchanges its gradient shard with its peer host; 4 chips share the host's DCN.
    v = 1.4e9 / 4
    t = closed_form_time_s("all_reduce", v, AxisPlacement(MeshAxis("dcn", "data"), 2), V4)
    assert dcn_chip_bytes_per_s(V4) == pytest.approx(81e12 / 8 / 1536 / 4)
    assert t == pytest.approx(1.4e9 / (81e12 / 8 / 1536))
