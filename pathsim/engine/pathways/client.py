"""Programs that drive the devices: a Pathways client (one per program) and a multi-controller host."""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable

import simpy

from pathsim.catalog.latencies import RuntimeLatencies
from pathsim.engine.pathways.actors import Cpu, deliver
from pathsim.engine.pathways.devices import DeviceArray, Gang
from pathsim.engine.pathways.executor import Dispatch, HostExecutor
from pathsim.engine.pathways.scheduler import GangScheduler, Request

Call = tuple[Gang, ...]


class PathwaysClient:
    """Issues calls asynchronously (futures); with `outstanding`, waits for the result of the call that
    many back before the next one, as a program that reads its results does."""

    def __init__(self, env: simpy.Environment, index: int, scheduler: GangScheduler, lat: RuntimeLatencies,
                 calls: Iterable[Call], outstanding: int | None = None,
                 route: Callable[[Gang], GangScheduler] | None = None) -> None:
        self.env, self.index, self.lat = env, index, lat
        # A call spanning islands sends each island's part to that island's scheduler.
        self.route = route if route is not None else (lambda _gang: scheduler)
        self.cpu = Cpu(env)
        self.process = env.process(self._loop(calls, outstanding))

    def _result(self, gangs: Call) -> simpy.Event:
        """The result message: sent when every computation of the call has ended."""
        event = self.env.event()
        done = gangs[0].done if len(gangs) == 1 else self.env.all_of([g.done for g in gangs])
        done.callbacks.append(
            lambda _e: deliver(self.env, self.env.now + self.lat.dcn_message_s, event.succeed))
        return event

    def _loop(self, calls: Iterable[Call], outstanding: int | None):
        env, lat = self.env, self.lat
        in_flight: deque[simpy.Event] = deque()
        for gangs in calls:
            if outstanding is not None and len(in_flight) >= outstanding:
                yield in_flight.popleft()
                yield self.cpu.work(lat.rpc_cpu_s)
            yield self.cpu.work(lat.python_call_s)
            parts: dict[GangScheduler, list[Gang]] = {}
            for gang in gangs:
                parts.setdefault(self.route(gang), []).append(gang)
            for scheduler, part in parts.items():  # one message per island, sent one after the other
                sent = self.cpu.reserve(lat.rpc_cpu_s)
                req = Request(client=self.index, gangs=tuple(part))
                deliver(env, sent + lat.dcn_message_s, lambda r=req, s=scheduler: s.submit(r))
            yield env.timeout(self.cpu.free_at_s - env.now)
            if outstanding is not None:
                in_flight.append(self._result(gangs))


def uncoordinated_client(env: simpy.Environment, executors: list[HostExecutor], lat: RuntimeLatencies,
                         gang: Gang, host_order: list[int]):
    """A program that sends its computation straight to each host's executor, in its own order: no gang
    scheduler puts it in a consistent order with the other programs'."""
    cpu = Cpu(env)
    yield cpu.work(lat.python_call_s)
    for host in host_order:
        sent = cpu.reserve(lat.rpc_cpu_s)
        deliver(env, sent + lat.dcn_message_s, lambda ex=executors[host]: ex.receive(Dispatch((gang,))))


def multi_controller_host(env: simpy.Environment, host: int, devices: DeviceArray, lat: RuntimeLatencies,
                          calls: Iterable[Call], cpu: Cpu | None = None):
    """Multi-controller JAX: every host runs the program and dispatches its own shard, no messages."""
    cpu = cpu if cpu is not None else Cpu(env)
    for gangs in calls:
        for gang in gangs:
            if host not in gang.devices:
                continue  # another slice's shard: that slice's hosts dispatch it
            yield cpu.work(lat.python_call_s + lat.host_enqueue_s)
            devices.enqueue(host, gang)
