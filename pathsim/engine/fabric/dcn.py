"""The data-centre network between islands: each host's NIC, and ring collectives over it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.costs.collectives import dcn_flow_bytes, dcn_latency_s
from pathsim.engine.fabric.protocol import Flow, Usage
from pathsim.placement.mesh_axes import Placement, axis_coordinate
from pathsim.platform.topology import Cluster, host_block
from pathsim.mesh.axis import ICI_PIPELINE
from pathsim.workload.program import CommOp


def dcn_ring(op: CommOp, members: Sequence[int], usage_of: Callable[[int, int], Usage],
             latencies: RuntimeLatencies) -> tuple[list[Flow], float]:
    """Each member sends to its ring successor over the DCN, hosts paired 1:1 (PaLM section 4)."""
    n = len(members)
    nbytes = dcn_flow_bytes(op.collective, op.bytes, n)
    flows = [Flow(nbytes, usage_of(a, members[(i + 1) % n]), 0.0) for i, a in enumerate(members)]
    return flows, dcn_latency_s(op.collective, n, latencies)


def dcn_send_flow(nbytes: float, usage: Usage, latencies: RuntimeLatencies) -> Flow:
    """A point-to-point send between two hosts (a pipeline stage boundary crossing islands)."""
    return Flow(nbytes, usage, dcn_latency_s("send", 2, latencies))


def stage_nic_classes(placement: Placement, cluster: Cluster) -> tuple[dict[int, int], int]:
    """Pipeline stages on ICI may share hosts: which stages share NICs (a class id per stage), and how
    many chips of one stage a host holds."""
    try:
        pipe = placement.axis(ICI_PIPELINE)
    except KeyError:
        return {}, cluster.chip.chips_per_host
    island = cluster.islands[0]
    block = host_block(cluster.chip, len(island.shape))
    hosts: dict[int, set] = {}
    per_host: dict[tuple, int] = {}
    for coord in itertools.product(*(range(n) for n in island.shape)):
        stage = axis_coordinate(coord, pipe, island.dims)
        host = tuple(c // b for c, b in zip(coord, block))
        hosts.setdefault(stage, set()).add(host)
        per_host[(stage, host)] = per_host.get((stage, host), 0) + 1
    owner: dict[tuple, int] = {}
    classes: dict[int, int] = {}
    for stage in sorted(hosts):  # a stage joins the class of the first stage it shares a host with
        shared = [owner[h] for h in hosts[stage] if h in owner]
        classes[stage] = classes[shared[0]] if shared else stage
        for h in hosts[stage]:
            owner.setdefault(h, stage)
    return classes, max(per_host.values())
