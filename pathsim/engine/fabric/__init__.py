"""Who runs what, and over which links: the simulated units and the flows of each collective.

- `FoldedFabric` (folded.py): one unit per device group (all chips of a group run the same SPMD program);
  a unit's resources are one chip's links per torus dim and its share of the host's DCN bandwidth,
  standing for every chip of the group. Fast; exact while every chip of a group behaves the same.
- `FullFabric` (full.py): one unit per chip, every directed ICI link and every host NIC a resource. A
  collective is a gang over the chips of its mesh-axis group and one flow over all the links of their
  rings. Slow, but stragglers, degraded or failed links and shared slices are seen where they happen.

On symmetric cases both give the same rates (the per-link weights are the folded load factors spread over
the links), which tests check. Both satisfy `Fabric` (protocol.py), the engine's one view of them.
"""

from pathsim.engine.fabric.folded import FoldedFabric
from pathsim.engine.fabric.full import FullFabric
from pathsim.engine.fabric.protocol import Fabric, Flow, Resource, Unit, Usage
from pathsim.engine.fabric.slot import PodSlot

__all__ = ["Fabric", "Flow", "FoldedFabric", "FullFabric", "PodSlot", "Resource", "Unit", "Usage"]
