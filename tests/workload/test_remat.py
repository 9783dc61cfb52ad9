"""The remat and offload policy table: MaxText's name lists, and what the backward recomputes."""

from __future__ import annotations

import pytest

from tests.support import small_experiment
from pathsim.config.experiment import parse_experiment
from pathsim.workload.model import (attention_flops_per_token, hardware_flops_per_token, model_flops_per_token,
                                    recomputed_flops_per_token)
from pathsim.workload.remat import MAXTEXT_POLICIES, REMAT_NAMES, TENSOR_TAGS, remat_policy


def _model(**overrides):
    return parse_experiment(small_experiment(**overrides)).model


def test_minimal_keeps_every_matmul_output_and_recomputes_attention():
    p = remat_policy("minimal")
    for tensor in ("query_proj", "key_proj", "value_proj", "out_proj", "mlpwi", "mlpwo"):
        assert p.placement(tensor) == "device", tensor
    assert p.stored("decoder_layer_input", parallel_block=False, flash=True) == "device"  # the scan carry
    assert p.stored("mlpwo", parallel_block=False, flash=True) == "remat"  # kept but never read: not stored
    assert p.placement("context") == "remat" and p.recomputes_attention(flash=True)
    m = _model()
    assert recomputed_flops_per_token(m, p) == attention_flops_per_token(m)


def test_minimal_with_context_recomputes_nothing_under_flash_and_attention_under_dot():
    p = remat_policy("minimal_with_context")
    flash, dot = _model(**{"model.attention": "flash"}), _model()
    assert recomputed_flops_per_token(flash, p) == 0.0
    # MaxText tags `context` only in its flash kernels: a dot attention's output carries no name.
    assert recomputed_flops_per_token(dot, p) == attention_flops_per_token(dot)


def test_maxtext_full_is_pathsims_full_and_none_recomputes_nothing():
    m = _model()
    assert not remat_policy("full").per_tensor
    assert hardware_flops_per_token(m, "none") == model_flops_per_token(m)
    # A custom policy recomputing every tensor recomputes each matmul the backward reads: all but the MLP's
    # output projection, whose output only the next layer reads (its input is kept).
    everything = remat_policy("custom", {})
    d, ff = m.d_model, m.d_ff
    layer = 2 * 4 * d * d + 2 * d * ff  # q, k, v, o and the (non-gated) up projection
    assert recomputed_flops_per_token(m, everything) == pytest.approx(m.n_layers * layer
                                                                      + attention_flops_per_token(m))


def test_save_qkv_proj_recomputes_the_rest_and_offloading_recomputes_the_same():
    m = _model()
    saved, offloaded = remat_policy("save_qkv_proj"), remat_policy("qkv_proj_offloaded")
    assert {t: offloaded.placement(t) for t in ("query_proj", "key_proj", "value_proj")} == dict.fromkeys(
        ("query_proj", "key_proj", "value_proj"), "offload")
    assert offloaded.offloads() and not saved.offloads()
    assert recomputed_flops_per_token(m, saved) == recomputed_flops_per_token(m, offloaded)
    layer = 2 * m.d_model * m.d_model + 2 * m.d_model * m.d_ff  # o and the up projection
    assert recomputed_flops_per_token(m, saved) == pytest.approx(m.n_layers * layer + attention_flops_per_token(m))


def test_custom_qkv_proj_sets_the_three_and_the_strongest_placement_wins():
    p = remat_policy("custom", {"qkv_proj": "offload", "key_proj": "device"})
    assert (p.placement("query_proj"), p.placement("key_proj"), p.placement("value_proj")) == (
        "offload", "device", "offload")
    assert p.placement("decoder_layer_input") == "device" and p.placement("mlpwo") == "remat"
    # The scan carry cannot be recomputed (MaxText base.yml): `remat` keeps it on device.
    assert remat_policy("custom", {"decoder_layer_input": "remat"}).stored("decoder_layer_input", False, True) == "device"


def test_the_table_names_only_tags_a_layer_carries_and_every_policy_is_a_remat_value():
    tags = {t for names in TENSOR_TAGS.values() for t in names}
    for name, (saved, offloaded) in MAXTEXT_POLICIES.items():
        assert set(saved) | set(offloaded) <= tags, name
        assert name in REMAT_NAMES
    assert MAXTEXT_POLICIES["minimal_offloaded"][1] == MAXTEXT_POLICIES["minimal"][0]
