"""One sharding description: the rules, the per-chip shares, and the lowering and XLA step reading it alike."""

from __future__ import annotations

import importlib.util

import pytest

from pathsim.config.experiment import ExperimentConfig, PlanConfig, TopologyConfig, read_yaml
from pathsim.mesh.axis import MeshAxis
from pathsim.mesh.sharding import sharding_of
from pathsim.workload.lowering.context import shard_for
from tests.support import REPO
from tests.workload.xla.conftest import tiny_experiment

TOPOLOGY = REPO / "tests" / "workload" / "xla" / "data" / "v4_2x2x1.yaml"


def _plan(**fields) -> PlanConfig:
    return PlanConfig.model_validate({"placement": {}, **fields})


def test_the_rules_split_batch_over_data_and_fsdp_weights_over_fsdp_and_heads_over_tensor():
    s = sharding_of(_plan(ici={"tensor": 2, "fsdp": 4}, dcn={"data": 2}, tensor_style="2d"))
    dcn_data, fsdp, tensor = MeshAxis("dcn", "data"), MeshAxis("ici", "fsdp"), MeshAxis("ici", "tensor")
    assert s.axis_sizes == ((dcn_data, 2), (fsdp, 4), (tensor, 2))  # DCN first, tensor innermost
    assert s.axes("batch") == (dcn_data, fsdp) and s.degree("batch") == 8
    assert s.axes("embed") == (fsdp,)
    assert s.axes("heads") == s.axes("kv_heads") == s.axes("mlp") == s.axes("vocab") == (tensor,)
    assert s.axes("act_embed") == (tensor,)  # 2D sharding also splits activations' d_model
    assert s.axes("seq") == () and s.degree("seq") == 1
    assert s.jax_rules()["batch"] == ("dcn.data", "ici.fsdp") and s.jax_rules()["heads"] == "ici.tensor"
    assert s.jax_rules()["norm"] is None


def test_megatron_keeps_activations_whole_and_pipeline_splits_layers():
    s = sharding_of(_plan(ici={"tensor": 4, "pipeline": 2}, tensor_style="megatron"))
    assert s.axes("act_embed") == ()
    assert s.degree("stage") == 2


def test_a_dimension_its_axes_do_not_divide_stays_whole_unless_padded():
    s = sharding_of(_plan(ici={"tensor": 4}))
    assert s.split("kv_heads", 8) == 2
    assert s.split("kv_heads", 1) == 1  # multi-query K/V: replicated over tensor
    assert s.split("vocab", 1001) == 1001
    assert s.padded_split("vocab", 1001) == 251


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("jax", "libtpu", "optax")),
                    reason='needs the tpu extra: pip install -e ".[tpu]"')
@pytest.mark.parametrize("kv_heads, vocab", [(1, 1024), (2, 1001), (4, 1024)])
def test_the_lowering_and_the_xla_step_hold_the_same_shares(kv_heads, vocab, monkeypatch):
    """Each weight's per-chip shape in the compiled step is the share the lowering prices; a vocabulary
    tensor does not divide is padded in both."""
    monkeypatch.setenv("TPU_SKIP_MDS_QUERY", "1")
    monkeypatch.setenv("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    from pathsim.workload.xla.mesh import build_mesh, mesh_plan
    from pathsim.workload.xla.step import build_step

    exp = ExperimentConfig.model_validate(tiny_experiment(**{"model.n_kv_heads": kv_heads, "model.vocab_size": vocab}))
    mp = mesh_plan(exp.plan, TopologyConfig.model_validate(read_yaml(TOPOLOGY, "topology")))
    params = build_step(exp.model, exp.training, mp, build_mesh(mp)).args[0]
    shard = shard_for(exp.model, exp.training, exp.plan)

    def local(name: str) -> tuple[int, ...]:
        return params[name].sharding.shard_shape(params[name].shape)

    assert local("layers.wq")[2] == shard.heads_local
    assert local("layers.wkv")[3] == shard.kv_heads_local
    assert local("layers.w_in")[3] == shard.ff_local
    assert local("embed")[0] == shard.vocab_local == -(-vocab // 2)
    assert params["embed"].shape[0] == 2 * shard.vocab_local
