"""The Pathways control plane as simpy actors: clients, a resource manager, one gang scheduler per island,
per-host executors and device queues with HBM back-pressure. The same actors dispatch every training step
the engine simulates (`training.py`), multi-island programs included: the resource manager gives each
program group its slice, and the engine moves the data between islands.

Inputs and outputs are the frozen dataclasses of `specs`; the drivers in pathsim.studies.pathways build them from
experiment files and turn the results into tables.
"""

from pathsim.engine.pathways.deadlock import run_deadlock
from pathsim.engine.pathways.dispatch import run_dispatch
from pathsim.engine.pathways.resource_manager import ResourceManager, VirtualSlice
from pathsim.engine.pathways.tenancy import run_tenancy

__all__ = ["ResourceManager", "VirtualSlice", "run_deadlock", "run_dispatch", "run_tenancy"]
