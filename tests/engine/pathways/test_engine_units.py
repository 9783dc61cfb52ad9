"""Tiny cases of the Pathways actors, solved by hand in the comments."""

from __future__ import annotations

import math

import pytest
import simpy

from pathsim.catalog.latencies import LATENCIES
from pathsim.engine.pathways import ResourceManager
from pathsim.engine.pathways.devices import DeviceArray, Gang
from pathsim.engine.pathways.policies import ProportionalShare
from pathsim.errors import ConfigError


def test_gang_starts_when_at_head_everywhere():
    # Host 0 gets A then B, host 1 gets B then A: neither can start, and the report names both.
    env = simpy.Environment()
    dev = DeviceArray(env, 2, math.inf)
    a, b = (Gang(n, 0, (0, 1), 1.0, env.event()) for n in "AB")
    dev.enqueue(0, a), dev.enqueue(0, b), dev.enqueue(1, b), dev.enqueue(1, a)
    env.run()
    report = dev.deadlock()
    assert report is not None and set(report.computations) == {"A", "B"}
    assert set(report.devices) == {"host0", "host1"} and report.stuck_computations == 2


def test_consistent_order_runs_back_to_back():
    # A (1 s) then B (2 s) on both hosts: B ends at 3 s, no deadlock.
    env = simpy.Environment()
    dev = DeviceArray(env, 2, math.inf)
    a, b = Gang("A", 0, (0, 1), 1.0, env.event()), Gang("B", 0, (0, 1), 2.0, env.event())
    for h in (0, 1):
        dev.enqueue(h, a), dev.enqueue(h, b)
    env.run()
    assert (a.end_s, b.start_s, b.end_s) == (1.0, 1.0, 3.0) and dev.deadlock() is None


def test_hbm_back_pressure_waits_for_the_free():
    # 10 bytes of HBM; A holds 6 for 1 s, so B (6 bytes) allocates only when A ends, at t = 1.
    env = simpy.Environment()
    dev = DeviceArray(env, 1, 10.0)
    a = Gang("A", 0, (0,), 1.0, env.event(), hbm_bytes=6.0)
    granted = []

    def executor():
        yield dev.allocate(0, 6.0)
        dev.enqueue(0, a)
        yield dev.allocate(0, 6.0)
        granted.append(env.now)

    env.process(executor())
    env.run()
    assert granted == [1.0] and dev.hbm_stalled_s() == 1.0


def test_stride_scheduling_shares():
    # Weights 1:3, each pick charges 1 s: over 400 picks client 1 gets 300.
    policy = ProportionalShare((1.0, 3.0))
    picks = [0, 0]
    for _ in range(400):
        c = policy.pick({0: 0, 1: 1})
        policy.charge(c, 1.0)
        picks[c] += 1
    assert picks == [100, 300]


def test_resource_manager_slices():
    rm = ResourceManager(((4, 4, 8), (2, 4, 4)), chips_per_host=4)
    assert rm.allocate((8, 4, 4), "s").island == 0  # fits once sorted
    assert rm.allocate((4, 4, 2), "s", island=1).hosts == tuple(range(8))
    first = rm.allocate((2, 2, 2), "s", island=1, exclusive=True)
    second = rm.allocate((2, 2, 2), "s", island=1, exclusive=True)
    assert set(first.hosts).isdisjoint(second.hosts)
    with pytest.raises(ConfigError, match="does not fit any island"):
        rm.allocate((8, 8, 8), "clients.slice")
    with pytest.raises(ConfigError, match="island 5 does not exist") as exc:
        rm.allocate((2, 2, 2), "stage_islands.3", island=5)
    assert exc.value.field == "stage_islands.3"


def test_runtime_catalog_keeps_existing_values():
    assert (LATENCIES.dcn_message_s, LATENCIES.host_enqueue_s, LATENCIES.controller_work_s) == (100e-6, 20e-6, 50e-6)
