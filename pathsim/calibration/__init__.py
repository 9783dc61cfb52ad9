"""Calibration against real JAX kernel timings: profiles, the calibrated cost model, the closed loop.

Importing this package does not import jax: the micro-benchmarks and the training step live in modules
that only the `calibrate` and `validate-calibration` commands import.
"""

from pathsim.calibration.cost_model import CalibratedCostModel, load_cost_model
from pathsim.calibration.profile import Profile, load_profile, save_profile

__all__ = ["CalibratedCostModel", "Profile", "load_cost_model", "load_profile", "save_profile"]
