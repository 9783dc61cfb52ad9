"""The JAX training step of an experiment: a decoder-only transformer (the `model:` family), its loss
(MaxText's cross entropy on f32 logits, loss.py), the optimizer of `training:`, rematerialization as
jax.checkpoint policies, layers under jax.lax.scan.

Weights and activations are annotated with logical axes; the plan's Sharding (mesh/sharding.py, which the
lowering reads too) maps them to mesh axes.
The same step is compiled ahead of time for a TPU target (compile.py, abstract inputs) and run on the
devices at hand from concrete inputs (LocalStep: the calibration's closed loop times and traces it).

Rematerialization (`training.remat`) as jax.checkpoint policies over one layer:
- none: no checkpoint; every intermediate the backward pass needs is kept.
- full: jax.checkpoint_policies.nothing_saveable; only the layer input (the scan carry) is kept.
- palm: save_only_these_names("qkv_proj"): the query and multi-query key/value projections are saved,
  the MLP's input projections and attention are recomputed (PaLM appendix B recomputes 75% of the
  non-attention and all attention forward FLOPs; with PaLM 540B's shapes this policy recomputes the
  gate and up projections, about 60% of them, and all of attention).
- MaxText's policies and custom (workload/remat.py): the layer's tensors carry MaxText's checkpoint names
  (decoder_layer_input, query_proj, key_proj, value_proj, out_proj, mlpwi, mlpwo) and the policy is
  save_only_these_names, or save_and_offload_only_these_names (offload to pinned_host) when it offloads,
  as MaxText's Decoder.get_remat_policy builds them. `context` names the flash kernel's residuals (its
  output and softmax statistics); a dot-product attention tags none, as in MaxText. Only these policies
  split K and V into two projections and add the names: the programs of none, full and palm are those
  compiled before them.

Attention (`model.attention`): `dot` materialises the [T, T] scores (softmax in f32); `flash` calls JAX's
Pallas TPU splash kernel inside shard_map as MaxText does (flash.py): the scores never reach HBM, and the
kernel recomputes them in its backward pass. Only a TPU target compiles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pathsim.config.experiment import ModelConfig, PlanConfig, TrainingConfig
from pathsim.errors import ConfigError
from pathsim.workload.remat import RematPolicy, remat_policy
from pathsim.workload.xla.flash import CONTEXT_NAME, splash_attention
from pathsim.workload.xla.mesh import MeshPlan

PALM_SAVED_NAMES = ("qkv_proj",)
# The tensors this step names for per-tensor policies; flash attention's kernel also names `context`.
XLA_TAGGED = ("decoder_layer_input", "query_proj", "key_proj", "value_proj", "out_proj", "mlpwi", "mlpwo")


@dataclass(frozen=True)
class StepSpec:
    """What jax.jit(step).lower needs: the function and its abstract, sharded arguments."""

    fn: Callable
    args: tuple  # jax.ShapeDtypeStruct pytrees: params, optimizer state, token batch
    out_shardings: Any
    donate_argnums: tuple[int, ...]
    init_state: Callable  # params -> the optimizer's initial state

    def jit(self):
        import jax

        return jax.jit(self.fn, out_shardings=self.out_shardings, donate_argnums=self.donate_argnums)


def _dtype(nbytes: int):
    import jax.numpy as jnp

    return {2: jnp.bfloat16, 4: jnp.float32}.get(nbytes, jnp.bfloat16)


def param_shapes(model: ModelConfig, vocab_size: int) -> dict[str, tuple[tuple[int, ...], tuple[str, ...]]]:
    """Parameter name -> (shape, logical axes), with the vocabulary as padded (padded_vocab). Layers are
    stacked on a leading axis for the scan."""
    L, d, H, kv, hd, ff, V = (model.n_layers, model.d_model, model.n_heads, model.kv_heads, model.q_head_dim,
                              model.d_ff, vocab_size)
    n_in = 2 if model.mlp == "swiglu" else 1
    shapes = {
        "embed": ((V, d), ("vocab", "embed")),
        "final_norm": ((d,), ("norm",)),
        "layers.norm1": ((L, d), ("stack", "norm")),
        "layers.wq": ((L, d, H, hd), ("stack", "embed", "heads", "kv")),
        "layers.wkv": ((L, d, 2, kv, hd), ("stack", "embed", None, "kv_heads", "kv")),
        "layers.wo": ((L, H, hd, d), ("stack", "heads", "kv", "embed")),
        "layers.w_in": ((L, d, n_in, ff), ("stack", "embed", None, "mlp")),
        "layers.w_out": ((L, ff, d), ("stack", "mlp", "embed")),
    }
    if model.block == "serial":
        shapes["layers.norm2"] = ((L, d), ("stack", "norm"))
    if not model.tied_embeddings:
        shapes["unembed"] = ((d, V), ("embed", "vocab"))
    return shapes


def padded_vocab(model: ModelConfig, mp: MeshPlan) -> int:
    """The vocabulary padded to a multiple of the axes that split it, as Megatron-LM pads it
    (make-vocab-size-divisible-by) and as the lowering prices it (Sharding.padded_split): jax cannot split
    a table its axes do not divide, and a table kept whole computes and holds the logits of the whole
    vocabulary on every chip of the tensor group. The padded rows are never a target."""
    return mp.sharding.padded("vocab", model.vocab_size)


def rms_norm(x, scale, dtype):
    """The step's norm: RMS statistics in f32, a scale and no bias, the result in `dtype`."""
    import jax
    import jax.numpy as jnp

    x32 = x.astype(jnp.float32)
    return (x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + 1e-6) * scale).astype(dtype)


def _spec(logical: tuple, rules: dict, dims: tuple[int, ...], sizes: dict[str, int]):
    """PartitionSpec of logical axes; a dimension the mesh axes do not divide stays replicated."""
    from jax.sharding import PartitionSpec as P

    out = []
    used: set[str] = set()
    for name, n in zip(logical, dims):
        axes = rules.get(name) if name else None
        if isinstance(axes, str):
            axes = (axes,)
        axes = tuple(a for a in (axes or ()) if a not in used)
        total = 1
        for a in axes:
            total *= sizes[a]
        if not axes or n % total:
            out.append(None)
            continue
        used |= set(axes)
        out.append(axes if len(axes) > 1 else axes[0])
    return P(*out)


def _optimizer(training: TrainingConfig):
    import jax.numpy as jnp
    import optax

    if training.optimizer == "adam":
        return _f32_state(optax.adam(1e-4))
    if training.optimizer == "sgd":
        return optax.sgd(1e-4)
    # PaLM's Adafactor: unfactored second moment (no dimension is factored) and a first moment kept.
    return _f32_state(optax.adafactor(1e-2, min_dim_size_to_factor=2**62, momentum=0.9,
                                      dtype_momentum=jnp.float32))


def _f32_state(opt):
    """`opt` with its moments in f32 whatever the parameters' dtype (catalog SOFTWARE: PaLM, T5X; optax
    keeps Adam's moments and Adafactor's second moment in the parameters' dtype). For f32 parameters the
    casts are no-ops and the program is the one compiled before."""
    import jax
    import jax.numpy as jnp
    import optax

    def f32(tree):
        return jax.tree.map(lambda x: x.astype(jnp.float32), tree)

    def update(grads, state, params=None):
        return opt.update(f32(grads), state, None if params is None else f32(params))

    return optax.GradientTransformation(lambda params: opt.init(f32(params)), update)


def _remat(layer: Callable, remat: str, policy: RematPolicy | None = None, flash: bool = False) -> Callable:
    import jax

    if remat == "none":
        return layer
    if remat == "full":
        return jax.checkpoint(layer, policy=jax.checkpoint_policies.nothing_saveable)
    if policy is None or not policy.per_tensor:
        return jax.checkpoint(layer, policy=jax.checkpoint_policies.save_only_these_names(*PALM_SAVED_NAMES))
    # The layer input is the checkpoint's own input, kept unless named for offload.
    tagged = XLA_TAGGED + ((CONTEXT_NAME,) if flash else ())  # the flash kernel names its residuals
    saved = [t for t, p in policy.tensors or () if p == "device" and t in tagged]
    offloaded = [t for t, p in policy.tensors or () if p == "offload" and t in tagged]
    if not offloaded:
        return jax.checkpoint(layer, policy=jax.checkpoint_policies.save_only_these_names(*saved))
    return jax.checkpoint(layer, policy=jax.checkpoint_policies.save_and_offload_only_these_names(
        names_which_can_be_saved=saved, names_which_can_be_offloaded=offloaded,
        offload_src="device", offload_dst="pinned_host"))


def build_step(model: ModelConfig, training: TrainingConfig, mp: MeshPlan, mesh) -> StepSpec:
    import jax
    import jax.numpy as jnp
    import optax
    from jax.ad_checkpoint import checkpoint_name
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from pathsim.workload.xla.loss import mean_next_token_loss

    rules = mp.rules()
    sizes = dict(zip(mp.axes.names, mp.axes.sizes))
    pdt, adt = _dtype(training.param_bytes), _dtype(training.activation_bytes)
    V = padded_vocab(model, mp)
    shapes = param_shapes(model, V)
    shard = {k: NamedSharding(mesh, _spec(ax, rules, s, sizes)) for k, (s, ax) in shapes.items()}
    B, S, M = training.global_batch_seqs, model.seq_len, mp.microbatches
    if B % M:
        raise ConfigError("plan.microbatches", f"{M} micro-batches do not divide the batch of {B} sequences")
    Bm = B // M  # the sequences one forward and backward pass sees
    act = lambda *logical: NamedSharding(mesh, _spec(logical, rules, (Bm, S, model.d_model), sizes))  # noqa: E731
    x_sharding = act("batch", "seq", "act_embed")
    logits_sharding = NamedSharding(mesh, _spec(("batch", "seq", "vocab"), rules, (Bm, S, V), sizes))
    vocab_d = (V, model.d_model)
    lookup_sharding = NamedSharding(mesh, _spec(("vocab", None), rules, vocab_d, sizes))
    lookup_out = NamedSharding(mesh, _spec(("batch", "seq", None), rules, (Bm, S, model.d_model), sizes))
    G = model.n_heads // model.kv_heads  # query heads per key/value head
    policy = remat_policy(training.remat, training.remat_custom)
    named = policy.per_tensor  # MaxText's names only where a per-tensor policy reads them
    flash = model.attention == "flash"
    if flash and mp.target is None:
        raise ConfigError("model.attention", "flash runs JAX's Pallas TPU kernel, which only a TPU target "
                          "compiles; use attention: dot on the devices at hand")
    q_spec = _spec(("batch", "heads", None, None), rules, (Bm, model.n_heads, S, model.q_head_dim), sizes)
    kv_spec = _spec(("batch", "kv_heads", None, None), rules, (Bm, model.kv_heads, S, model.q_head_dim), sizes)

    def tag(x, name):
        return checkpoint_name(x, name) if named else x

    def norm(x, scale):
        return rms_norm(x, scale, adt)

    def flash_attention(q, k, v):
        return splash_attention(q * model.q_head_dim ** -0.5, k, v, mesh=mesh, q_spec=q_spec, kv_spec=kv_spec,
                                n_heads=model.n_heads, kv_heads=model.kv_heads)

    def dot_attention(q, k, v):
        q = q.reshape(q.shape[0], S, model.kv_heads, G, model.q_head_dim)
        scores = jnp.einsum("bsgnk,btgk->bgnst", q, k).astype(jnp.float32) * model.q_head_dim ** -0.5
        causal = jnp.tril(jnp.ones((S, S), dtype=bool))
        probs = jax.nn.softmax(jnp.where(causal, scores, -1e9), axis=-1).astype(adt)
        return jnp.einsum("bgnst,btgk->bsgnk", probs, v).reshape(q.shape[0], S, model.n_heads, model.q_head_dim)

    def attention(h, w):
        if named:  # K and V as MaxText's two projections, each with its own name
            q = tag(jnp.einsum("bsd,dhk->bshk", h, w["wq"]), "query_proj")
            k = tag(jnp.einsum("bsd,dgk->bsgk", h, w["wkv"][:, 0]), "key_proj")
            v = tag(jnp.einsum("bsd,dgk->bsgk", h, w["wkv"][:, 1]), "value_proj")
        else:
            q = checkpoint_name(jnp.einsum("bsd,dhk->bshk", h, w["wq"]), "qkv_proj")
            kv = checkpoint_name(jnp.einsum("bsd,dtgk->bstgk", h, w["wkv"]), "qkv_proj")
            k, v = kv[:, :, 0], kv[:, :, 1]
        out = flash_attention(q, k, v) if flash else dot_attention(q, k, v)
        return tag(jnp.einsum("bshk,hkd->bsd", out, w["wo"]), "out_proj")

    def mlp(h, w):
        up = tag(jnp.einsum("bsd,dnf->bsnf", h, w["w_in"]), "mlpwi")
        if model.mlp == "swiglu":
            hidden = jax.nn.silu(up[:, :, 0]) * up[:, :, 1]
        elif model.mlp == "gelu":
            hidden = jax.nn.gelu(up[:, :, 0])
        else:
            hidden = jax.nn.relu(up[:, :, 0])
        return tag(jnp.einsum("bsf,fd->bsd", hidden, w["w_out"]), "mlpwo")

    # One layer's weights keep their sharding inside the scan; the constraint's transpose keeps their
    # gradients sharded too, so XLA reduce-scatters each layer's gradients in the loop instead of
    # carrying unreduced gradients of every layer out of it.
    def compute_weight(name, w):
        """A matmul's weight in the activation dtype, as MaxText's layers cast theirs (`jnp.asarray(kernel,
        dtype)`) before the dot: the cast runs on the shard, so fsdp gathers weights in that dtype and the
        matmuls write activation-dtype outputs. Norm scales stay as stored (the norm works in f32)."""
        return w if name.startswith("norm") else w.astype(adt)

    layer_sharding = {k.split(".", 1)[1]: NamedSharding(mesh, _spec(ax[1:], rules, s[1:], sizes))
                      for k, (s, ax) in shapes.items() if k.startswith("layers.")}

    def layer(x, w):
        w = {k: compute_weight(k, jax.lax.with_sharding_constraint(v, layer_sharding[k])) for k, v in w.items()}
        x = tag(jax.lax.with_sharding_constraint(x, x_sharding), "decoder_layer_input")
        h = norm(x, w["norm1"])
        if model.block == "parallel":
            y = x + attention(h, w) + mlp(h, w)
        else:
            x = x + attention(h, w)
            y = x + mlp(norm(x, w["norm2"]), w)
        return jax.lax.with_sharding_constraint(y.astype(adt), x_sharding), None

    body = _remat(layer, training.remat, policy, flash)

    def loss_fn(params, tokens):
        # The lookup reads a table gathered over fsdp (vocab stays split over tensor): a gather from a
        # table split on both dims would be partitioned into a replicated [batch, seq, d_model] result.
        table = compute_weight("embed", jax.lax.with_sharding_constraint(params["embed"], lookup_sharding))
        x = jax.lax.with_sharding_constraint(jnp.take(table, tokens[:, :-1], axis=0), lookup_out).astype(adt)
        x = jnp.pad(x, ((0, 0), (0, 1), (0, 0)))  # the step predicts S tokens from S inputs
        x = jax.lax.with_sharding_constraint(x, x_sharding)
        layers = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("layers.")}
        x, _ = jax.lax.scan(body, x, layers)
        x = norm(x, params["final_norm"])
        table = compute_weight("unembed", params["embed"].T if model.tied_embeddings else params["unembed"])
        logits = jnp.einsum("bsd,dv->bsv", x, table)
        logits = jax.lax.with_sharding_constraint(logits, logits_sharding).astype(jnp.float32)
        return mean_next_token_loss(logits, jnp.roll(tokens, -1, axis=1))

    opt = _optimizer(training)
    grad_fn = jax.value_and_grad(loss_fn)
    tok_spec = _spec(("batch", "seq"), rules, (B, S), sizes)
    micro_sharding = NamedSharding(mesh, P(None, *tok_spec))

    def accumulated(params, tokens):
        """Gradient accumulation over M micro-batches (a loop the compiler keeps): micro-batch m is rows
        m, m + M, ... of the batch, so each one stays split over the batch's axes without a reshuffle."""
        micro = jax.lax.with_sharding_constraint(tokens.reshape(Bm, M, S).swapaxes(0, 1), micro_sharding)

        def one(acc, t):
            loss, grads = grad_fn(params, t)
            total = jax.tree.map(lambda a, g, s: jax.lax.with_sharding_constraint(a + g, s), acc[1], grads, shard)
            return (acc[0] + loss, total), None

        zero = (jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, params))
        (loss, grads), _ = jax.lax.scan(one, zero, micro)
        return loss / M, jax.tree.map(lambda g: g / M, grads)

    def step(params, opt_state, tokens):
        loss, grads = grad_fn(params, tokens) if M == 1 else accumulated(params, tokens)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    params = {k: jax.ShapeDtypeStruct(s, pdt, sharding=shard[k]) for k, (s, _) in shapes.items()}
    state_shapes = jax.eval_shape(opt.init, params)
    by_shape = {params[k].shape: shard[k] for k in params}
    replicated = NamedSharding(mesh, P())

    def state_sharding(leaf):
        return by_shape.get(leaf.shape, replicated)

    state_shard = jax.tree.map(state_sharding, state_shapes)
    state = jax.tree.map(lambda leaf, s: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=s),
                         state_shapes, state_shard)
    tok_sharding = NamedSharding(mesh, tok_spec)
    tokens = jax.ShapeDtypeStruct((B, S), jnp.int32, sharding=tok_sharding)
    return StepSpec(fn=step, args=(params, state, tokens), out_shardings=(shard, state_shard, replicated),
                    donate_argnums=(0, 1), init_state=opt.init)


def concrete_args(model: ModelConfig, training: TrainingConfig, spec: StepSpec, seed: int = 0) -> tuple:
    """Arrays for the abstract arguments of `spec`, placed by their shardings: norm scales 1, weights
    N(0, 1/d_model) (values only keep the loss finite: a step's time does not depend on them), the
    optimizer's initial state, random tokens."""
    import jax
    import jax.numpy as jnp

    params, state, tokens = spec.args
    keys = iter(jax.random.split(jax.random.PRNGKey(seed), len(params) + 1))
    logical = {name: axes for name, (_, axes) in param_shapes(model, model.vocab_size).items()}

    def init(name, a):
        key = next(keys)
        if logical[name][-1] == "norm":
            return jnp.ones(a.shape, a.dtype)
        return (jax.random.normal(key, a.shape, jnp.float32) * model.d_model ** -0.5).astype(a.dtype)

    concrete = {k: jax.device_put(init(k, a), a.sharding) for k, a in params.items()}
    state_shardings = jax.tree.map(lambda a: a.sharding, state)
    opt_state = jax.jit(spec.init_state, out_shardings=state_shardings)(concrete)
    ids = jax.random.randint(next(keys), tokens.shape, 0, model.vocab_size, tokens.dtype)
    return concrete, opt_state, jax.device_put(ids, tokens.sharding)


class LocalStep:
    """The step of `plan` compiled for the devices at hand (CPU or GPU; mesh.local_mesh) and run from
    concrete inputs. `run()` does one step and returns the loss (block on it to time the step)."""

    def __init__(self, model: ModelConfig, training: TrainingConfig, plan: PlanConfig, seed: int = 0) -> None:
        from pathsim.workload.xla.mesh import local_mesh, mesh_plan

        mp = mesh_plan(plan)
        spec = build_step(model, training, mp, local_mesh(mp))
        self.args = concrete_args(model, training, spec, seed)
        self.compiled = spec.jit().lower(*self.args).compile()

    def run(self):
        params, state, loss = self.compiled(*self.args)  # the old params and state were donated
        self.args = (params, state, self.args[2])
        return loss

    def compiled_cost(self) -> tuple[float, str]:
        """(FLOPs XLA's cost analysis counts in the compiled step, its optimized HLO text)."""
        cost = self.compiled.cost_analysis()
        if isinstance(cost, (list, tuple)):  # older jax: one dict per program
            cost = cost[0]
        return float(cost["flops"]), self.compiled.as_text()
