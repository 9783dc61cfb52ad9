"""A mesh axis: the network its collectives cross and the kind of parallelism it carries.

ICI axes stay inside an island (a pod's torus); DCN axes span islands. The printed form, "ici.tensor" or
"dcn.data", is the one users see and write: the plan's keys (plan.ici.tensor), trace lanes, report
columns. Code passes the typed axis and prints it only at those edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pathsim.config.experiment import AXIS_KINDS, AxisKind

NetworkKind = Literal["ici", "dcn"]  # the max-min link solver is engine.network.Network
NETWORKS: tuple[NetworkKind, ...] = get_args(NetworkKind)
# Not a mesh axis but a chip's own link to its host's memory (PCIe): host offload's copies travel on it.
HOST_NETWORK, HOST_KIND = "host", "pcie"


# order=True sorts by (network, kind), as the "network.kind" strings sorted: group axes keep their order.
@dataclass(frozen=True, order=True)
class MeshAxis:
    network: NetworkKind
    kind: AxisKind

    def __post_init__(self) -> None:
        if (self.network, self.kind) == (HOST_NETWORK, HOST_KIND):
            return
        if self.network not in NETWORKS or self.kind not in AXIS_KINDS:
            raise ValueError(f"no mesh axis {self.network}.{self.kind}: the network is one of {', '.join(NETWORKS)}, "
                             f"the kind one of {', '.join(AXIS_KINDS)}")

    def __str__(self) -> str:
        return f"{self.network}.{self.kind}"

    @classmethod
    def parse(cls, text: str) -> MeshAxis:
        """The axis of "ici.fsdp" (a plan key without "plan.", a trace lane); ValueError for anything else."""
        network, _, kind = text.partition(".")
        return cls(network, kind)  # type: ignore[arg-type]  # checked in __post_init__


# The axes the lowering, the screen and the fabric name in code; every other axis comes from a plan.
ICI_DATA, ICI_TENSOR, ICI_PIPELINE = MeshAxis("ici", "data"), MeshAxis("ici", "tensor"), MeshAxis("ici", "pipeline")
DCN_DATA = MeshAxis("dcn", "data")
HOST_LINK = MeshAxis(HOST_NETWORK, HOST_KIND)  # type: ignore[arg-type]  # accepted in __post_init__
