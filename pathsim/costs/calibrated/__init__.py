"""A cost model from a measured calibration profile: kernels at the timings of their measured shapes."""

from pathsim.costs.calibrated.model import CalibratedCostModel, load_cost_model
from pathsim.costs.calibrated.profile import Profile, load_profile

__all__ = ["CalibratedCostModel", "Profile", "load_cost_model", "load_profile"]
