"""What-if studies: sweeps of plans with memory feasibility, plan search (analytic screen + simulated
shortlist), side-by-side comparisons and plots. See docs/whatif.md.

Names are imported on first use, so that registering the CLI commands does not load pandas."""

from importlib import import_module

_EXPORTS = {
    "compare_paths": "pathsim.whatif.compare",
    "SweepStats": "pathsim.whatif.runner",
    "run_study": "pathsim.whatif.runner",
    "Study": "pathsim.whatif.spec",
    "load_study": "pathsim.whatif.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
