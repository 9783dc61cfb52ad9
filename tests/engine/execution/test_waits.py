"""Waiting for a transfer: its start-up cost, its bytes, its latency floor."""

import pytest
import simpy

from pathsim.engine.execution.waits import StartupTimers, after


def test_then_runs_when_the_events_and_the_floor_are_both_done():
    for event_s, floor_s in ((1.0, 3.0), (3.0, 1.0)):
        env = simpy.Environment()
        called = []
        after(env, [env.timeout(event_s), env.timeout(0.5)], floor_s, lambda: called.append(env.now))
        env.run()
        assert called == [pytest.approx(3.0)]


def test_transfers_starting_together_share_one_startup_timer():
    env = simpy.Environment()
    timers = StartupTimers(env)
    called = []
    for name in "ab":
        timers.after_startup(2.0, lambda name=name: called.append((name, env.now)))
    timers.after_startup(0.0, lambda: called.append(("free", env.now)))
    assert list(timers.waiting) == [2.0] and len(env._queue) == 1
    env.run()
    assert called == [("free", 0.0), ("a", 2.0), ("b", 2.0)] and not timers.waiting
