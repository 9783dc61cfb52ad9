"""A chip's own PCIe link to its host (offloaded activations)."""

from pathsim.catalog.hardware import chip_spec
from pathsim.engine.fabric.host import add_host_links, host_flow
from pathsim.mesh.axis import HOST_LINK
from pathsim.workload.program import CommOp


def test_a_host_copy_loads_one_direction_of_the_chips_own_link():
    out = CommOp(name="o", collective="device_to_host", axis=HOST_LINK, bytes=1e6, phase="forward")
    back = CommOp(name="b", collective="host_to_device", axis=HOST_LINK, bytes=1e6, phase="backward")
    assert host_flow("chip0", out).usage == {("chip0", "host.d2h"): 1.0}
    assert host_flow("chip0", back).usage == {("chip0", "host.h2d"): 1.0}


def test_each_direction_has_the_chips_host_link_bandwidth():
    chip = chip_spec("tpu_v4")
    capacity: dict = {}
    add_host_links(capacity, "chip0", chip)
    assert capacity == {("chip0", "host.d2h"): chip.host_link_bytes_per_s,
                        ("chip0", "host.h2d"): chip.host_link_bytes_per_s}
