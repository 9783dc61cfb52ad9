import dataclasses

import pytest

from pathsim.calibration.cases import cases, experiment
from pathsim.calibration.device import measured_chip, measured_latencies, mesh_cluster
from tests.support import placement_of
from pathsim.mesh.axis import MeshAxis


def test_chip_comes_from_the_measurements(profile):
    chip = measured_chip(profile)
    assert chip.peak_bf16_flops_per_s == pytest.approx(2 * 256**3 / 1e-4)  # the best matmul rate
    assert chip.hbm_bytes_per_s == pytest.approx(1e5 / 1e-5)  # the best memory-bound rate
    # The largest all-gather over all 4 devices: each member receives V (N-1)/N = 3e6 B in 1e-3 s on a
    # ring, W = 3e9 B/s = 2 x the one-way link; the smallest one sets the latency over N/2 = 2 hops.
    assert chip.ici_link_bytes_per_s == pytest.approx(1.5e9)
    assert chip.ici_hop_latency_s == pytest.approx(1e-5)
    assert chip.name == "measured:testcpu"


def test_one_device_profile_needs_no_collectives(profile):
    one = dataclasses.replace(profile, meta=dataclasses.replace(profile.meta, device_count=1), collectives=())
    assert measured_chip(one).ici_hop_latency_s == 0.0


def test_latencies_are_one_measured_call_overhead(profile):
    lat = measured_latencies(profile)
    assert (lat.host_enqueue_s, lat.dcn_message_s, lat.controller_work_s) == (1e-5, 0.0, 0.0)


@pytest.mark.parametrize("case", cases("cpu", 4), ids=lambda c: c.name)
def test_every_case_places_on_its_mesh(profile, case):
    cluster = mesh_cluster(measured_chip(profile), dict(case.plan))
    assert cluster.chips == case.devices
    placement = placement_of(experiment(case), cluster)
    for axis, size in case.plan:
        assert placement.axis(MeshAxis("ici", axis)).size == size
