"""A cost model from a measured cost profile: kernels at the timings of their measured shapes."""

from pathsim.costs.calibrated.model import CalibratedCostModel, load_cost_model
from pathsim.costs.calibrated.profile import CostProfile, load_cost_profile

__all__ = ["CalibratedCostModel", "CostProfile", "load_cost_model", "load_cost_profile"]
