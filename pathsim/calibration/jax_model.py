"""A decoder-only transformer training step in plain JAX: forward, backward and an Adam update.

Built to be the program pathsim's lowering describes (cases.experiment): fused QKV projection, rotary
embeddings, causal softmax attention in f32, scale-only layer norms, GELU MLP, tied embeddings. Sharded
with jax.sharding over a (data, fsdp, tensor) mesh: the batch over data x fsdp, weights over tensor
Megatron-style (heads, d_ff and the vocabulary) and over fsdp, gathered before use.
Import only from the calibration commands: it imports jax.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from pathsim.calibration.cases import MESH_AXES, Case, ModelSize

HEAD_DIM = 64
ADAM = (0.9, 0.999, 1e-8, 1e-3)  # beta1, beta2, eps, learning rate

# Weight partition specs: (tensor-sharded dim spec, the dim fsdp also shards).
_LAYER_SPECS = {
    "ln1": P(None), "ln2": P(None),
    "wqkv": P("fsdp", None, "tensor", None),  # [d, 3, heads, head_dim]
    "wo": P("tensor", None, "fsdp"),  # [heads, head_dim, d]
    "w_in": P("fsdp", "tensor"),  # [d, d_ff]
    "w_out": P("tensor", "fsdp"),  # [d_ff, d]
}
_TOP_SPECS = {"embed": P("tensor", "fsdp"), "ln_f": P(None)}  # embed: [vocab, d]


def _head_dim(s: ModelSize) -> int:
    return s.d_model // s.n_heads


def init_params(s: ModelSize, dtype, seed: int = 0) -> dict:
    keys = iter(jax.random.split(jax.random.PRNGKey(seed), 4 * s.n_layers + 1))
    normal = lambda shape, fan_in: (jax.random.normal(next(keys), shape, jnp.float32)  # noqa: E731
                                    / math.sqrt(fan_in)).astype(dtype)
    hd = _head_dim(s)
    layers = [{
        "ln1": jnp.ones((s.d_model,), dtype), "ln2": jnp.ones((s.d_model,), dtype),
        "wqkv": normal((s.d_model, 3, s.n_heads, hd), s.d_model),
        "wo": normal((s.n_heads, hd, s.d_model), s.d_model),
        "w_in": normal((s.d_model, s.d_ff), s.d_model),
        "w_out": normal((s.d_ff, s.d_model), s.d_ff),
    } for _ in range(s.n_layers)]
    return {"embed": normal((s.vocab_size, s.d_model), s.d_model), "ln_f": jnp.ones((s.d_model,), dtype),
            "layers": layers}


def layer_norm(x, scale):
    """Scale-only layer norm (no bias, as PaLM), statistics in f32."""
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = ((x32 - mean) ** 2).mean(-1, keepdims=True)
    return ((x32 - mean) * jax.lax.rsqrt(var + 1e-6)).astype(x.dtype) * scale


def _rope(x):
    """Rotary embeddings on [batch, seq, heads, head_dim]."""
    seq, hd = x.shape[1], x.shape[-1]
    freq = 1.0 / (10000.0 ** (jnp.arange(0, hd // 2, dtype=jnp.float32) / (hd // 2)))
    angle = jnp.arange(seq, dtype=jnp.float32)[:, None] * freq[None, :]
    sin, cos = jnp.sin(angle)[None, :, None, :].astype(x.dtype), jnp.cos(angle)[None, :, None, :].astype(x.dtype)
    a, b = x[..., : hd // 2], x[..., hd // 2:]
    return jnp.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)


class _Sharder:
    """with_sharding_constraint where a mesh is set; a no-op on one device."""

    def __init__(self, mesh: Mesh | None) -> None:
        self.mesh = mesh

    def __call__(self, x, spec: P):
        if self.mesh is None:
            return x
        return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))

    def gathered(self, w, spec: P):
        """The weight with its fsdp shards all-gathered (tensor sharding kept)."""
        return self(w, P(*(None if axis == "fsdp" else axis for axis in spec)))


def loss_fn(params: dict, tokens, shard: _Sharder):
    batch_spec = P(("data", "fsdp"))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    embed = shard.gathered(params["embed"], _TOP_SPECS["embed"])
    x = shard(jnp.take(embed, inputs, axis=0), batch_spec)
    seq = inputs.shape[1]
    causal = jnp.tril(jnp.ones((seq, seq), bool))
    for layer in params["layers"]:
        w = {k: shard.gathered(v, _LAYER_SPECS[k]) for k, v in layer.items()}
        h = layer_norm(x, w["ln1"])
        qkv = jnp.einsum("bsd,dthk->bsthk", h, w["wqkv"])
        q, k, v = _rope(qkv[:, :, 0]), _rope(qkv[:, :, 1]), qkv[:, :, 2]
        scores = jnp.einsum("bqhk,bshk->bhqs", q, k).astype(jnp.float32) / math.sqrt(q.shape[-1])
        probs = jax.nn.softmax(jnp.where(causal, scores, -1e30), axis=-1).astype(x.dtype)
        attn = jnp.einsum("bhqs,bshk->bqhk", probs, v)
        x = shard(x + jnp.einsum("bqhk,hkd->bqd", attn, w["wo"]), batch_spec)
        h = jax.nn.gelu(layer_norm(x, w["ln2"]) @ w["w_in"], approximate=True)
        x = shard(x + h @ w["w_out"], batch_spec)
    logits = (layer_norm(x, params["ln_f"]) @ embed.T).astype(jnp.float32)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], axis=-1))


def _adam(params, grads, m, v):
    b1, b2, eps, lr = ADAM
    m = jax.tree.map(lambda m_, g: b1 * m_ + (1 - b1) * g, m, grads)
    v = jax.tree.map(lambda v_, g: b2 * v_ + (1 - b2) * g * g, v, grads)
    params = jax.tree.map(lambda p, m_, v_: p - lr * m_ / (jnp.sqrt(v_) + eps), params, m, v)
    return params, m, v


def make_mesh(case: Case) -> Mesh | None:
    if case.devices <= 1:
        return None
    sizes = dict(case.plan)
    shape = tuple(sizes.get(a, 1) for a in MESH_AXES)
    devices = jax.devices()
    if len(devices) < case.devices:
        raise RuntimeError(f"{case.name} needs {case.devices} devices, the backend has {len(devices)}")
    return Mesh(np.array(devices[: case.devices]).reshape(shape), MESH_AXES)


def param_specs(params: dict) -> dict:
    return {"embed": _TOP_SPECS["embed"], "ln_f": _TOP_SPECS["ln_f"],
            "layers": [dict(_LAYER_SPECS) for _ in params["layers"]]}


class TrainStep:
    """The jitted step and its inputs, placed on the case's mesh; `run()` does one step."""

    def __init__(self, case: Case, dtype=jnp.float32, seed: int = 0) -> None:
        s = case.size
        self.case, self.mesh = case, make_mesh(case)
        shard = _Sharder(self.mesh)
        params = init_params(s, dtype, seed)
        tokens = jax.random.randint(jax.random.PRNGKey(seed + 1), (s.batch_seqs, s.seq_len + 1), 0, s.vocab_size)
        zeros = jax.tree.map(jnp.zeros_like, params)

        def step(params, m, v, tokens):
            loss, grads = jax.value_and_grad(loss_fn)(params, tokens, shard)
            params, m, v = _adam(params, grads, m, v)
            return params, m, v, loss

        if self.mesh is None:
            self.fn = jax.jit(step, donate_argnums=(0, 1, 2))
            self.args = (params, zeros, jax.tree.map(jnp.zeros_like, params), tokens)
        else:
            ps = jax.tree.map(lambda spec: NamedSharding(self.mesh, spec), param_specs(params),
                              is_leaf=lambda x: isinstance(x, P))
            tok = NamedSharding(self.mesh, P(("data", "fsdp")))
            self.fn = jax.jit(step, in_shardings=(ps, ps, ps, tok), out_shardings=(ps, ps, ps, None),
                              donate_argnums=(0, 1, 2))
            put = lambda tree: jax.device_put(tree, ps)  # noqa: E731
            self.args = (put(params), put(zeros), put(jax.tree.map(jnp.zeros_like, params)),
                         jax.device_put(tokens, tok))

        self.compiled = self.fn.lower(*self.args).compile()

    def run(self):
        """One training step; returns the loss (a device array: block on it to time the step)."""
        params, m, v, loss = self.compiled(*self.args)
        self.args = (params, m, v, self.args[3])
        return loss

    def compiled_cost(self) -> tuple[float, str]:
        """(FLOPs XLA's cost analysis counts in the compiled step, its optimized HLO text)."""
        compiled = self.compiled
        cost = compiled.cost_analysis()
        if isinstance(cost, (list, tuple)):  # older jax: one dict per program
            cost = cost[0]
        return float(cost["flops"]), compiled.as_text()
