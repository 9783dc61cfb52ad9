"""MaxText's rematerialization and host-offload policies as data: the checkpoint names each keeps on device
or offloads (maxtext 0.2.5, layers/nnx_decoders.py `Decoder.minimal_policy` and `Decoder.get_remat_policy`;
per-tensor keys of `remat_policy: custom` in configs/base.yml). pathsim/workload/remat.py reads them.
"""

from __future__ import annotations

from typing import Literal, get_args

Placement = Literal["device", "offload", "remat"]
PLACEMENTS: tuple[Placement, ...] = get_args(Placement)

# The tensor names a `custom` policy sets (training.remat_custom), as MaxText's base.yml spells them.
TensorName = Literal["decoder_layer_input", "query_proj", "key_proj", "value_proj", "qkv_proj", "out_proj",
                     "mlpwi", "mlpwo", "context"]
TENSOR_NAMES: tuple[str, ...] = get_args(TensorName)

# pathsim's tensors and the checkpoint names each carries: the strongest placement among its names wins
# (device over offload over remat), as jax's policy would place a value tagged with any of them.
TENSOR_TAGS: dict[str, tuple[str, ...]] = {
    "decoder_layer_input": ("decoder_layer_input",),
    "query_proj": ("query_proj", "qkv_proj"),
    "key_proj": ("key_proj", "kv_proj", "qkv_proj"),
    "value_proj": ("value_proj", "kv_proj", "qkv_proj"),
    "context": ("context",),
    "out_proj": ("out_proj",),
    "mlpwi": ("mlpwi", "mlpwi_0", "mlpwi_1"),
    "mlpwo": ("mlpwo",),
}

# MaxText's policies: (names saved on device, names offloaded to host). Copied from maxtext 0.2.5,
# layers/nnx_decoders.py Decoder.minimal_policy and Decoder.get_remat_policy.
_QKV = ("query_proj", "value_proj", "key_proj", "kv_proj", "qkv_proj")
_MINIMAL = (*_QKV, "out_proj", "mlpwi_0", "mlpwi_1", "mlpwi", "mlpwo")
MAXTEXT_POLICIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "full": ((), ()),  # policy None under remat: only the layer input is kept
    "minimal": (_MINIMAL, ()),
    "minimal_with_context": ((*_MINIMAL, "context"), ()),
    "save_dot_with_context_except_mlp": ((*_QKV, "context", "out_proj"), ()),
    "save_dot_except_mlpwi": ((*_QKV, "out_proj", "mlpwo"), ()),
    "save_dot_except_mlp": ((*_QKV, "out_proj"), ()),
    "save_qkv_proj": (_QKV, ()),
    "save_out_proj": (("out_proj",), ()),
    "qkv_proj_offloaded": ((), ("query_proj", "value_proj", "key_proj", "kv_proj")),
    "minimal_offloaded": ((), _MINIMAL),
}
# training.remat's values: pathsim's three, MaxText's (its `full` is pathsim's `full`), and `custom`.
REMAT_NAMES: tuple[str, ...] = ("none", "full", "palm", *(k for k in MAXTEXT_POLICIES if k != "full"), "custom")
OFFLOAD_DEFAULTS: dict[str, Placement] = {t: "remat" for t in TENSOR_NAMES} | {"decoder_layer_input": "device"}
