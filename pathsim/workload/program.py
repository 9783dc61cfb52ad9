"""The application: per-device-group dataflow of compute ops and communication, knowing nothing of wiring.

A device group is a set of chips that run one identical SPMD program (e.g. every chip of one pod, or of
one pipeline stage): the engine simulates one representative chip per group. Ops are listed in issue
order; compute ops run one at a time in that order (a TPU runs one kernel at a time), communication ops
run asynchronously as soon as their dependencies are done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Union

from pathsim.mesh.axis import MeshAxis

Phase = Literal["forward", "backward", "remat", "optimizer"]
# flash_attention: one fused attention kernel; its `matmul` is one block matmul, batch = block matmuls run.
ComputeKind = Literal["matmul", "attention_matmul", "flash_attention", "elementwise", "norm", "softmax", "optimizer",
                      "gather"]
# device_to_host / host_to_device: one chip's copy over its own host link (HOST_LINK), no peers.
CollectiveKind = Literal["all_gather", "reduce_scatter", "all_reduce", "all_to_all", "send", "device_to_host",
                         "host_to_device"]


@dataclass(frozen=True)
class MatmulShape:
    """A (batched) matmul [batch, m, k] x [batch, k, n] as a kernel sees it."""

    m: int
    k: int
    n: int
    batch: int = 1

    @property
    def flops(self) -> float:
        return 2.0 * self.batch * self.m * self.k * self.n


@dataclass(frozen=True)
class ComputeOp:
    name: str
    kind: ComputeKind
    phase: Phase
    flops: float  # executed on one chip (hardware FLOPs)
    hbm_bytes: float  # read + written
    deps: tuple[int, ...] = ()
    matmul: MatmulShape | None = None
    scale: float = 1.0  # share of the kernel executed (PaLM's partial rematerialization)
    computation: str = "train"  # the gang-scheduled computation it belongs to
    # Imported from XLA: the compiler's own per-kernel estimate (estimated_cycles / clock), for comparison.
    compiler_estimate_s: float | None = None


@dataclass(frozen=True)
class CommOp:
    """A collective over one mesh axis, or a point-to-point send to another group.

    `bytes` is V of the scaling book's collective closed forms: the full (gathered, or not yet reduced) array on one chip's
    group along the axis. For `send` it is the payload.
    """

    name: str
    collective: CollectiveKind
    axis: MeshAxis
    bytes: float
    phase: Phase
    deps: tuple[int, ...] = ()
    peer_group: int | None = None  # `send` only: the receiving group's index
    key: str = ""  # matches the participants of a collective spanning groups
    computation: str = "train"


@dataclass(frozen=True)
class RecvOp:
    """Completes when the matching `send` (same key) from another group has arrived."""

    name: str
    key: str
    phase: Phase
    deps: tuple[int, ...] = ()
    computation: str = "train"


Op = Union[ComputeOp, CommOp, RecvOp]


@dataclass(frozen=True)
class GroupProgram:
    """The program of one device group and where it sits in the mesh."""

    name: str
    coords: tuple[tuple[MeshAxis, int], ...]  # group-axis coordinates, e.g. ((dcn.data, 1), (ici.pipeline, 0))
    ops: tuple[Op, ...]
    chips: int  # chips that run this program (the equivalence class size)

    def coord(self, axis: MeshAxis) -> int:
        return dict(self.coords).get(axis, 0)


def group_label(coords: Iterable[tuple[MeshAxis, int]]) -> str:
    """A group's name from its coordinates: "data1.pipeline0", or "all" for the only group."""
    return ".".join(f"{a.kind}{c}" for a, c in coords) or "all"


@dataclass(frozen=True)
class Program:
    groups: tuple[GroupProgram, ...]
    group_axes: tuple[tuple[MeshAxis, int], ...]  # axes whose members are different groups, with sizes
    computations: tuple[str, ...]  # gang-scheduled computations, in dispatch order

    def op_count(self) -> int:
        return sum(len(g.ops) for g in self.groups)
