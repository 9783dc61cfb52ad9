"""Rematerialization and host-offload policies: where each named tensor of a layer lives for the backward.

MaxText's policies (maxtext 0.2.5, layers/nnx_decoders.py `Decoder.get_remat_policy`, and configs/base.yml)
are jax.checkpoint policies over the names its layers tag with `checkpoint_name`: a tensor whose name is
saved stays in HBM, one whose name is offloaded goes to pinned host memory and comes back for the backward,
anything else is recomputed from what was kept. pathsim/catalog/remat.py copies their name lists verbatim.

pathsim's layer tags the tensors MaxText's dense decoder tags (unfused q/k/v projections, as MaxText's
default `fused_qkv: false`):
- decoder_layer_input: the layer input (the scan carry; MaxText: "cannot be rematerialized", so `remat`
  keeps it on device as `device` does);
- query_proj, key_proj, value_proj: the projections' outputs; `qkv_proj` (and `kv_proj` for K and V) is the
  fused layer's name, and a custom setting of it applies to the three;
- context: the fused attention kernel's output and softmax statistics (MaxText tags them only in its flash
  kernels: with `dot` attention no tensor carries the name, so the setting has no effect);
- out_proj, mlpwi (gate and up, MaxText's mlpwi_0/mlpwi_1 for gated MLPs), mlpwo: the other matmuls' outputs.

`none`, `full` and `palm` are pathsim's accounting of PaLM (paper, appendix B) and keep it: fractions of
the forward FLOPs recomputed, one activation kept per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.catalog.remat import (  # noqa: F401  (re-exported: the policy vocabulary)
    MAXTEXT_POLICIES,
    OFFLOAD_DEFAULTS,
    PLACEMENTS,
    REMAT_NAMES,
    TENSOR_NAMES,
    TENSOR_TAGS,
    Placement,
    TensorName,
)


@dataclass(frozen=True)
class RematPolicy:
    """What the backward pass keeps of a layer's forward.

    Legacy policies (tensors is None) give the shares of forward FLOPs recomputed, PaLM's accounting.
    Per-tensor policies give each tensor's placement; what is recomputed follows from the dataflow."""

    name: str
    non_attention_fraction: float = 0.0
    attention_fraction: float = 0.0
    tensors: tuple[tuple[str, Placement], ...] | None = None

    @property
    def per_tensor(self) -> bool:
        return self.tensors is not None

    def placement(self, tensor: str) -> Placement:
        assert self.tensors is not None, f"{self.name} is not a per-tensor policy"
        return dict(self.tensors)[tensor]

    def kept(self, tensor: str) -> bool:
        return self.placement(tensor) != "remat"

    def offloads(self) -> bool:
        return self.tensors is not None and any(p == "offload" for _, p in self.tensors)

    # What the backward reads, and so recomputes when it is not kept (dataflow of one layer):
    # q, k and v feed the attention backward; the context feeds it and the out projection's weight
    # gradient; the MLP's input projection feeds its activation's backward; in a serial block the out
    # projection's output makes the second norm's input. mlpwo's output (and, in a parallel block,
    # out_proj's) feeds only the next layer, whose input is kept: never recomputed, never stored.
    def recomputes_attention(self, flash: bool) -> bool:
        """The attention kernel runs again: its output is not kept (with dot attention nothing is tagged
        `context`, and the backward needs the probabilities anyway)."""
        return not (flash and self.kept("context"))

    def stored(self, tensor: str, parallel_block: bool, flash: bool) -> Placement:
        """Where the tensor lives for the backward: device, offload, or remat (not stored)."""
        if tensor == "mlpwo" or (tensor == "out_proj" and parallel_block) or (tensor == "context" and not flash):
            return "remat"
        if tensor == "decoder_layer_input" and self.placement(tensor) == "remat":
            return "device"  # MaxText: the scan carry cannot be rematerialized
        return self.placement(tensor)


LEGACY_POLICIES: dict[str, RematPolicy] = {
    "none": RematPolicy("none", 0.0, 0.0),
    "full": RematPolicy("full", 1.0, 1.0),
    # PaLM appendix B: 75% of non-attention forward FLOPs and all attention forward FLOPs recomputed.
    "palm": RematPolicy("palm", 0.75, 1.0),
}


def _from_names(name: str, saved: tuple[str, ...], offloaded: tuple[str, ...]) -> RematPolicy:
    rank = {"remat": 0, "offload": 1, "device": 2}

    def place(tags: tuple[str, ...]) -> Placement:
        found: list[Placement] = ["remat"]
        found += ["device" for t in tags if t in saved] + ["offload" for t in tags if t in offloaded]
        return max(found, key=rank.__getitem__)

    tensors = tuple((t, place(tags)) for t, tags in TENSOR_TAGS.items())
    return RematPolicy(name, tensors=tensors)


def custom_policy(settings: dict[str, str]) -> RematPolicy:
    """training.remat_custom: tensor name -> device/offload/remat; unnamed tensors follow MaxText's base.yml
    (decoder_layer_input on device, the rest recomputed)."""
    placed = {**OFFLOAD_DEFAULTS, **settings}
    saved = tuple(t for t, p in placed.items() if p == "device")
    offloaded = tuple(t for t, p in placed.items() if p == "offload")
    return _from_names("custom", saved, offloaded)


def remat_policy(name: str, custom: dict[str, str] | None = None) -> RematPolicy:
    """The policy training.remat names (and training.remat_custom for `custom`)."""
    if name in LEGACY_POLICIES:
        return LEGACY_POLICIES[name]
    if name == "custom":
        return custom_policy(custom or {})
    saved, offloaded = MAXTEXT_POLICIES[name]
    return _from_names(name, saved, offloaded)
