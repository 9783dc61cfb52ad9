"""The discrete-event engine: runs a Program over a Fabric (folded groups or every chip) and returns its
Timeline.

Each unit's compute ops run one at a time in program order (a TPU runs one kernel at a time); runs of
compute ops that nothing else waits on are simulated as one timed segment. Communication ops start as
soon as their dependencies are done: a collective is a gang that starts when its last member is ready,
and its flows share links with everything else in flight. The Pathways actors (pathsim.engine.pathways:
client, one gang scheduler per island, host executors, device queues) decide when each computation may
start on a group: their gang opens the group's gate (pathways.training).

Every unit keeps its own state (dependency counts, position in its stream), held per group in numpy
arrays, so that units that do the same thing at the same moment (the chips of a pod in SPMD) are
advanced by one event: a segment timer serves every unit ending that segment at that instant, a gang's
completion updates all its members at once. Units that diverge (a straggler, a slower link) simply stop
sharing events. The parts live in pathsim.engine.execution.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from pathsim.catalog.latencies import LATENCIES, RuntimeLatencies
from pathsim.costs.compute import ComputeCostModel, link_timing_of
from pathsim.engine.execution import Run
from pathsim.engine.fabric import Fabric, FoldedFabric
from pathsim.engine.timeline import Timeline
from pathsim.placement.mesh_axes import Placement
from pathsim.platform.topology import Cluster
from pathsim.workload.program import Program


def simulate(program: Program, placement: Placement, cluster: Cluster, cost: ComputeCostModel,
             dispatch: str = "pathways_opbyop", latencies: RuntimeLatencies = LATENCIES, record_links: bool = True,
             fabric: Fabric | None = None, record_units: AbstractSet[int] | None = None) -> Timeline:
    """Folded by default; pass a FullFabric (pathsim.engine.fabric) to simulate every chip, and its
    recorded_units() to keep the spans of only those (every unit's are kept by default)."""
    if fabric is None:
        fabric = FoldedFabric(program, placement, cluster, timing=link_timing_of(cost), latencies=latencies)
    elif fabric.latencies != latencies:  # the DCN floors and the dispatch must use one set of latencies
        raise ValueError("the fabric was built with other runtime latencies than the ones passed to simulate")
    return Run(program, fabric, cost, dispatch, latencies, record_links, record_units, cluster, placement).run()
