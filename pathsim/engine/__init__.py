"""The discrete-event engine, the only package that imports simpy: the dependency-counting simulator, the
link fabric and max-min fair network, failures over a run, the timeline it records, and runtime/ (the
Pathways actors: client, resource manager, gang schedulers, executors) that dispatch every step."""

from pathsim.engine.simulator import simulate

__all__ = ["simulate"]
