"""Small building blocks of the control plane: a process's CPU and a one-way message."""

from __future__ import annotations

from typing import Callable

import simpy


class Cpu:
    """One serial CPU thread (a client, a scheduler, a host executor): work queues up FIFO behind it."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.free_at_s = 0.0
        self.busy_s = 0.0

    def reserve(self, work_s: float) -> float:
        """Queue `work_s` of work; the absolute time it is done."""
        start = max(self.env.now, self.free_at_s)
        self.free_at_s = start + work_s
        self.busy_s += work_s
        return self.free_at_s

    def work(self, work_s: float) -> simpy.Event:
        """An event that fires when `work_s` queued now is done."""
        return self.env.timeout(self.reserve(work_s) - self.env.now)


def deliver(env: simpy.Environment, at_s: float, handler: Callable[[], None]) -> None:
    """Run `handler` at absolute time `at_s`: the arrival of a message sent earlier."""
    env.timeout(max(0.0, at_s - env.now)).callbacks.append(lambda _event: handler())
