"""A chip's own PCIe link to its host, which offloaded activations cross: one resource per direction."""

from __future__ import annotations

from pathsim.catalog.hardware import ChipSpec
from pathsim.engine.fabric.protocol import Flow, Resource
from pathsim.workload.program import CommOp

HOST_DIRECTION = {"device_to_host": "host.d2h", "host_to_device": "host.h2d"}


def host_flow(unit_name: str, op: CommOp) -> Flow:
    """A chip's copy over its own PCIe link (host offload): one direction of one link, no peers."""
    return Flow(op.bytes, {(unit_name, HOST_DIRECTION[op.collective]): 1.0}, 0.0)


def add_host_links(capacity: dict[Resource, float], unit_name: str, chip: ChipSpec) -> None:
    for resource in HOST_DIRECTION.values():
        capacity[(unit_name, resource)] = chip.host_link_bytes_per_s
