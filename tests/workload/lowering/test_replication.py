"""The report's replication notes: what repeats on several chips, and by how much (worked by hand)."""

from __future__ import annotations

from pathsim.config.experiment import ExperimentConfig
from pathsim.pipeline import resolve
from pathsim.workload.lowering.replication import replications
from tests.support import small_experiment


def _exp(**overrides) -> ExperimentConfig:
    return ExperimentConfig.model_validate(small_experiment(**overrides))


def test_llama3_70b_at_tensor_16_replicates_its_8_kv_heads():
    reps = _replications(_exp(model="llama3_70b", **{"plan.ici": {"tensor": 16, "fsdp": 4}}))
    (kv,) = reps
    assert (kv.what, kv.axis, kv.factor) == ("K/V projections", "tensor", 16.0)
    # Per layer (d 8192, 64 heads of 128, 8 K/V heads, SwiGLU d_ff 28672): q = o = 8192^2, kv = 2 x 8192 x 1024,
    # mlp = 3 x 8192 x 28672. Even split /16 = 53.4M; the K/V kept whole adds 16.8M x 15/16 = 15.7M: +29%.
    assert "8 K/V head(s) do not split over tensor 16" in kv.note and "+29%" in kv.note


def test_tensor_8_splits_llama3_70b_kv_heads_and_nothing_is_replicated():
    assert _replications(_exp(model="llama3_70b", **{"plan.ici": {"tensor": 8, "fsdp": 8}})) == ()


def test_megatron_sharding_repeats_the_norms_over_tensor():
    reps = _replications(_exp(**{"plan.tensor_style": "megatron"}))
    assert [r.what for r in reps] == ["layer norms and residual adds"] and reps[0].factor == 4.0


def _replications(exp: ExperimentConfig):
    return replications(resolve(exp).shard, exp.model)
