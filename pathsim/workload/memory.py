"""Per-chip HBM use of a plan: weights, gradients, optimizer state, saved activations and the working
set of the busiest moment, against the chip's HBM."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pathsim.catalog.software import AUTODIFF, SOFTWARE, activation_residual_bytes
from pathsim.mesh.plan import stage_layers
from pathsim.workload.lowering.context import Shard
from pathsim.workload.lowering.flash import softmax_stats_bytes
from pathsim.workload.lowering.transformer import stored_bytes, sub_blocks


@dataclass(frozen=True)
class MemoryUse:
    weights_bytes: float
    gradients_bytes: float
    optimizer_bytes: float
    activations_bytes: float  # saved for the backward pass, all micro-batches in flight
    working_bytes: float  # the busier of: a layer's gathered weights, intermediates and gradients; the loss
    hbm_bytes: float
    offloaded_bytes: float = 0.0  # saved for the backward in host memory (host offload): not in HBM, not in total
    # What the compiler allocates per chip for a compiled step (program: xla): the program that would run,
    # so it decides feasibility over pathsim's own estimate.
    compiled_bytes: float | None = None

    @property
    def total_bytes(self) -> float:
        """pathsim's own estimate."""
        return (self.weights_bytes + self.gradients_bytes + self.optimizer_bytes + self.activations_bytes
                + self.working_bytes)

    @property
    def deciding_bytes(self) -> float:
        """The figure feasibility is judged by: the compiler's when there is one."""
        return self.compiled_bytes if self.compiled_bytes is not None else self.total_bytes

    @property
    def feasible(self) -> bool:
        return self.deciding_bytes <= self.hbm_bytes

    def as_dict(self) -> dict[str, float]:
        d = asdict(self)
        if not self.offloaded_bytes:
            del d["offloaded_bytes"]  # shown only for policies that offload
        if self.compiled_bytes is None:
            del d["compiled_bytes"]  # shown only for compiled programs
        d["total_bytes"] = self.total_bytes
        return d


def _layer_intermediates_bytes(s: Shard) -> float:
    """What one layer's backward reads of its forward, as a recomputing backward holds it on one chip: the
    input, q, k, v and the context, gate/up and the activation, attention's probabilities or statistics.
    The norms' and the activation's own intermediates are fused into their consumers there."""
    elems = s.tokens * s.d_local  # the input
    if s.style == "2d" and s.tensor > 1:
        elems += s.tokens * s.d_model  # its tensor-gathered copy (a distinct buffer only when gathered)
    for sb in sub_blocks(s):
        if sb.attention:
            elems += s.tokens * (2 * s.heads_local + 2 * s.kv_heads_local) * s.head_dim  # q, k, v, context
        if sb.mlp:
            elems += s.tokens * (s.mlp_in_width + s.ff_local)  # gate/up and the activation
    attention = [sb for sb in sub_blocks(s) if sb.attention]
    if s.flash:  # a fused kernel keeps only its softmax statistics
        return elems * s.act_bytes + len(attention) * softmax_stats_bytes(s)
    # Materialised attention: the softmax runs in f32 (catalog SOFTWARE) and its output is kept for the
    # softmax's backward, beside the activation-dtype copy the probabilities-times-values matmul reads.
    probs = s.seqs * s.heads_local * s.seq_len * s.seq_len
    return elems * s.act_bytes + len(attention) * probs * (SOFTWARE.f32_bytes + s.act_bytes)


def _elementwise_residuals_bytes(s: Shard) -> float:
    """What autodiff keeps of the norms and the MLP's activation (catalog AUTODIFF) beyond the intermediates
    above: written to HBM when the layer is saved across the layer scan (no remat), fused away when the
    backward recomputes them. Each norm keeps two f32 copies of its input and its output (the matmuls'
    input; the first norm's is counted above as the input)."""
    norms = len(sub_blocks(s))  # two in a serial block, one in a parallel block
    width = s.tokens * s.d_local
    nbytes = norms * width * AUTODIFF.norm_f32_copies * SOFTWARE.f32_bytes + (norms - 1) * width * s.act_bytes
    mlps = sum(1 for sb in sub_blocks(s) if sb.mlp)
    return nbytes + mlps * s.tokens * s.ff_local * activation_residual_bytes(s.mlp, s.act_bytes)


def _saved_per_layer_bytes(s: Shard) -> float:
    if s.remat.name == "none":
        return _layer_intermediates_bytes(s) + _elementwise_residuals_bytes(s)
    if s.remat.per_tensor:  # the tensors the policy keeps on device (workload/remat.py)
        return sum(stored_bytes(s, sb, "device") for sb in sub_blocks(s))
    # full and PaLM's policy keep one fully sharded activation per layer (PaLM paper, appendix B).
    return float(s.tokens * s.d_local * s.act_bytes)


def _loss_working_bytes(s: Shard) -> float:
    """The output table gathered over fsdp, and the logits of the vocabulary shard twice: as the matmul
    writes them and their gradient, both in the activation dtype. MaxText's loss (workload/xla/loss.py)
    keeps no f32 copy: XLA computes the f32 exponentials inside the fusions that read the logits."""
    logits = s.tokens * s.vocab_local
    return s.embedding_params_local * s.weight_compute_bytes + logits * 2 * s.act_bytes


def _in_flight_microbatches(s: Shard, stage: int) -> int:
    if s.pipeline_schedule == "1f1b":
        return min(s.stages - stage, s.microbatches)
    return s.microbatches


def memory_use(s: Shard, weight_prefetch_layers: int, hbm_bytes: float) -> MemoryUse:
    """The busiest stage's chips (stage 0 holds the embedding and the most micro-batches in flight), with
    `weight_prefetch_layers` layers gathered ahead of the one in use, against a chip of `hbm_bytes`."""
    worst: MemoryUse | None = None
    for stage in range(s.stages):
        layers = len(stage_layers(s.n_layers, s.stages, stage))
        local = layers * s.layer_weight_params_local + s.embedding_params_on_stage(stage)
        shard = local / s.fsdp
        # The layer in use and those prefetched ahead of it, but never more layers than the stage has.
        gathered_layers = min(weight_prefetch_layers + 1, layers)
        gathered_weights = gathered_layers * s.layer_weight_params_local * s.weight_compute_bytes
        layer_working = (gathered_weights + _layer_intermediates_bytes(s)
                         + s.layer_weight_params_local * s.weight_compute_bytes)
        # The loss (last stage) runs before any layer's backward and its logits die with it: the busiest
        # moment is one or the other, never both.
        working = max(layer_working, _loss_working_bytes(s) if stage == s.stages - 1 else 0.0)
        in_flight = layers * _in_flight_microbatches(s, stage)
        use = MemoryUse(
            weights_bytes=shard * s.param_bytes,
            gradients_bytes=shard * s.grad_bytes,
            optimizer_bytes=shard * s.optimizer_moments * SOFTWARE.f32_bytes,
            activations_bytes=in_flight * _saved_per_layer_bytes(s),
            working_bytes=working,
            hbm_bytes=hbm_bytes,
            offloaded_bytes=in_flight * sum(stored_bytes(s, sb, "offload") for sb in sub_blocks(s)),
        )
        if worst is None or use.total_bytes > worst.total_bytes:
            worst = use
    assert worst is not None
    return worst
