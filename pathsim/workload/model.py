"""Transformer arithmetic: parameter counts and PaLM's model-FLOP accounting (PaLM paper, Chowdhery et al. 2022, section 4.1 and appendix B)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from pathsim.config.experiment import ModelConfig, TrainingConfig
from pathsim.workload.remat import LEGACY_POLICIES, RematPolicy, remat_policy  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class LayerParams:
    """Parameters of one transformer layer, by matrix."""

    q: int
    kv: int  # K and V together
    o: int
    mlp: int
    norm: int

    @property
    def attention(self) -> int:
        return self.q + self.kv + self.o

    @property
    def total(self) -> int:
        return self.attention + self.mlp + self.norm


def mlp_matrices(model: ModelConfig) -> int:
    """SwiGLU has gate, up and down matrices; GELU and ReLU MLPs have up and down."""
    return 3 if model.mlp == "swiglu" else 2


def layer_params(model: ModelConfig) -> LayerParams:
    d, hd = model.d_model, model.q_head_dim
    norms = 1 if model.block == "parallel" else 2  # scale-only layer norms (PaLM has no biases)
    return LayerParams(
        q=d * model.n_heads * hd,
        kv=2 * d * model.kv_heads * hd,
        o=model.n_heads * hd * d,
        mlp=mlp_matrices(model) * d * model.d_ff,
        norm=norms * d,
    )


def embedding_params(model: ModelConfig) -> int:
    tables = 1 if model.tied_embeddings else 2
    return tables * model.vocab_size * model.d_model


def total_params(model: ModelConfig) -> int:
    """N in 6N: layers, embeddings and the final norm."""
    return model.n_layers * layer_params(model).total + embedding_params(model) + model.d_model


def attention_flops_per_token(model: ModelConfig) -> float:
    """Forward attention FLOPs per token over all layers: QK^T and AV, 4 L H Q T (no causal halving)."""
    return 4.0 * model.n_layers * model.n_heads * model.q_head_dim * model.seq_len


def model_flops_per_token(model: ModelConfig) -> float:
    """PaLM appendix B: 6N + 12 L H Q T, forward and backward, never rematerialization."""
    return 6.0 * total_params(model) + 3.0 * attention_flops_per_token(model)


# Kept importable from here: the lowering and older callers name them through this module.
REMAT_POLICIES = LEGACY_POLICIES


def recomputed_flops_per_token(model: ModelConfig, policy: RematPolicy) -> float:
    """Forward FLOPs per token the backward pass runs again under a per-tensor policy: each layer matmul
    whose output the backward reads and the policy does not keep, and attention unless its output is kept."""
    d, hd, kv, heads = model.d_model, model.q_head_dim, model.kv_heads, model.n_heads
    parallel, flash = model.block == "parallel", model.attention == "flash"
    outputs = {  # forward FLOPs per token of the matmul producing each tensor, one layer
        "query_proj": 2.0 * d * heads * hd,
        "key_proj": 2.0 * d * kv * hd,
        "value_proj": 2.0 * d * kv * hd,
        "out_proj": 2.0 * heads * hd * d,
        "mlpwi": 2.0 * (mlp_matrices(model) - 1) * d * model.d_ff,
    }
    per_layer = sum(f for t, f in outputs.items()
                    if policy.stored(t, parallel, flash) == "remat" and not (t == "out_proj" and parallel))
    attention = attention_flops_per_token(model) if policy.recomputes_attention(flash) else 0.0
    return model.n_layers * per_layer + attention


def hardware_flops_per_token(model: ModelConfig, remat: str | RematPolicy,
                             custom: Mapping[str, str] | None = None) -> float:
    """Model FLOPs plus the recomputed forward FLOPs (PaLM Table 22: 4.10 TFLOP/token for 540B)."""
    policy = remat if isinstance(remat, RematPolicy) else remat_policy(remat, dict(custom or {}))
    if policy.per_tensor:
        return model_flops_per_token(model) + recomputed_flops_per_token(model, policy)
    non_attention_forward = 2.0 * total_params(model)
    return (
        model_flops_per_token(model)
        + policy.non_attention_fraction * non_attention_forward
        + policy.attention_fraction * attention_flops_per_token(model)
    )


@dataclass(frozen=True)
class StepWork:
    """What one step computes, for its throughput and utilisation (results/metrics.py)."""

    tokens_per_step: int
    model_flops_per_token: float  # PaLM's 6N + 12LHQT
    hardware_flops_per_token: float  # plus the recomputed forward of the remat policy


def step_work(model: ModelConfig, training: TrainingConfig) -> StepWork:
    return StepWork(tokens_per_step=training.global_batch_seqs * model.seq_len,
                    model_flops_per_token=model_flops_per_token(model),
                    hardware_flops_per_token=hardware_flops_per_token(model, training.remat, training.remat_custom))
