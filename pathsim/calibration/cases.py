"""The closed-loop cases: small decoder-only transformers, and the plans they run under, as pathsim
experiments. The same definition drives the real JAX step (pathsim.workload.xla.step, the step that
program: xla compiles for TPUs) and pathsim's prediction of it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pathsim.config.experiment import ExperimentConfig, parse_experiment
from pathsim.errors import ConfigError

MESH_AXES = ("data", "fsdp", "tensor")  # the plan axes the cases shard over


@dataclass(frozen=True)
class ModelSize:
    name: str
    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int
    vocab_size: int
    seq_len: int
    batch_seqs: int


@dataclass(frozen=True)
class Case:
    size: ModelSize
    plan: tuple[tuple[str, int], ...] = ()  # (mesh axis, size); () = one device

    @property
    def devices(self) -> int:
        return math.prod(n for _, n in self.plan)

    @property
    def name(self) -> str:
        plan = "x".join(f"{a}{n}" for a, n in self.plan if n > 1) or "1dev"
        return f"{self.size.name}/{plan}"


# head_dim 64 throughout, so that elementwise FLOPs stay a small share of the step (see flops.py).
_CPU_SIZES = (
    ModelSize("xs", n_layers=2, d_model=128, n_heads=2, d_ff=512, vocab_size=1024, seq_len=128, batch_seqs=4),
    ModelSize("s", n_layers=2, d_model=256, n_heads=4, d_ff=1024, vocab_size=2048, seq_len=128, batch_seqs=4),
    ModelSize("m", n_layers=3, d_model=256, n_heads=4, d_ff=1024, vocab_size=4096, seq_len=256, batch_seqs=4),
    ModelSize("l", n_layers=4, d_model=384, n_heads=6, d_ff=1536, vocab_size=4096, seq_len=256, batch_seqs=4),
    ModelSize("xl", n_layers=4, d_model=512, n_heads=8, d_ff=2048, vocab_size=4096, seq_len=256, batch_seqs=4),
)
_GPU_SIZES = (
    ModelSize("g1", n_layers=4, d_model=512, n_heads=8, d_ff=2048, vocab_size=8192, seq_len=512, batch_seqs=8),
    ModelSize("g2", n_layers=4, d_model=1024, n_heads=16, d_ff=4096, vocab_size=8192, seq_len=512, batch_seqs=8),
    ModelSize("g3", n_layers=8, d_model=1024, n_heads=16, d_ff=4096, vocab_size=16384, seq_len=1024, batch_seqs=8),
    ModelSize("g4", n_layers=8, d_model=1536, n_heads=24, d_ff=6144, vocab_size=16384, seq_len=1024, batch_seqs=8),
    ModelSize("g5", n_layers=8, d_model=2048, n_heads=32, d_ff=8192, vocab_size=16384, seq_len=1024, batch_seqs=8),
)
_TINY_SIZES = (  # tests: seconds, not minutes
    ModelSize("t1", n_layers=1, d_model=64, n_heads=1, d_ff=256, vocab_size=256, seq_len=64, batch_seqs=4),
    ModelSize("t2", n_layers=2, d_model=128, n_heads=2, d_ff=512, vocab_size=512, seq_len=64, batch_seqs=4),
)
_SHARDED_PLANS = (
    (("data", 4),), (("fsdp", 4),), (("tensor", 4),), (("data", 2), ("tensor", 2)), (("fsdp", 2), ("tensor", 2)),
)
PRESETS = ("cpu", "gpu", "tiny")


def sharded_plans(devices: int) -> tuple[tuple[tuple[str, int], ...], ...]:
    """The plans over every device: the five of the 4-device mesh, or each axis alone on another count."""
    if devices == 4:
        return _SHARDED_PLANS
    return tuple(((axis, devices),) for axis in MESH_AXES) if devices > 1 else ()


def cases(preset: str, devices: int) -> tuple[Case, ...]:
    """Every size on one device, then (with 2+ devices) the sharded plans on the second size."""
    sizes = {"cpu": _CPU_SIZES, "gpu": _GPU_SIZES, "tiny": _TINY_SIZES}.get(preset)
    if sizes is None:
        raise ConfigError("--preset", f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    single = tuple(Case(size) for size in sizes)
    sharded_size = sizes[1] if preset != "tiny" else sizes[-1]
    plans = sharded_plans(devices)
    if preset == "tiny":  # tests: seconds, so two plans: data alone, and data x tensor where it exists
        plans = (plans[0], plans[3]) if devices == 4 else plans[:2]
    return single + tuple(Case(sharded_size, plan) for plan in plans)


def experiment(case: Case, dtype_bytes: int = 4) -> ExperimentConfig:
    """The case as an experiment, which both pathsim and the real step read: serial blocks, GELU, tied
    embeddings, Adam, no remat, activations replicated over tensor (Megatron), one dispatch per step."""
    s = case.size
    return parse_experiment({
        "name": case.name,
        "topology": "local",
        "model": {"name": s.name, "n_layers": s.n_layers, "d_model": s.d_model, "n_heads": s.n_heads,
                  "d_ff": s.d_ff, "vocab_size": s.vocab_size, "seq_len": s.seq_len, "block": "serial",
                  "mlp": "gelu", "tied_embeddings": True},
        "training": {"global_batch_seqs": s.batch_seqs, "param_bytes": dtype_bytes, "grad_bytes": dtype_bytes,
                     "activation_bytes": dtype_bytes, "optimizer": "adam", "remat": "none"},
        "plan": {"ici": {a: n for a, n in case.plan if n > 1}, "tensor_style": "megatron"},
        "runtime": {"dispatch": "jax_opbyop"},
    })


def train_step(case: Case, dtype_bytes: int = 4):
    """The case's step compiled for this machine's devices and placed on them (a LocalStep). Imports jax."""
    from pathsim.workload.xla.step import LocalStep

    exp = experiment(case, dtype_bytes)
    return LocalStep(exp.model, exp.training, exp.plan)
