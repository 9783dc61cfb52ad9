"""The discrete-event engine: the only package that imports simpy."""

from pathsim.engine.simulator import simulate

__all__ = ["simulate"]
