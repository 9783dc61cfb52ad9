"""Shared test inputs: the repository root and a small valid experiment."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def small_experiment(**overrides) -> dict:
    """A small, valid experiment as a dict: 64 TPU v4 chips (4x4x4), a 4-layer model."""
    exp = {
        "name": "small",
        "topology": str(REPO / "topologies" / "tpu_v4_4x4x4.yaml"),
        "model": {"n_layers": 4, "d_model": 1024, "n_heads": 8, "d_ff": 4096, "vocab_size": 32000,
                  "seq_len": 512, "block": "serial", "mlp": "gelu", "tied_embeddings": True},
        "training": {"global_batch_seqs": 64, "remat": "none"},
        "plan": {"ici": {"tensor": 4, "fsdp": 16}},
    }
    return with_overrides(exp, overrides)


def with_overrides(exp: dict, overrides: dict) -> dict:
    """`exp` with dotted keys (`"model.n_layers": 2`) set, in place."""
    for dotted, value in overrides.items():
        node = exp
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return exp
