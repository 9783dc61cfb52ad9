"""R-Oliver/tpu-perf-model's measured jnp.dot timings on TPU v5e and v6e: rows and their chips. The data
files ship with pathsim (pathsim/data/kernels/, with a README giving their source and how they were measured).

Each row is the wall clock of one jitted jnp.dot (bf16 -> f32 or int8 -> int32), median of 20. The runs
file gives each chip's host launch floor and its spec as the collection script read it from the device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pathsim.errors import ConfigError

CSV_NAME = "jnp_dot_v5e_v6e.csv"
RUNS_NAME = "jnp_dot_v5e_v6e_runs.json"
IN_BYTES = {"bf16": 2, "int8": 1}
OUT_BYTES = {"bf16": 4, "int8": 4}  # f32 and int32 accumulators are written out


@dataclass(frozen=True)
class MeasuredChip:
    sku: str  # "v5e", "v6e"
    peak_flops_per_s: dict[str, float]  # by input dtype
    hbm_bytes_per_s: float
    mxu_edge: int
    launch_floor_s: float  # wall time of an 8x8x8 dot: host launch and sync


@dataclass(frozen=True)
class DotTimings:
    rows: pd.DataFrame  # sku, family, M, N, K, dtype, median_s, iqr_s, n_iters
    chips: dict[str, MeasuredChip]

    def of(self, sku: str) -> pd.DataFrame:
        return self.rows[self.rows.sku == sku].reset_index(drop=True)


def default_reference_dir() -> Path:
    """pathsim/data/kernels: package data, present in a clone and in an installed wheel alike."""
    return Path(__file__).resolve().parents[2] / "data" / "kernels"


def compiler_csv_path(chip: str, folder: Path | None = None) -> Path:
    """The compiler's kernel estimates for `chip` (written by python -m pathsim.calibration.compiler_kernels)."""
    return Path(folder or default_reference_dir()) / f"compiler_kernels_{chip}.csv"


def load_timings(folder: Path | None = None) -> DotTimings:
    folder = Path(folder) if folder is not None else default_reference_dir()
    csv_path, runs_path = folder / CSV_NAME, folder / RUNS_NAME
    for path in (csv_path, runs_path):
        if not path.is_file():
            raise ConfigError("--reference-dir", f"{path} does not exist; point --reference-dir at the folder "
                              f"holding {CSV_NAME} and {RUNS_NAME}")
    rows = pd.read_csv(csv_path)
    chips = {}
    for run in json.loads(runs_path.read_text()):
        hw = run["live_hardware"]
        chips[run["sku"]] = MeasuredChip(sku=run["sku"], peak_flops_per_s=dict(hw["peak_flops"]),
                                         hbm_bytes_per_s=float(hw["hbm_bandwidth_bytes"]),
                                         mxu_edge=int(hw["mxu_dim"]), launch_floor_s=float(run["overhead_floor_s"]))
    return DotTimings(rows=rows, chips=chips)
