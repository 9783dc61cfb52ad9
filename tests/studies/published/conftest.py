"""A small CSV of published runs: one tiny model on TPU v5e, 1 and 2 slices of 4x4 chips (seconds to run)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pathsim.studies.published.runs import COLUMNS


def tiny_run(**overrides) -> dict:
    row = {"id": "TINY-1", "chip": "tpu_v5e", "chips": 16, "slices": 1, "slice_shape": "4x4", "n_layers": 2,
           "d_model": 512, "n_heads": 4, "head_dim": 128, "d_ff": 2048, "mlp": "relu", "block": "serial",
           "vocab": 1024, "seq_len": 256, "tied_embeddings": "true", "global_batch_seqs": 32, "per_chip_batch": 2,
           "ici_fsdp": 16, "ici_tensor": 1, "dcn_data": 1, "remat_policy": "full", "attention": "flash",
           "optimizer": "adamw", "reported_mfu": 0.4, "step_s_derived": 0.05, "source": "made up for a test"}
    row.update(overrides)
    return row


def write_runs(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or [c for c in COLUMNS if any(c in r for r in rows)]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def two_runs(tmp_path) -> Path:
    """The same tiny model on 1 and on 2 slices (the batch grows with the slices)."""
    return write_runs(tmp_path / "runs.csv", [
        tiny_run(),
        tiny_run(id="TINY-2", chips=32, slices=2, global_batch_seqs=64, dcn_data=2, step_s_derived=0.06)])
