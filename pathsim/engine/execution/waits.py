"""Waiting in simulated time for a transfer: its fixed start-up cost first, then its bytes and its
latency floor."""

from __future__ import annotations

from collections.abc import Callable

import simpy

Then = Callable[[], None]


def after(env: simpy.Environment, events: list[simpy.Event], floor_s: float, then: Then) -> None:
    """Call `then()` once every event has fired and at least floor_s has passed since now."""
    not_before = env.now + floor_s
    gate = events[0] if len(events) == 1 else env.all_of(events)

    def finished(_event: simpy.Event) -> None:
        rest = not_before - env.now
        if rest > 1e-15:
            env.timeout(rest).callbacks.append(lambda _e: then())
        else:
            then()

    gate.callbacks.append(finished)


class StartupTimers:
    """Transfers waiting out their start-up cost (none with spec-sheet links). Transfers that start at
    one instant with one cost (the gangs of an SPMD collective) share one timer."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.waiting: dict[float, list[Then]] = {}  # by end time

    def after_startup(self, startup_s: float, then: Then) -> None:
        """Call `then()` after a transfer's fixed start-up cost."""
        if startup_s <= 0.0:
            then()
            return
        end = self.env.now + startup_s
        waiting = self.waiting.get(end)
        if waiting is not None:
            waiting.append(then)
            return
        self.waiting[end] = [then]
        self.env.timeout(startup_s).callbacks.append(lambda _e: [f() for f in self.waiting.pop(end)])
