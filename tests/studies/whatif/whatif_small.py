"""The small experiment of the what-if tests: two 4x4x4 TPU v4 slices, a 2-layer model; each simulation
takes milliseconds. Its fixture reaches the tests through tests/studies/whatif/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TOPOLOGY = {"name": "two_v4_cubes", "chip": "tpu_v4", "islands": [{"name": "cube", "shape": [4, 4, 4], "count": 2}]}
EXPERIMENT = {
    "name": "small",
    "topology": "two_cubes.yaml",
    "model": {"n_layers": 2, "d_model": 1024, "n_heads": 8, "d_ff": 4096, "vocab_size": 32000,
              "seq_len": 512, "block": "serial", "mlp": "gelu", "tied_embeddings": True},
    "training": {"global_batch_seqs": 128, "remat": "full"},
    "plan": {"ici": {"tensor": 4, "fsdp": 16}, "dcn": {"data": 2}},
}


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """Path of the small experiment (its topology beside it)."""
    write_yaml(tmp_path / "two_cubes.yaml", TOPOLOGY)
    return write_yaml(tmp_path / "small.yaml", EXPERIMENT)
