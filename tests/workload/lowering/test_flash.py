import pytest

from tests.support import small_experiment
from tests.workload.test_lowering import executed_flops_per_token
from pathsim.config.experiment import parse_experiment
from pathsim.pipeline import lowered_program, resolve
from pathsim.workload.lowering.flash import causal_block_pairs, flash_backward, flash_forward
from pathsim.workload.model import attention_flops_per_token
from pathsim.workload.program import ComputeOp


@pytest.mark.parametrize("seq, bq, bk, pairs", [
    (2048, 512, 512, 4 * 5 // 2),  # 4 blocks a side: the lower triangle and the diagonal
    (512, 512, 512, 1),
    (1024, 512, 256, 2 + 4),  # query block 0 sees key blocks 0-1, block 1 sees 0-3
    (1000, 512, 512, 3),  # a partial last block still runs
])
def test_causal_block_pairs(seq, bq, bk, pairs):
    assert causal_block_pairs(seq, bq, bk) == pairs


def _ops(exp_dict, prefix: str) -> list[ComputeOp]:
    program = lowered_program(parse_experiment(exp_dict))
    return [op for op in program.groups[0].ops if isinstance(op, ComputeOp) and op.name.startswith(prefix)]


def test_one_fused_kernel_per_layer_and_forward_pass_and_two_backward():
    d = small_experiment(**{"model.attention": "flash", "model.seq_len": 2048, "training.remat": "full"})
    kernels = [op for op in _ops(d, "L") if op.kind == "flash_attention"]
    # 4 layers x (forward, recomputed forward, dq, dkv); no softmax or attention matmul op is left.
    assert sorted(op.phase for op in kernels) == ["backward"] * 8 + ["forward"] * 4 + ["remat"] * 4
    assert {op.name.rsplit(".", 1)[1] for op in kernels if op.phase == "backward"} == {"attention_dq", "attention_dkv"}
    assert not [op for op in _ops(d, "L") if op.kind in ("softmax", "attention_matmul")]


def test_flash_flops_skip_the_blocks_above_the_diagonal():
    """2048 tokens in 512-blocks run 10 of 16 block pairs: forward 2, backward 3 (dq) + 4 (dkv) block
    matmuls per pair, MaxText's separate backward kernels."""
    d = small_experiment(**{"model.attention": "flash", "model.seq_len": 2048})
    exp = parse_experiment(d)
    dense_attention = 3.0 * attention_flops_per_token(exp.model)  # forward + backward, dot attention
    flash = executed_flops_per_token(d)
    dot = executed_flops_per_token(small_experiment(**{"model.seq_len": 2048}))
    # Dot attention runs 2 + 4 full [T, T] matmuls, flash 9 matmuls on 10/16 of the blocks.
    assert dot - flash == pytest.approx(dense_attention * (1 - 9 / 6 * 10 / 16), rel=1e-6)


def test_flash_hbm_bytes_are_q_k_v_and_the_output():
    exp = parse_experiment(small_experiment(**{"model.attention": "flash"}))
    s = resolve(exp).shard  # tensor 4: 2 of 8 heads of 128 per chip, 4 sequences of 512 tokens
    q = s.tokens * 2 * 128 * 2
    stats = s.tokens * 2 * 4
    assert flash_forward(s).hbm_bytes == pytest.approx(4 * q + stats)  # Q, K, V read, O written
    dq, dkv = flash_backward(s)  # each reads Q, K, V, dO, the statistics and D; writes its gradients
    assert dq.hbm_bytes == pytest.approx(4 * q + 2 * stats + q)
    assert dkv.hbm_bytes == pytest.approx(4 * q + 2 * stats + 2 * q)

