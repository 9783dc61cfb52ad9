"""Writing a cost profile (reading it is the calibrated cost model's: pathsim.costs.calibrated)."""

from __future__ import annotations

from pathlib import Path

from pathsim.costs.calibrated.profile import CostProfile, to_csv, to_json
from pathsim.results.outputs import write_text_atomic


def save_cost_profile(profile: CostProfile, path: Path, field: str = "--out") -> None:
    """Written atomically: a failed write leaves no half-written profile (one ConfigError naming `field`)."""
    write_text_atomic(path, to_csv(profile) if path.suffix == ".csv" else to_json(profile), field)
