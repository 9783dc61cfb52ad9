"""The calibration's hand-made profile, shared with the cost model's tests."""

from tests.calibration.conftest import make_profile, profile  # noqa: F401  (fixtures)
