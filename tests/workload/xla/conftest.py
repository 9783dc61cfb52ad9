"""XLA tests compile tiny programs for small TPU topologies (seconds each) into a private cache."""

from __future__ import annotations

import importlib.util

import pytest

from tests.support import REPO, with_overrides

NEEDS_TPU_COMPILER = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("jax", "libtpu", "optax")),
    reason='needs the tpu extra: pip install -e ".[tpu]"')


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """One compile cache for the whole session, never the user's."""
    monkeypatch.setenv("PATHSIM_CACHE", str(tmp_path_factory.getbasetemp() / "xla-cache"))
    monkeypatch.setenv("TPU_SKIP_MDS_QUERY", "1")
    monkeypatch.setenv("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")


def tiny_experiment(**overrides) -> dict:
    """A 3-layer, d_model 256 model on 4 TPU v4 chips (2x2x1): compiles in seconds."""
    exp = {
        "name": "tiny_xla",
        "topology": str(REPO / "tests" / "workload" / "xla" / "data" / "v4_2x2x1.yaml"),
        "model": {"n_layers": 3, "d_model": 256, "n_heads": 4, "n_kv_heads": 1, "head_dim": 64, "d_ff": 1024,
                  "vocab_size": 1024, "seq_len": 128, "block": "parallel", "mlp": "swiglu",
                  "tied_embeddings": True},
        "training": {"global_batch_seqs": 8, "remat": "palm"},
        "plan": {"ici": {"tensor": 2, "fsdp": 2}, "placement": {"tensor": ["x"], "fsdp": ["y"]}},
        "program": "xla",
    }
    return with_overrides(exp, overrides)
