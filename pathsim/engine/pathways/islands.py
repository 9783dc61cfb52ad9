"""The actors of a runtime spanning islands: device queues, one executor per host, one gang scheduler per
island, and the route of each gang to its island's scheduler. Shared by the training step and the
Pathways experiments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import simpy

from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.engine.pathways.devices import DeviceArray, Gang
from pathsim.engine.pathways.executor import HostExecutor
from pathsim.engine.pathways.policies import Fifo
from pathsim.engine.pathways.scheduler import GangScheduler


@dataclass
class IslandRuntime:
    devices: DeviceArray
    executors: list[HostExecutor]
    schedulers: dict[int, GangScheduler]  # by island
    route: Callable[[Gang], GangScheduler]  # a gang goes to the scheduler of its hosts' island


def island_runtime(env: simpy.Environment, host_island: list[int], lat: RuntimeLatencies,
                   devices: DeviceArray, sequential: bool = False) -> IslandRuntime:
    """Actors for the devices' hosts, host h on island host_island[h]; FIFO schedulers, dispatching
    sequentially (pathways_opbyop_sequential) when asked."""
    executors = [HostExecutor(env, h, devices, lat) for h in range(len(host_island))]
    schedulers = {i: GangScheduler(env, executors, Fifo(), lat, sequential=sequential)
                  for i in sorted(set(host_island))}
    return IslandRuntime(devices, executors, schedulers, lambda gang: schedulers[host_island[gang.devices[0]]])
