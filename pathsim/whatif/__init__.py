"""What-if studies: sweeps of plans with memory feasibility, plan search (analytic screen + simulated
shortlist), side-by-side comparisons and plots. See docs/whatif.md."""

from pathsim.whatif.compare import compare_paths
from pathsim.whatif.runner import SweepStats, run_study
from pathsim.whatif.spec import Study, load_study

__all__ = ["Study", "SweepStats", "compare_paths", "load_study", "run_study"]
