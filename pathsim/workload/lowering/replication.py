"""Where the lowered plan does the same work on several chips, and by how much: a what-if user who raises
the tensor degree past the K/V heads sees compute and weights grow, and is told why here."""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.config.experiment import ModelConfig
from pathsim.workload.lowering.context import Shard
from pathsim.workload.model import layer_params


@dataclass(frozen=True)
class Replication:
    what: str  # e.g. "K/V projections"
    axis: str  # the mesh axis over which it repeats, e.g. "tensor"
    factor: float  # per-chip work and weights, relative to an even split over the axis
    note: str  # one line for the report


def replications(s: Shard, model: ModelConfig) -> tuple[Replication, ...]:
    found: list[Replication] = []
    kv = model.kv_heads
    if s.tensor > 1 and s.kv_heads_local == kv:  # the heads do not split over tensor: each chip has them all
        lp = layer_params(model)
        even = lp.q + lp.o + lp.mlp + lp.kv
        extra = lp.kv - lp.kv / s.tensor  # per chip, over an even split of the layer's matmul weights
        heads = "the one K/V head (multi-query)" if kv == 1 else f"all {kv} K/V heads"
        found.append(Replication(
            what="K/V projections", axis="tensor", factor=float(s.tensor),
            note=(f"replicated: {kv} K/V head(s) do not split over tensor {s.tensor}, so every chip computes "
                  f"and holds {heads}: K/V projection work and weights x{s.tensor} of an even split, the "
                  f"layer's matmul weights and FLOPs per chip +{100 * extra / (even / s.tensor):.0f}%")))
    if s.tensor > 1 and s.style == "megatron":
        found.append(Replication(
            what="layer norms and residual adds", axis="tensor", factor=float(s.tensor),
            note=(f"replicated: with megatron sharding the [tokens, d_model] activations, their layer norms "
                  f"and residual adds are on every chip of tensor {s.tensor} (2d sharding splits them)")))
    return tuple(found)
