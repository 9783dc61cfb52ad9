"""A per-host executor: receives dispatch messages and enqueues their computations on its devices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import simpy

from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.engine.pathways.actors import Cpu, deliver
from pathsim.engine.pathways.devices import DeviceArray, Gang


@dataclass(frozen=True)
class Dispatch:
    """Scheduler (or client) -> executor: computations to enqueue, in this order."""

    gangs: tuple[Gang, ...]
    on_enqueued: Callable[[], None] | None = None  # sequential dispatch: acknowledge the enqueue


class HostExecutor:
    def __init__(self, env: simpy.Environment, host: int, devices: DeviceArray, lat: RuntimeLatencies) -> None:
        self.env, self.host, self.devices, self.lat = env, host, devices, lat
        self.cpu = Cpu(env)
        self.mailbox = simpy.Store(env)
        self.received = 0  # dispatch messages
        env.process(self._loop())

    def receive(self, msg: Dispatch) -> None:
        self.received += 1
        self.mailbox.put(msg)

    def _loop(self):
        lat = self.lat
        while True:
            msg = yield self.mailbox.get()
            yield self.cpu.work(lat.rpc_cpu_s)
            for gang in msg.gangs:
                if self.host not in gang.devices:
                    continue  # a subgraph spanning several slices: only this host's shards
                yield self.cpu.work(lat.host_enqueue_s)
                if gang.hbm_bytes:
                    yield self.devices.allocate(self.host, gang.hbm_bytes)  # back-pressure: wait for HBM
                self.devices.enqueue(self.host, gang)
            if msg.on_enqueued is not None:
                deliver(self.env, self.cpu.reserve(lat.rpc_cpu_s) + lat.dcn_message_s, msg.on_enqueued)
