"""Calibration against real JAX kernel times: measuring cost profiles and the closed loop (the calibrated
cost model that reads a profile is pathsim.costs.calibrated).

Importing this package does not import jax: the micro-benchmarks and the training step live in modules
that only the `calibrate` and `validate-calibration` commands import.
"""

from pathsim.calibration.profile_files import save_cost_profile
from pathsim.costs.calibrated import CalibratedCostModel, CostProfile, load_cost_model, load_cost_profile

__all__ = ["CalibratedCostModel", "CostProfile", "load_cost_model", "load_cost_profile", "save_cost_profile"]
