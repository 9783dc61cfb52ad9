"""Fused (flash) attention on one chip: one kernel per layer and pass, blockwise, the [T, T] scores never in HBM.

FLOP convention (hardware FLOPs, what the kernel executes): causal masking skips the key blocks entirely above
the diagonal, so a kernel runs the block pairs at or below it, ceil(T/bq) (ceil(T/bk) + 1) / 2 of them when
the blocks are equal. Each pair is two [bq, hd] x [hd, bk]-sized matmuls forward (Q K^T, then P V). The
backward pass runs two kernels as MaxText configures splash attention (catalog FLASH_FUSED_BACKWARD): a dq
kernel (the scores recomputed, dP = dO V^T, dQ = dS K: 3 per pair) and a dkv kernel (the scores recomputed,
dV = P^T dO, dP, dK = dS^T Q: 4), or one fused kernel of 5. MFU keeps PaLM's model FLOPs
(6N + 12 L H Q T, attention counted in full), whichever kernel runs.
HBM traffic: Q, K and V read and the output written; each backward kernel reads Q, K, V, the output's
gradient, the softmax statistics and D = rowsum(dO * O) (one f32 per row, computed beside the kernels) and
writes its gradients; blocks stay in VMEM.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathsim.catalog.kernels import FLASH_BLOCK_KV, FLASH_BLOCK_Q, FLASH_FUSED_BACKWARD
from pathsim.workload.lowering.context import Shard
from pathsim.workload.program import MatmulShape

F32_BYTES = 4  # the per-row softmax statistics (log-sum-exp) are f32
FORWARD_MATMULS_PER_BLOCK = 2
FUSED_BACKWARD_MATMULS_PER_BLOCK = 5
DQ_MATMULS_PER_BLOCK, DKV_MATMULS_PER_BLOCK = 3, 4


@dataclass(frozen=True)
class FlashKernel:
    """One fused attention kernel: its block matmul (batch = block matmuls run) and its HBM bytes."""

    block: MatmulShape
    hbm_bytes: float
    name: str = "attention"  # the op's name within its layer


def causal_block_pairs(seq_len: int, block_q: int, block_kv: int) -> int:
    """(query block, key block) pairs with at least one unmasked entry: key block j starts at or before the
    last query of block i."""
    n_q = -(-seq_len // block_q)
    n_kv = -(-seq_len // block_kv)
    return sum(min(n_kv, (min((i + 1) * block_q, seq_len) - 1) // block_kv + 1) for i in range(n_q))


def _block(s: Shard, matmuls_per_pair: int) -> MatmulShape:
    bq, bk = min(FLASH_BLOCK_Q.value, s.seq_len), min(FLASH_BLOCK_KV.value, s.seq_len)
    pairs = causal_block_pairs(s.seq_len, bq, bk)
    return MatmulShape(m=bq, k=s.head_dim, n=bk, batch=matmuls_per_pair * pairs * s.seqs * s.heads_local)


def _qkvo_bytes(s: Shard) -> tuple[float, float]:
    """(Q plus output, K plus V) bytes on one chip."""
    q = s.tokens * s.heads_local * s.head_dim * s.act_bytes
    kv = 2.0 * s.tokens * s.kv_heads_local * s.head_dim * s.act_bytes
    return 2.0 * q, kv


def softmax_stats_bytes(s: Shard) -> float:
    """The log-sum-exp per query row and head the forward keeps for the backward."""
    return float(s.tokens * s.heads_local * F32_BYTES)


def flash_forward(s: Shard) -> FlashKernel:
    q_and_o, kv = _qkvo_bytes(s)
    return FlashKernel(_block(s, FORWARD_MATMULS_PER_BLOCK), q_and_o + kv + softmax_stats_bytes(s))


def flash_backward(s: Shard) -> tuple[FlashKernel, ...]:
    """The backward pass's kernels: (dq, dkv), or the one fused kernel."""
    q_and_o, kv = _qkvo_bytes(s)
    q = do = q_and_o / 2.0
    stats = softmax_stats_bytes(s)
    if FLASH_FUSED_BACKWARD.value:  # reads Q, K, V, O, dO and the statistics; writes dQ, dK, dV
        return (FlashKernel(_block(s, FUSED_BACKWARD_MATMULS_PER_BLOCK), 2.0 * q_and_o + 2.0 * kv + stats,
                            "attention_bwd"),)
    reads = q + kv + do + 2.0 * stats  # and D = rowsum(dO * O), one f32 per row like the statistics
    return (FlashKernel(_block(s, DQ_MATMULS_PER_BLOCK), reads + q, "attention_dq"),  # writes dQ
            FlashKernel(_block(s, DKV_MATMULS_PER_BLOCK), reads + kv, "attention_dkv"))  # writes dK, dV
