"""Per-chip ops of transformer layers, the embedding and the loss, forward, rematerialized and backward.

Sharding (Shard.style):
- "2d" (PaLM, GSPMD's 2D finalized): activations between layers are split over the tensor axis on d_model;
  a sub-block all-gathers its input over tensor and reduce-scatters its output over tensor.
- "megatron": activations replicated over tensor; a sub-block all-reduces its output (backward: its input
  gradient) over tensor.
Weights are split over tensor on heads and d_ff, and over fsdp (gathered before use by the caller).
Memory-bound ops move their bytes through HBM; each formula says which tensors it reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.workload.lowering.context import GroupBuilder, Shard
from pathsim.workload.lowering.flash import FlashKernel, flash_backward, flash_forward, softmax_stats_bytes
from pathsim.mesh.axis import ICI_TENSOR
from pathsim.workload.program import MatmulShape, Phase

F32_BYTES = 4  # softmax scores and loss statistics in f32 (catalog/software.py)


@dataclass(frozen=True)
class SubBlock:
    """Attention, MLP, or both fused (PaLM's parallel block)."""

    name: str
    attention: bool
    mlp: bool


def sub_blocks(s: Shard) -> tuple[SubBlock, ...]:
    if s.parallel_block:
        return (SubBlock("blk", True, True),)
    return (SubBlock("attn", True, False), SubBlock("mlp", False, True))


def _tensors_of(sb: SubBlock) -> tuple[str, ...]:
    """The named tensors (workload/remat.py) a sub-block produces; the layer input belongs to the first."""
    attention = ("decoder_layer_input", "query_proj", "key_proj", "value_proj", "context", "out_proj")
    return (attention if sb.attention else ()) + (("mlpwi", "mlpwo") if sb.mlp else ())


def tensor_bytes(s: Shard, tensor: str) -> float:
    """One chip's bytes of a named tensor of one layer."""
    qkv = s.tokens * s.head_dim
    elements = {
        "decoder_layer_input": s.tokens * s.d_local, "query_proj": qkv * s.heads_local,
        "key_proj": qkv * s.kv_heads_local, "value_proj": qkv * s.kv_heads_local,
        "context": qkv * s.heads_local, "out_proj": s.tokens * s.d_local,
        "mlpwi": s.tokens * s.mlp_in_width, "mlpwo": s.tokens * s.d_local,
    }[tensor]
    stats = softmax_stats_bytes(s) if tensor == "context" else 0.0  # the kernel's residual beside its output
    return float(elements * s.act_bytes) + stats


def _read_by_backward_of(s: Shard, sb: SubBlock) -> tuple[str, ...]:
    """The tensors a sub-block's backward (with its recompute) reads first. In a serial block the MLP's
    backward runs first and rebuilds its input, x + out_proj, from the layer input and attention's output."""
    if s.parallel_block:
        return _tensors_of(sb)
    if sb.mlp:
        return _tensors_of(sb) + ("decoder_layer_input", "out_proj")
    return tuple(t for t in _tensors_of(sb) if t not in ("decoder_layer_input", "out_proj"))


def stored_bytes(s: Shard, sb: SubBlock, where: str, tensors: tuple[str, ...] | None = None) -> float:
    """Bytes of the sub-block's tensors (or of `tensors`) a per-tensor policy stores `where` (device or
    offload), one chip."""
    if not s.remat.per_tensor:
        return 0.0
    return sum(tensor_bytes(s, t) for t in (_tensors_of(sb) if tensors is None else tensors)
               if s.remat.stored(t, s.parallel_block, s.flash) == where)


def _in_width(s: Shard, sb: SubBlock) -> int:
    width = (s.heads_local + 2 * s.kv_heads_local) * s.head_dim if sb.attention else 0
    return width + (s.mlp_in_width if sb.mlp else 0)


def _out_width(s: Shard, sb: SubBlock) -> int:
    return (s.heads_local * s.head_dim if sb.attention else 0) + (s.ff_local if sb.mlp else 0)


def _norm_bytes(s: Shard) -> float:
    # Residual add (read two, write one) then layer norm (read, write) on the per-chip activation.
    return 5.0 * s.tokens * s.d_local * s.act_bytes


def _softmax_elements(s: Shard) -> float:
    return float(s.seqs * s.heads_local * s.seq_len * s.seq_len)


# Dot attention's softmax as XLA fuses it (docs/xla.md, "Rules of the lowering", from the compiled corpus
# of studies/lowering_corpus.py). The scores matmul writes the scores (priced with it) and every forward
# pass reads them once for each row's max and sum; exp and the normalisation are applied by the values
# matmul as it reads its operand. Where the backward's probabilities come from a recompute in the same
# layer iteration, that pass also writes them (read scores, write P) and the backward fuses dS into the
# dP matmul. Where they are saved across the layer scan instead, the forward writes the f32 exponentials
# and the probabilities into the scan's stacked residuals, and the backward reads both and writes dS.


def _recomputed_attention_share(s: Shard) -> float:
    """The share of the attention the remat pass runs again (the rest is saved across the layer scan)."""
    if s.remat.per_tensor:
        return float(s.remat.recomputes_attention(s.flash))
    return s.remat.attention_fraction


def _softmax_bytes(s: Shard, phase: Phase) -> float:
    act, saved = s.act_bytes, 1.0 - _recomputed_attention_share(s)
    per_element = {"forward": act + saved * ((act + F32_BYTES) + 2 * act),  # statistics; residuals kept
                   "remat": 3 * act,  # statistics; P written (the op is scaled by the recomputed share)
                   "backward": F32_BYTES + 2 * act}[phase]  # residuals read, dS written (scaled by the saved share)
    return _softmax_elements(s) * per_element


def _rope_bytes(s: Shard) -> float:
    return 2.0 * s.tokens * (s.heads_local + s.kv_heads_local) * s.head_dim * s.act_bytes


def _mlp_act_bytes(s: Shard) -> float:
    # SwiGLU reads gate and up and writes their product; GELU/ReLU read and write one tensor.
    return (3.0 if s.swiglu else 2.0) * s.tokens * s.ff_local * s.act_bytes


def _attention_shapes(s: Shard) -> tuple[MatmulShape, MatmulShape]:
    batch = s.seqs * s.heads_local
    scores = MatmulShape(m=s.seq_len, k=s.head_dim, n=s.seq_len, batch=batch)
    values = MatmulShape(m=s.seq_len, k=s.seq_len, n=s.head_dim, batch=batch)
    return scores, values


def _sub_block_core(b: GroupBuilder, s: Shard, sb: SubBlock, tag: str, phase: Phase, dep: int | None,
                    attn_scale: float, other_scale: float, rope_scale: float | None = None) -> int | None:
    """The ops between the input and output projections, forward (or recomputed). Rope follows attention
    unless told otherwise (a per-tensor policy reapplies it to the kept q and k for the backward)."""
    last = dep
    if sb.attention:
        last = b.compute(f"{tag}.rope", "elementwise", phase, deps=(last,), hbm_bytes=_rope_bytes(s),
                         scale=attn_scale if rope_scale is None else rope_scale) or last
    if sb.attention and s.flash:
        kernel = flash_forward(s)
        last = _flash(b, f"{tag}.{kernel.name}", phase, kernel, last, attn_scale) or last
    elif sb.attention:
        scores, values = _attention_shapes(s)
        last = b.compute(f"{tag}.scores", "attention_matmul", phase, deps=(last,), matmul=scores,
                         scale=attn_scale) or last
        last = b.compute(f"{tag}.softmax", "softmax", phase, deps=(last,), hbm_bytes=_softmax_bytes(s, phase),
                         scale=attn_scale) or last
        last = b.compute(f"{tag}.values", "attention_matmul", phase, deps=(last,), matmul=values,
                         scale=attn_scale) or last
    if sb.mlp:
        last = b.compute(f"{tag}.mlp_act", "elementwise", phase, deps=(dep, last),
                         hbm_bytes=_mlp_act_bytes(s), scale=other_scale) or last
    return last


def _flash(b: GroupBuilder, name: str, phase: Phase, kernel: FlashKernel, dep: int | None,
           scale: float = 1.0) -> int | None:
    return b.compute(name, "flash_attention", phase, deps=(dep,), matmul=kernel.block, hbm_bytes=kernel.hbm_bytes,
                     scale=scale)


def _norm_and_gather(b: GroupBuilder, s: Shard, tag: str, x: int | None) -> int | None:
    """Layer norm of the per-chip activation, then (2D sharding) its all-gather over tensor."""
    norm = b.compute(f"{tag}.norm", "norm", "forward", deps=(x,), hbm_bytes=_norm_bytes(s))
    if s.style != "2d":
        return norm
    return b.collective(f"{tag}.ag_x", "all_gather", ICI_TENSOR, s.activation_bytes_full, "forward",
                        deps=(norm,)) or norm


def forward_sub_block(b: GroupBuilder, s: Shard, sb: SubBlock, tag: str, x: int | None,
                      weights: int | None, offloads: dict[str, int] | None = None) -> int | None:
    """Returns the op whose completion makes the sub-block's output available. Tensors the policy
    offloads are copied to the host once produced; the copy's op is recorded in `offloads` under `tag`."""
    x_full = _norm_and_gather(b, s, tag, x)
    proj_in = b.compute(f"{tag}.proj_in", "matmul", "forward", deps=(x_full, weights),
                        matmul=MatmulShape(m=s.tokens, k=s.d_model, n=_in_width(s, sb)))
    core = _sub_block_core(b, s, sb, tag, "forward", proj_in, 1.0, 1.0)
    proj_out = b.compute(f"{tag}.proj_out", "matmul", "forward", deps=(core,),
                         matmul=MatmulShape(m=s.tokens, k=_out_width(s, sb), n=s.d_model))
    # One copy per sub-block once its last offloaded tensor exists (the out projection's output at latest).
    copy = b.host_copy(f"{tag}.offload", "device_to_host", stored_bytes(s, sb, "offload"), "forward",
                       deps=(x, proj_in, proj_out))
    if copy is not None and offloads is not None:
        offloads[tag] = copy
    out = _reduce_partial_sums(b, s, sb, f"{tag}.{_reduction(s)}_out", "forward", proj_out)
    return out if out is not None else proj_out


def _reduction(s: Shard) -> str:
    return "reduce_scatter" if s.style == "2d" else "all_reduce"


def _reduce_partial_sums(b: GroupBuilder, s: Shard, sb: SubBlock, name: str, phase: Phase,
                         dep: int | None) -> int | None:
    """Reduce a projection's partial sums over tensor. A parallel block in 2d style reduces its attention's
    and its MLP's partial sums one after the other, not their sum: XLA gives each einsum whose contracting
    dimension is sharded its own reduce-scatter (PaLM 540B compiled: a windowed einsum each for the two
    output projections forward and the two input projections' dx backward; docs/xla.md)."""
    separate = s.style == "2d" and sb.attention and sb.mlp
    first = b.collective(name, _reduction(s), ICI_TENSOR, s.activation_bytes_full, phase, deps=(dep,))
    if not separate:
        return first
    return b.collective(f"{name}_mlp", _reduction(s), ICI_TENSOR, s.activation_bytes_full, phase,
                        deps=(dep, first)) or first


def fetch_offloaded(b: GroupBuilder, s: Shard, sb: SubBlock, tag: str, offloaded: tuple[int | None, ...],
                    prefetch_after: int | None) -> int | None:
    """Copy back the offloaded tensors the sub-block's backward reads (after the layer's copies out),
    issued as early as the remat's gather: while the previous layer's backward runs."""
    nbytes = stored_bytes(s, sb, "offload", _read_by_backward_of(s, sb))
    return b.host_copy(f"{tag}.fetch", "host_to_device", nbytes, "backward", deps=(*offloaded, prefetch_after))


def _per_tensor_scales(s: Shard, sb: SubBlock) -> tuple[float, float, float]:
    """(input projection, attention, output projection) shares a per-tensor policy recomputes: the
    matmuls whose outputs the backward reads and the policy does not keep (workload/remat.py)."""
    again = {t: s.remat.stored(t, s.parallel_block, s.flash) == "remat"
             for t in ("query_proj", "key_proj", "value_proj", "out_proj", "mlpwi")}
    width = 0
    if sb.attention:
        width += s.head_dim * (s.heads_local * again["query_proj"]
                               + s.kv_heads_local * (again["key_proj"] + again["value_proj"]))
    if sb.mlp:
        width += s.mlp_in_width * again["mlpwi"]
    attention = float(sb.attention and s.remat.recomputes_attention(s.flash))
    # Only a serial block's attention output is read again (it makes the second norm's input).
    out = float(sb.attention and not sb.mlp and again["out_proj"])
    return width / _in_width(s, sb), attention, out


def remat_sub_block(b: GroupBuilder, s: Shard, sb: SubBlock, tag: str, weights: int | None,
                    prefetch_after: int | None, fetched: int | None = None) -> int | None:
    """Recompute the forward from the saved (fully sharded) input, as the remat policy says. A per-tensor
    policy reruns the norms, rope and the MLP's activation (never kept) and the matmuls it does not keep."""
    if s.remat.per_tensor:
        na = act = 1.0
        proj_in_scale, at, out_scale = _per_tensor_scales(s, sb)
        rope: float | None = 1.0
    else:
        na, at = s.remat.non_attention_fraction, s.remat.attention_fraction
        if na <= 0.0 and at <= 0.0:
            return None
        proj_in_scale = act = out_scale = na
        rope = None
    x_full = None
    if s.style == "2d":
        # Its input is saved, so the gather can be issued early: it overlaps the previous layer's backward.
        x_full = b.collective(f"{tag}.remat_ag_x", "all_gather", ICI_TENSOR, s.activation_bytes_full, "remat",
                              deps=(prefetch_after,))
    norm = b.compute(f"{tag}.remat_norm", "norm", "remat", deps=(x_full, fetched), hbm_bytes=_norm_bytes(s),
                     scale=na)
    proj_in = b.compute(f"{tag}.remat_proj_in", "matmul", "remat", deps=(norm, x_full, weights),
                        matmul=MatmulShape(m=s.tokens, k=s.d_model, n=_in_width(s, sb)), scale=proj_in_scale)
    core = _sub_block_core(b, s, sb, f"{tag}.remat", "remat", proj_in or x_full, at, act, rope)
    out = b.compute(f"{tag}.remat_proj_out", "matmul", "remat", deps=(core,),
                    matmul=MatmulShape(m=s.tokens, k=_out_width(s, sb), n=s.d_model), scale=out_scale)
    return out or core or proj_in or norm


def backward_sub_block(b: GroupBuilder, s: Shard, sb: SubBlock, tag: str, dy: int | None,
                       weights: int | None, recomputed: int | None) -> tuple[int | None, tuple[int, ...]]:
    """Returns (op making the input gradient available, ops producing weight gradients)."""
    dy_full = dy
    if s.style == "2d":
        dy_full = b.collective(f"{tag}.ag_dy", "all_gather", ICI_TENSOR, s.activation_bytes_full, "backward",
                               deps=(dy,)) or dy
    out_w = _out_width(s, sb)
    ready = (dy_full, weights, recomputed)
    dx_out = b.compute(f"{tag}.proj_out_dx", "matmul", "backward", deps=ready,
                       matmul=MatmulShape(m=s.tokens, k=s.d_model, n=out_w))
    dw_out = b.compute(f"{tag}.proj_out_dw", "matmul", "backward", deps=ready,
                       matmul=MatmulShape(m=out_w, k=s.tokens, n=s.d_model))
    last = dx_out
    if sb.mlp:
        last = b.compute(f"{tag}.mlp_act_bwd", "elementwise", "backward", deps=(dx_out,),
                         hbm_bytes=(5.0 if s.swiglu else 3.0) * s.tokens * s.ff_local * s.act_bytes)
    if sb.attention and s.flash:
        for kernel in flash_backward(s):
            last = _flash(b, f"{tag}.{kernel.name}", "backward", kernel, last) or last
        last = b.compute(f"{tag}.rope_bwd", "elementwise", "backward", deps=(last,), hbm_bytes=_rope_bytes(s))
    elif sb.attention:
        scores, values = _attention_shapes(s)
        # Each forward attention matmul has two backward matmuls of the same FLOPs (dA and dB).
        for name, shape in (("values_bwd_a", values), ("values_bwd_b", values)):
            last = b.compute(f"{tag}.{name}", "attention_matmul", "backward", deps=(dx_out,), matmul=shape)
        last = b.compute(f"{tag}.softmax_bwd", "softmax", "backward", deps=(last,),
                         hbm_bytes=_softmax_bytes(s, "backward"), scale=1.0 - _recomputed_attention_share(s)) or last
        for name in ("scores_bwd_a", "scores_bwd_b"):
            last = b.compute(f"{tag}.{name}", "attention_matmul", "backward", deps=(last,), matmul=scores)
        last = b.compute(f"{tag}.rope_bwd", "elementwise", "backward", deps=(last,), hbm_bytes=_rope_bytes(s))
    in_w = _in_width(s, sb)
    dx_in = b.compute(f"{tag}.proj_in_dx", "matmul", "backward", deps=(last,),
                      matmul=MatmulShape(m=s.tokens, k=in_w, n=s.d_model))
    dw_in = b.compute(f"{tag}.proj_in_dw", "matmul", "backward", deps=(last,),
                      matmul=MatmulShape(m=s.d_model, k=s.tokens, n=in_w))
    reduced = _reduce_partial_sums(b, s, sb, f"{tag}.{_reduction(s)}_dx", "backward", dx_in)
    norm = b.compute(f"{tag}.norm_bwd", "norm", "backward", deps=(reduced, dx_in), hbm_bytes=_norm_bytes(s))
    return norm, tuple(i for i in (dw_out, dw_in) if i is not None)


def embed_forward(b: GroupBuilder, s: Shard, tag: str, table: int | None) -> int | None:
    # Vocabulary-sharded lookup: each chip writes rows of its shard, then the partial rows are reduced.
    look = b.compute(f"{tag}.embed", "gather", "forward", deps=(table,),
                     hbm_bytes=2.0 * s.tokens * s.d_model * s.act_bytes)
    kind = _reduction(s)
    out = b.collective(f"{tag}.embed_{kind}", kind, ICI_TENSOR, s.activation_bytes_full, "forward", deps=(look,))
    return out if out is not None else look


def embed_backward(b: GroupBuilder, s: Shard, tag: str, dx: int | None) -> int | None:
    full = dx
    if s.style == "2d":
        full = b.collective(f"{tag}.embed_ag_dx", "all_gather", ICI_TENSOR, s.activation_bytes_full, "backward",
                            deps=(dx,)) or dx
    return b.compute(f"{tag}.embed_bwd", "gather", "backward", deps=(full,),
                     hbm_bytes=3.0 * s.tokens * s.d_model * s.act_bytes)


def loss_forward_backward(b: GroupBuilder, s: Shard, tag: str, x: int | None,
                          table: int | None) -> tuple[int | None, tuple[int, ...]]:
    """Final norm, logits over the vocabulary shard, softmax cross-entropy and its gradient.

    Returns (op making d(loss)/d(input) available, ops producing the output-embedding gradient)."""
    x_full = _norm_and_gather(b, s, f"{tag}.final", x)
    logits = b.compute(f"{tag}.logits", "matmul", "forward", deps=(x_full, table),
                       matmul=MatmulShape(m=s.tokens, k=s.d_model, n=s.vocab_local))
    # MaxText's cross entropy as XLA fuses it (docs/xla.md): the logits matmul writes the logits in the
    # activation dtype; one reduction reads them for each row's max and sum of exponentials; one fusion
    # reads them again and writes their gradient (softmax minus one-hot, the loss's custom gradient) in the
    # activation dtype for the two backward matmuls. No f32 copy of the logits reaches HBM.
    xent_bytes = 3.0 * s.tokens * s.vocab_local * s.act_bytes
    stats = b.compute(f"{tag}.xent", "softmax", "forward", deps=(logits,), hbm_bytes=xent_bytes)
    # Softmax statistics (max and sum per token) are all-reduced over the vocabulary shards.
    reduced = b.collective(f"{tag}.xent_all_reduce", "all_reduce", ICI_TENSOR, 2.0 * s.tokens * F32_BYTES,
                           "forward", deps=(stats,))
    dx = b.compute(f"{tag}.logits_dx", "matmul", "backward", deps=(reduced, stats),
                   matmul=MatmulShape(m=s.tokens, k=s.vocab_local, n=s.d_model))
    dw = b.compute(f"{tag}.logits_dw", "matmul", "backward", deps=(reduced, stats),
                   matmul=MatmulShape(m=s.d_model, k=s.tokens, n=s.vocab_local))
    kind = _reduction(s)
    out = b.collective(f"{tag}.logits_{kind}_dx", kind, ICI_TENSOR, s.activation_bytes_full, "backward", deps=(dx,))
    norm_bwd = b.compute(f"{tag}.final_norm_bwd", "norm", "backward", deps=(out, dx), hbm_bytes=_norm_bytes(s))
    return norm_bwd, tuple(i for i in (dw,) if i is not None)
