"""The plan's sharding: which mesh axes split each logical tensor dimension (MaxText's logical_axis_rules).

One description, read by the lowering (the per-chip sizes of `Shard`), by the XLA step (the PartitionSpecs
of its weights and activations) and, through that step, by the calibration. Mesh axes are listed DCN first,
then ICI, each network in MESH_ORDER: the XLA step's device order (workload/xla/mesh.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pathsim.config.experiment import PlanConfig
from pathsim.mesh.axis import MeshAxis

MESH_ORDER = ("data", "fsdp", "pipeline", "tensor")  # tensor innermost: its collectives are the busiest

# Logical dimensions the rules name; those mapped to no axis are never split.
LOGICAL_AXES = ("batch", "embed", "heads", "kv_heads", "mlp", "vocab", "act_embed", "stage",
                "seq", "kv", "layers", "norm", "stack")


@dataclass(frozen=True)
class Sharding:
    """Logical dimension -> the mesh axes that split it, and every axis's size."""

    rules: tuple[tuple[str, tuple[MeshAxis, ...]], ...]
    axis_sizes: tuple[tuple[MeshAxis, int], ...]  # in device order (DCN first)

    def axes(self, logical: str) -> tuple[MeshAxis, ...]:
        return dict(self.rules).get(logical, ())

    def degree(self, logical: str) -> int:
        """How many ways the dimension is split (1 when no axis splits it)."""
        sizes = dict(self.axis_sizes)
        return math.prod(sizes[a] for a in self.axes(logical))

    def split(self, logical: str, n: int) -> int:
        """One chip's share of a dimension of size n. A dimension its axes do not divide stays whole on every
        chip: jax refuses an argument whose sharded dimension does not divide, so the XLA step replicates it."""
        degree = self.degree(logical)
        return n // degree if n % degree == 0 else n

    def padded_split(self, logical: str, n: int) -> int:
        """One chip's share with the dimension padded up to a multiple of its degree (the lowering's
        vocabulary: a table is split even when the degree does not divide it)."""
        return math.ceil(n / self.degree(logical))

    def padded(self, logical: str, n: int) -> int:
        """The dimension's size padded up to a multiple of its degree."""
        return self.degree(logical) * self.padded_split(logical, n)

    def jax_rules(self) -> dict[str, tuple[str, ...] | str | None]:
        """Logical axis name -> jax mesh axis names ("ici.fsdp"), as MaxText's logical_axis_rules."""
        out: dict[str, tuple[str, ...] | str | None] = {}
        for logical, axes in self.rules:
            names = tuple(map(str, axes))
            out[logical] = None if not names else names[0] if len(names) == 1 else names
        return out


def device_order(plan: PlanConfig) -> tuple[tuple[MeshAxis, int], ...]:
    """The plan's axes with their sizes: DCN axes first, then ICI, each in MESH_ORDER."""
    return tuple((MeshAxis(network, k), axes[k]) for network, axes in (("dcn", plan.dcn), ("ici", plan.ici))
                 for k in MESH_ORDER if k in axes)


def sharding_of(plan: PlanConfig) -> Sharding:
    """The batch over data and fsdp; weights' d_model over fsdp (ZeRO-3); heads, key/value heads, MLP width
    and vocabulary over tensor; activations' d_model over tensor too under 2D sharding; layers over the
    pipeline's stages. Sequence, head dimension and norms are never split."""
    order = device_order(plan)
    names = [a for a, _ in order]
    of = lambda *kinds: tuple(a for a in names if a.kind in kinds)  # noqa: E731
    tensor = of("tensor")
    rules = {
        "batch": of("data", "fsdp"), "embed": of("fsdp"), "heads": tensor, "kv_heads": tensor, "mlp": tensor,
        "vocab": tensor, "act_embed": tensor if plan.tensor_style == "2d" else (), "stage": of("pipeline"),
    }
    return Sharding(rules=tuple((k, rules.get(k, ())) for k in LOGICAL_AXES), axis_sizes=order)
