"""The Pathways control plane as simpy actors: clients, a resource manager, one gang scheduler per island,
per-host executors, device queues with HBM back-pressure, and the dataflow between islands. The same actors
dispatch every training step the engine simulates (`training.py`).

Inputs and outputs are the frozen dataclasses of `specs`; the drivers in pathsim.studies.pathways build them from
experiment files and turn the results into tables.
"""

from pathsim.engine.runtime.dataflow import run_data_parallel, run_pipeline
from pathsim.engine.runtime.deadlock import run_deadlock
from pathsim.engine.runtime.dispatch import run_dispatch
from pathsim.engine.runtime.resource_manager import ResourceManager, VirtualSlice
from pathsim.engine.runtime.tenancy import run_tenancy

__all__ = ["ResourceManager", "VirtualSlice", "run_data_parallel", "run_deadlock", "run_dispatch",
           "run_pipeline", "run_tenancy"]
