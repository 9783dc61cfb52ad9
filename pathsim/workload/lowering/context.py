"""What one chip holds under a plan (shard sizes, tokens), and a builder that appends ops to a group."""

from __future__ import annotations

from dataclasses import dataclass, field

from pathsim.catalog.software import optimizer_moments
from pathsim.config.experiment import ModelConfig, PlanConfig, TrainingConfig
from pathsim.errors import ConfigError
from pathsim.workload.model import layer_params, mlp_matrices
from pathsim.workload.remat import RematPolicy, remat_policy
from pathsim.mesh.axis import HOST_LINK, MeshAxis
from pathsim.mesh.sharding import sharding_of
from pathsim.workload.program import CommOp, ComputeOp, MatmulShape, Op, Phase, RecvOp


@dataclass(frozen=True)
class Shard:
    """Per-chip sizes under the plan. M = tensor degree, F = fsdp degree, P = pipeline stages."""

    tensor: int
    fsdp: int
    data: int
    stages: int
    microbatches: int
    n_layers: int
    pipeline_schedule: str  # the order of a stage's forward and backward micro-batches (lowering/schedule.py)
    optimizer_moments: int  # f32 moments per parameter the optimizer keeps
    tokens: int  # tokens one chip's model-parallel group processes per micro-batch
    seqs: int  # sequences per micro-batch per data/fsdp shard
    seq_len: int
    d_model: int
    d_local: int  # activation width per chip between layers (2D sharding splits d_model over tensor)
    heads_local: int
    kv_heads_local: int
    head_dim: int
    ff_local: int
    vocab_local: int
    mlp_in_width: int  # gate + up (SwiGLU) or up, per chip
    layer_weight_params_local: int  # matmul parameters of one layer on one chip, after tensor sharding
    embedding_params_local: int  # one [vocab, d_model] table's share (embedding_params_on_stage counts tables)
    param_bytes: int
    grad_bytes: int
    act_bytes: int
    remat: RematPolicy
    style: str
    parallel_block: bool
    mlp: str  # the MLP's activation: swiglu, gelu or relu
    tied_embeddings: bool
    flash: bool  # fused blockwise attention: no [T, T] tensor in HBM

    @property
    def swiglu(self) -> bool:
        return self.mlp == "swiglu"

    @property
    def weight_compute_bytes(self) -> int:
        """Bytes per weight element as the matmuls read it, and as fsdp gathers it and reduce-scatters its
        gradient: the activation dtype. Frameworks that keep f32 weights (MaxText's weight_dtype) cast each
        one to the activation dtype on its shard before the matmul (`jnp.asarray(kernel, dtype)`), so XLA
        gathers the cast shard and the gradient of the cast is what is reduced; the f32 weights and their
        gradients stay sharded (`param_bytes`, `grad_bytes`). The compiled step does the same."""
        return self.act_bytes

    @property
    def activation_bytes_full(self) -> float:
        """[tokens, d_model] activations: V of the per-layer tensor-axis collectives."""
        return float(self.tokens * self.d_model * self.act_bytes)

    def embedding_params_on_stage(self, stage: int) -> int:
        """Embedding parameters (this chip's share) a pipeline stage holds: the input table on the first
        stage, the output table on the last (a copy when tied, unless the first stage is also the last)."""
        first, last = stage == 0, stage == self.stages - 1
        tables = int(first) + int(last and not (first and self.tied_embeddings))
        return tables * self.embedding_params_local


def _tensor_must_divide(plan, value: int, what: str) -> None:
    """The tensor degree is the choice a user makes against a published model: the error names the plan."""
    degree = plan.degree("tensor")
    if value % degree:
        field = "plan.ici.tensor" if "tensor" in plan.ici else "plan.dcn.tensor"
        divisors = [d for d in range(1, value + 1) if value % d == 0 and d <= degree]
        raise ConfigError(field, f"tensor {degree} does not divide the model's {value} {what}; the largest "
                                 f"tensor degree up to {degree} that does is {max(divisors)}")


def shard_for(model: ModelConfig, training: TrainingConfig, plan: PlanConfig) -> Shard:
    """Per-chip sizes from the plan's sharding (mesh/sharding.py), the description the XLA step reads too."""
    sharding = sharding_of(plan)
    m_deg, f_deg, replicas = sharding.degree("heads"), sharding.degree("embed"), sharding.degree("batch")
    d_deg, stages, micro = replicas // f_deg, sharding.degree("stage"), plan.microbatches
    _tensor_must_divide(plan, model.n_heads, "query heads (model.n_heads)")
    _tensor_must_divide(plan, model.d_ff, "MLP width (model.d_ff)")
    if plan.tensor_style == "2d":
        _tensor_must_divide(plan, model.d_model, "d_model (model.d_model; 2D sharding splits it over tensor)")
    if stages > model.n_layers:
        raise ConfigError("plan.pipeline", f"{stages} stages exceed the model's {model.n_layers} layers")
    if training.global_batch_seqs % (replicas * micro):
        raise ConfigError("training.global_batch_seqs",
                          f"{training.global_batch_seqs} sequences do not split over data x fsdp x microbatches "
                          f"= {d_deg} x {f_deg} x {micro} = {replicas * micro}")
    seqs = training.global_batch_seqs // (replicas * micro)
    kv = model.kv_heads
    kv_local = sharding.split("kv_heads", kv)  # e.g. multi-query K/V are replicated over tensor
    heads_local = sharding.split("heads", model.n_heads)
    hd = model.q_head_dim
    ff_local = sharding.split("mlp", model.d_ff)
    mlp_in = (mlp_matrices(model) - 1) * ff_local
    lp = layer_params(model)
    weight_local = (lp.q + lp.o + lp.mlp) // m_deg + (lp.kv // m_deg if kv_local != kv else lp.kv)
    return Shard(
        tensor=m_deg, fsdp=f_deg, data=d_deg, stages=stages, microbatches=micro, n_layers=model.n_layers,
        pipeline_schedule=plan.pipeline_schedule, optimizer_moments=optimizer_moments(training.optimizer),
        tokens=seqs * model.seq_len, seqs=seqs, seq_len=model.seq_len, d_model=model.d_model,
        d_local=sharding.split("act_embed", model.d_model),
        heads_local=heads_local, kv_heads_local=kv_local, head_dim=hd, ff_local=ff_local,
        vocab_local=sharding.padded_split("vocab", model.vocab_size), mlp_in_width=mlp_in,
        layer_weight_params_local=weight_local,
        embedding_params_local=model.vocab_size * model.d_model // m_deg,  # one table; a stage holds 1 or 2
        param_bytes=training.param_bytes, grad_bytes=training.grad_bytes, act_bytes=training.activation_bytes,
        remat=remat_policy(training.remat, training.remat_custom), style=plan.tensor_style,
        parallel_block=model.block == "parallel", mlp=model.mlp,
        tied_embeddings=model.tied_embeddings, flash=model.attention == "flash",
    )


@dataclass
class GroupBuilder:
    """Appends ops of one group; collectives over axes of size 1 vanish (their index is None)."""

    axis_sizes: dict[MeshAxis, int]
    operand_bytes: int  # bytes per matmul operand element (the activation dtype)
    ops: list[Op] = field(default_factory=list)

    def _add(self, op: Op) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    @staticmethod
    def _deps(deps: tuple[int | None, ...]) -> tuple[int, ...]:
        return tuple(sorted({d for d in deps if d is not None}))

    def compute(self, name: str, kind: str, phase: Phase, *, deps: tuple[int | None, ...] = (),
                matmul: MatmulShape | None = None, hbm_bytes: float = 0.0, flops: float | None = None,
                scale: float = 1.0, computation: str = "train") -> int | None:
        if scale <= 0.0:
            return None
        op_flops = matmul.flops if matmul is not None else (flops or 0.0)
        if matmul is not None and hbm_bytes == 0.0:
            # Roofline bytes of a matmul: both operands read once and the output written once.
            b = self.operand_bytes
            hbm_bytes = b * matmul.batch * (matmul.m * matmul.k + matmul.k * matmul.n + matmul.m * matmul.n)
        return self._add(ComputeOp(name=name, kind=kind, phase=phase, flops=op_flops * scale,
                                   hbm_bytes=hbm_bytes * scale, deps=self._deps(deps), matmul=matmul,
                                   scale=scale, computation=computation))

    def collective(self, name: str, collective: str, axis: MeshAxis, nbytes: float, phase: Phase, *,
                   deps: tuple[int | None, ...] = (), computation: str = "train") -> int | None:
        if self.axis_sizes.get(axis, 1) <= 1 or nbytes <= 0:
            return None
        return self._add(CommOp(name=name, collective=collective, axis=axis, bytes=nbytes, phase=phase,
                                deps=self._deps(deps), key=name, computation=computation))

    def host_copy(self, name: str, direction: str, nbytes: float, phase: Phase, *,
                  deps: tuple[int | None, ...] = ()) -> int | None:
        """A copy between this chip's HBM and its host's memory over its own PCIe link (HOST_LINK)."""
        if nbytes <= 0:
            return None
        return self._add(CommOp(name=name, collective=direction, axis=HOST_LINK, bytes=nbytes,  # type: ignore[arg-type]
                                phase=phase, deps=self._deps(deps), key=name))

    def send(self, name: str, nbytes: float, peer_group: int, axis: MeshAxis, phase: Phase, *,
             deps: tuple[int | None, ...] = ()) -> int:
        return self._add(CommOp(name=name, collective="send", axis=axis, bytes=nbytes, phase=phase,
                                deps=self._deps(deps), peer_group=peer_group, key=name))

    def recv(self, name: str, key: str, phase: Phase, *, deps: tuple[int | None, ...] = ()) -> int:
        return self._add(RecvOp(name=name, key=key, phase=phase, deps=self._deps(deps)))
