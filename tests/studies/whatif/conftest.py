"""Fixtures of the what-if tests (defined in whatif_small.py, shared by every test file here)."""

from tests.studies.whatif.whatif_small import small  # noqa: F401 (a fixture)
