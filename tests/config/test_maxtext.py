"""The MaxText translation: key by key, against MaxText's own rules and pathsim's published architectures."""

from __future__ import annotations

import re

import pytest

from pathsim.catalog.models import architecture
from pathsim.config.maxtext import (DATA, REMAT_POLICIES, TRANSLATED, ignored_keys, load_maxtext, merged_keys,
                                    parse_overrides, translate)
from pathsim.config.yamlio import read_yaml
from pathsim.errors import ConfigError

BASE = read_yaml(DATA / "base.yml", "base.yml")


def _launch(*settings: str, topology: str = "v5p-128"):
    return load_maxtext("base.yml", list(settings), topology, base_dir=DATA)


@pytest.mark.parametrize("maxtext, ours", [("llama3.1-8b", "llama3_8b"), ("llama2-70b", "llama2_70b"),
                                           ("mistral-7b", "mistral_7b"), ("gemma-7b", "gemma_7b")])
def test_bundled_models_match_the_published_architectures(maxtext, ours):
    exp, _, _ = _launch(f"model_name={maxtext}")
    published = architecture(ours)
    for field in ("n_layers", "d_model", "n_heads", "d_ff", "vocab_size", "block", "mlp", "tied_embeddings"):
        assert getattr(exp.model, field) == published[field], field
    assert exp.model.kv_heads == published.get("n_kv_heads", published["n_heads"])


def test_global_parameter_scale_doubles_heads_and_mlp_then_embedding_then_layers():
    # scale 16 = 2^4: one full round (x2 each) and one more doubling of heads and MLP (pyconfig's rule)
    exp, _, _ = _launch("global_parameter_scale=16")
    m = exp.model
    assert (m.n_heads, m.d_ff, m.d_model, m.n_layers) == (16 * 4, 7168 * 4, 2048 * 2, 16 * 2)
    with pytest.raises(ConfigError, match="global_parameter_scale: must be a power of 2"):
        _launch("global_parameter_scale=3")


def test_batch_dtypes_optimizer_and_mesh():
    exp, topo, _ = _launch("per_device_batch_size=0.5", "ici_tensor_parallelism=16", "weight_dtype=bfloat16",
                           "opt_type=sgd", topology="v5e-256x8")
    assert exp.training.global_batch_seqs == 1024  # 0.5 x 8 x 256 devices
    assert (exp.training.param_bytes, exp.training.grad_bytes, exp.training.optimizer) == (2, 4, "sgd")
    assert exp.plan.ici == {"fsdp": 16, "tensor": 16} and exp.plan.dcn == {"data": 8}  # base.yml's -1 axes
    with pytest.raises(ConfigError, match="per_device_batch_size: 0.3 x 64 devices is not a whole batch"):
        _launch("per_device_batch_size=0.3")


def test_topology_from_compile_topology_and_num_slices():
    keys, defaults, order = merged_keys("base.yml", parse_overrides(["compile_topology=v5p-256", "num_slices=2"]))
    assert translate(keys, defaults, order).experiment["topology"] == "v5p-256x2"
    with pytest.raises(ConfigError, match="--topology: give the slice"):
        translate(keys | {"compile_topology": ""}, defaults, order)
    with pytest.raises(ConfigError, match="contradicts compile_topology"):
        translate(keys, defaults, order, "v6e-256")


@pytest.mark.parametrize("setting, message", [
    ("remat_policy=minimal_flash", "remat_policy: 'minimal_flash' is not understood"),
    ("attention=cudnn_flash_te", "attention: 'cudnn_flash_te' is not understood"),
    ("mlp_activations=[silu]", "mlp_activations: ['silu'] is not understood"),
    ("ici_sequence_parallelism=2", "ici_sequence_parallelism=2 would change the step"),
    ("num_experts=8", "num_experts=8 would change the step"),
    ("decoder_block=deepseek", "decoder_block: 'deepseek' is not understood"),
    ("opt_type=muon", "opt_type: muon is not modelled yet"),
    ("dtype=int8", "dtype: 'int8' is not understood"),
    ("steps", "'steps' is not key=value"),
])
def test_refusals_name_the_key(setting, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _launch(setting)


def test_every_remat_policy_maxtext_names_has_a_row():
    lines = (DATA / "base.yml").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "Choose 'remat_policy'" in line)
    named = set(re.findall(r"'(\w+)'", lines[at] + lines[at + 1])) - {"remat_policy"}  # the comment's two lines
    assert named and named == set(REMAT_POLICIES)


@pytest.mark.parametrize("policy", sorted(REMAT_POLICIES))
def test_every_maxtext_remat_policy_is_read_by_its_name(policy):
    exp, _, _ = _launch(f"remat_policy={policy}", "model_name=llama2-7b")
    assert exp.training.remat == policy


def test_custom_per_tensor_keys_follow_the_layer_maxtext_builds():
    # llama2 is gated (mlpwi_0/mlpwi_1) with unfused q/k/v: qkv_proj tags nothing there.
    exp, _, launch = _launch("model_name=llama2-7b", "remat_policy=custom", "query_proj=offload", "key_proj=device",
                             "mlpwi_0=device", "mlpwi_1=device", "qkv_proj=device", "decoder_layer_input=offload")
    custom = exp.training.remat_custom
    assert (custom["query_proj"], custom["key_proj"], custom["value_proj"]) == ("offload", "device", "remat")
    assert (custom["mlpwi"], custom["decoder_layer_input"], custom["context"]) == ("device", "offload", "remat")
    assert "qkv_proj" not in custom and any("qkv_proj=device has no effect" in n for n in launch.notes)
    fused, _, _ = _launch("model_name=llama2-7b", "remat_policy=custom", "fused_qkv=true", "qkv_proj=offload")
    assert fused.training.remat_custom["qkv_proj"] == "offload"
    with pytest.raises(ConfigError, match="mlpwi_1: mlpwi_0=device and mlpwi_1=remat differ"):
        _launch("model_name=llama2-7b", "remat_policy=custom", "mlpwi_0=device")
    with pytest.raises(ConfigError, match="out_proj: 'disk' is not one of device, offload, remat"):
        _launch("remat_policy=custom", "out_proj=disk")
    _, _, other = _launch("remat_policy=minimal", "out_proj=device")
    assert any("only with remat_policy=custom" in n for n in other.notes)


def test_the_key_classes_are_base_yml_keys_and_do_not_overlap():
    ignored = ignored_keys()
    assert ignored <= set(BASE) and TRANSLATED <= set(BASE)
    assert not ignored & TRANSLATED


def test_a_user_config_file_over_its_base_config(tmp_path):
    (tmp_path / "base.yml").write_text((DATA / "base.yml").read_text())
    (tmp_path / "mine.yml").write_text("base_config: base.yml\nper_device_batch_size: 1\nsteps: 7\n")
    exp, _, launch = load_maxtext(tmp_path / "mine.yml", [], "v5p-128")
    assert exp.training.global_batch_seqs == 64 and "steps=7" in launch.ignored
