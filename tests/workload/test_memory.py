import pytest

from tests.support import memory_of, small_experiment
from pathsim.config.experiment import parse_experiment, parse_topology
from pathsim.platform.topology import build_cluster
from pathsim.workload.model import embedding_params, layer_params

CUBE = build_cluster(parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 4]}]}))


def test_sharded_state_by_hand():
    exp = parse_experiment(small_experiment())  # tensor 4 x fsdp 16, bf16 weights, Adafactor 2 f32 moments
    mem = memory_of(exp, CUBE)
    lp = layer_params(exp.model)
    matmul_params = 4 * (lp.q + lp.kv + lp.o + lp.mlp) + embedding_params(exp.model)
    per_chip = matmul_params / 64
    assert mem.weights_bytes == pytest.approx(2 * per_chip)
    assert mem.gradients_bytes == pytest.approx(2 * per_chip)
    assert mem.optimizer_bytes == pytest.approx(8 * per_chip)
    assert mem.feasible and mem.hbm_bytes == 32 * 2**30


def test_remat_saves_activation_memory():
    none = memory_of(parse_experiment(small_experiment()), CUBE)
    full = memory_of(parse_experiment(small_experiment(**{"training.remat": "full"})), CUBE)
    # Full remat keeps one sharded [tokens, d/4] tensor per layer: 4 layers x 4 seqs x 512 x 256 x 2 B.
    assert full.activations_bytes == pytest.approx(4 * 4 * 512 * 256 * 2)
    assert none.activations_bytes > 10 * full.activations_bytes


def test_data_parallel_replicates_state():
    fsdp = memory_of(parse_experiment(small_experiment()), CUBE)
    data = memory_of(parse_experiment(small_experiment(plan={"ici": {"tensor": 4, "data": 16}})), CUBE)
    assert data.optimizer_bytes == pytest.approx(16 * fsdp.optimizer_bytes)


def test_flash_attention_keeps_no_score_matrix():
    """No remat saves every intermediate: dot keeps the [T, T] probabilities (the f32 softmax output and its
    bf16 copy), flash its f32 row statistics."""
    small_vocab = {"model.vocab_size": 1024}  # the busiest moment is a layer's, not the loss's
    dot = memory_of(parse_experiment(small_experiment(**small_vocab)), CUBE)
    flash = memory_of(parse_experiment(small_experiment(**small_vocab, **{"model.attention": "flash"})), CUBE)
    # Per layer and chip: 4 sequences x 2 local heads x 512 tokens, [T, T] in f32 and bf16 against one f32 per row.
    probabilities, stats = 4 * 2 * 512 * 512 * (4 + 2), 4 * 2 * 512 * 4
    assert dot.activations_bytes - flash.activations_bytes == pytest.approx(4 * (probabilities - stats))
    assert dot.working_bytes - flash.working_bytes == pytest.approx(probabilities - stats)


def test_the_loss_and_a_layer_backward_are_never_live_together():
    """A 256k vocabulary: the busiest moment is the loss, its gathered table, the logits and their gradient
    (both bf16), and nothing else."""
    exp = parse_experiment(small_experiment(**{"model.vocab_size": 256000, "training.remat": "full"}))
    table = 256000 * 1024 // 4 * 2  # tensor 4 splits it, fsdp 16 gathers it, bf16
    logits = 4 * 512 * 64000 * (2 + 2)  # 4 sequences of 512 tokens against a quarter of the vocabulary
    assert memory_of(exp, CUBE).working_bytes == pytest.approx(table + logits)


def _mem(remat: str, **overrides):
    return memory_of(parse_experiment(small_experiment(**{"training.remat": remat, **overrides})), CUBE)


def test_no_remat_also_keeps_what_the_activation_and_the_norms_keep():
    """Autodiff's residuals of the MLP's activation (catalog AUTODIFF: GELU four hidden-width tensors, ReLU a
    one-byte mask) and of the norms (two f32 copies of the input each) are saved across the layer scan; a
    recomputing backward fuses them away, so the working set holds none of them."""
    small_vocab = {"model.vocab_size": 1024}  # the busiest moment is a layer's, not the loss's
    gelu, relu = _mem("none", **small_vocab), _mem("none", **small_vocab, **{"model.mlp": "relu"})
    hidden = 4 * 512 * 4096 // 4  # per layer and chip: 4 sequences x 512 tokens x the hidden width over tensor 4
    assert gelu.activations_bytes - relu.activations_bytes == pytest.approx(4 * hidden * (4 * 2 - 1))
    assert gelu.working_bytes == relu.working_bytes
    from pathsim.pipeline import resolve
    from pathsim.workload.memory import _layer_intermediates_bytes

    shard = resolve(parse_experiment(small_experiment(**small_vocab))).shard
    width = 4 * 512 * 256  # the model width over tensor 4 (2d)
    norms = 2 * width * 2 * 4 + width * 2  # two norms' two f32 copies; the second norm's bf16 output
    assert gelu.activations_bytes == pytest.approx(4 * (_layer_intermediates_bytes(shard) + norms + hidden * 4 * 2))


def test_per_tensor_policies_order_saved_memory_and_offload_leaves_hbm():
    none, minimal, qkv, full = (_mem(r) for r in ("none", "minimal", "save_qkv_proj", "full"))
    assert none.activations_bytes > minimal.activations_bytes > qkv.activations_bytes > full.activations_bytes
    # save_qkv_proj keeps the layer input (full's one activation) and q, k, v: 8 heads / 4 = 2 per chip.
    qkv_bytes = 4 * 4 * 512 * 3 * 2 * 128 * 2  # layers x seqs x tokens x (q, k, v) x heads x head_dim x 2 B
    assert qkv.activations_bytes == pytest.approx(full.activations_bytes + qkv_bytes)
    offloaded = _mem("qkv_proj_offloaded")
    assert offloaded.activations_bytes == pytest.approx(full.activations_bytes)
    assert offloaded.offloaded_bytes == pytest.approx(qkv_bytes)
    assert offloaded.total_bytes == pytest.approx(full.total_bytes)  # off HBM: not in the total
    assert "offloaded_bytes" in offloaded.as_dict() and "offloaded_bytes" not in full.as_dict()


def test_the_compilers_figure_decides_feasibility_when_there_is_one():
    from dataclasses import replace

    mem = memory_of(parse_experiment(small_experiment()), CUBE)
    assert mem.feasible and "compiled_bytes" not in mem.as_dict()
    compiled = replace(mem, compiled_bytes=mem.hbm_bytes + 1)
    assert not compiled.feasible and compiled.deciding_bytes == mem.hbm_bytes + 1
    assert compiled.total_bytes == mem.total_bytes  # pathsim's own estimate is still reported beside it
    assert compiled.as_dict()["compiled_bytes"] == mem.hbm_bytes + 1


def test_untied_embeddings_hold_the_input_and_output_tables_once_each():
    tied = parse_experiment(small_experiment(**{"model.tied_embeddings": True}))
    untied = parse_experiment(small_experiment(**{"model.tied_embeddings": False}))
    table_per_chip = untied.model.vocab_size * untied.model.d_model / 64  # tensor 4 x fsdp 16
    extra = memory_of(untied, CUBE).weights_bytes - memory_of(tied, CUBE).weights_bytes
    assert extra == pytest.approx(2 * table_per_chip)  # one more bf16 table, not three
