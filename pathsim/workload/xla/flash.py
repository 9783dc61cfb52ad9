"""Flash attention in the XLA step: JAX's Pallas TPU splash attention kernel, called as MaxText calls it.

MaxText (layers/attention_op.py, tpu_flash_attention) runs `splash_attention_kernel.make_splash_mha` with a
causal MultiHeadMask, its configs' block sizes (base.yml sa_block_*: 512, separate dq and dkv backward
kernels: sa_use_fused_bwd_kernel false) and `residual_checkpoint_name="context"`, vmapped over the batch
inside `jax.shard_map` (a Mosaic kernel cannot be partitioned automatically). The compiled HLO then holds one
`tpu_custom_call` per kernel: forward, and dq and dkv for the backward pass, named by the kernel
(`splash_mha_fwd...`, `splash_mha_dq...`, `splash_mha_dkv...`); the importer prices them from their shapes.

Each chip runs the kernel over its own sequences (batch axes) and query heads (the heads' axes). Where the
key/value heads are fewer than the heads' axes split (multi-query, or grouped heads under a wider tensor
degree), every chip holds them all and slices out those its query heads read.
"""

from __future__ import annotations

from pathsim.catalog.kernels import FLASH_BLOCK_KV, FLASH_BLOCK_Q
from pathsim.errors import ConfigError

LANES = 128  # splash's key/value blocks are multiples of the vector lanes (its NUM_LANES)
CONTEXT_NAME = "context"  # MaxText's checkpoint name of the kernel's residuals (output and softmax statistics)


def block_sizes(seq_len: int):
    """MaxText's splash block sizes (catalog FLASH_BLOCK_*: base.yml sa_block_q, sa_block_kv and their dq and
    dkv twins, all 512), capped at the sequence, with separate dq and dkv kernels."""
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as sk

    bq, bkv = min(FLASH_BLOCK_Q.value, seq_len), min(FLASH_BLOCK_KV.value, seq_len)
    if seq_len % bq or seq_len % bkv or bkv % LANES:
        edge = FLASH_BLOCK_Q.value
        raise ConfigError("model.seq_len", f"{seq_len} tokens: flash attention under program: xla runs JAX's "
                          f"splash kernel in blocks of min({edge}, sequence) tokens, which must be a multiple of "
                          f"{LANES} and divide the sequence; give a multiple of {LANES} up to {edge} or of {edge} "
                          "beyond, or attention: dot")
    return sk.BlockSizes(block_q=bq, block_kv=bkv, block_kv_compute=bkv, block_q_dkv=bq, block_kv_dkv=bkv,
                         block_kv_dkv_compute=bkv, block_q_dq=bq, block_kv_dq=bkv, use_fused_bwd_kernel=False)


def _axes(spec_entry) -> tuple[str, ...]:
    if spec_entry is None:
        return ()
    return (spec_entry,) if isinstance(spec_entry, str) else tuple(spec_entry)


def splash_attention(q, k, v, *, mesh, q_spec, kv_spec, n_heads: int, kv_heads: int):
    """Causal attention of q [B, T, H, D] (already scaled) over k and v [B, T, K, D] -> [B, T, H, D].
    `q_spec` and `kv_spec` are the PartitionSpecs of [B, H, T, D] and [B, K, T, D]: batch and heads split,
    sequence and head dimension whole."""
    import functools

    import jax
    import jax.numpy as jnp
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as sk
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_mask as sm

    seq_len = q.shape[1]
    head_axes = _axes(q_spec[1])
    kv_whole = head_axes and not _axes(kv_spec[1])  # every chip holds all key/value heads
    group = n_heads // kv_heads

    @functools.partial(jax.shard_map, mesh=mesh, in_specs=(q_spec, kv_spec, kv_spec), out_specs=q_spec,
                       check_vma=False)
    def local(q, k, v):
        heads = q.shape[1]
        if kv_whole:
            # The kv heads this chip's query heads read: global query heads [r*heads, (r+1)*heads).
            count = max(1, heads // group)
            start = jax.lax.axis_index(head_axes) * heads // group
            k = jax.lax.dynamic_slice_in_dim(k, start, count, axis=1)
            v = jax.lax.dynamic_slice_in_dim(v, start, count, axis=1)
        mask = sm.MultiHeadMask([sm.CausalMask((seq_len, seq_len))] * heads)
        kernel = sk.make_splash_mha(mask=mask, head_shards=1, q_seq_shards=1, block_sizes=block_sizes(seq_len),
                                    residual_checkpoint_name=CONTEXT_NAME)
        return jax.vmap(kernel)(q, k, v)

    out = local(jnp.swapaxes(q, 1, 2), jnp.swapaxes(k, 1, 2), jnp.swapaxes(v, 1, 2))
    return jnp.swapaxes(out, 1, 2)
