"""What-if studies: sweeps of plans with memory feasibility, plan search (analytic screen + simulated
shortlist), side-by-side comparisons and plots. See docs/whatif.md.

Names are imported on first use, so that registering the CLI commands does not load pandas."""

from importlib import import_module

_EXPORTS = {
    "compare_paths": "pathsim.studies.whatif.compare",
    "SweepStats": "pathsim.studies.whatif.runner",
    "run_study": "pathsim.studies.whatif.runner",
    "Study": "pathsim.studies.whatif.spec",
    "load_study": "pathsim.studies.whatif.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
