"""What the engine needs from a fabric: the units it simulates, the capacity of every link resource, and
for each communication op who takes part and which flows it puts on which resources."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.workload.program import CommOp

Resource = tuple  # hashable resource id
Usage = dict  # Resource -> load per byte


@dataclass(frozen=True)
class Unit:
    name: str
    group: int  # index of the GroupProgram it runs
    island: int
    chips: int  # chips it stands for
    coord: tuple[int, ...] = ()  # full mode: the chip's torus coordinate in its island
    slowdown: float = 1.0  # compute time multiplier (a straggler > 1)


@dataclass(frozen=True)
class Flow:
    nbytes: float
    usage: Usage
    min_duration_s: float
    startup_s: float = 0.0  # fixed cost paid before the bytes move (measured link timing)


@runtime_checkable
class Fabric(Protocol):
    """Folded (a unit per group), full (a unit per chip), or several jobs' full fabrics on one pod."""

    units: Sequence[Unit]
    capacity: dict[Resource, float]  # bytes/s of every resource a flow may use
    latencies: RuntimeLatencies  # the DCN floors were built with these: the dispatch must use the same

    def members(self, u: int, op: CommOp) -> tuple[Hashable, list[int]]:
        """The gang unit u joins for collective op: a key naming it, and its units in ring order."""
        ...

    def peer(self, u: int, op: CommOp) -> int:
        """The unit that receives unit u's send."""
        ...

    def flows(self, op: CommOp, members: Sequence[int]) -> tuple[list[Flow], float]:
        """The flows of one gang's collective, and the least time it takes (its latency floor), in s."""
        ...

    def send_flow(self, u: int, peer: int, op: CommOp) -> Flow:
        ...
