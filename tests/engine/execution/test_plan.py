"""What is planned once per group: dependency counts, compute segments, the ops to announce."""

import dataclasses

import pytest

from pathsim.engine.execution.plan import plan_group
from tests.engine.test_simulator import OneTeraflop, compute, gather


def test_compute_ops_nothing_waits_on_run_as_one_segment():
    # a, b | the gather waits on b | c waits on the gather, d follows c: segments (a, b) and (c, d).
    ops = [compute("a", 1.0), compute("b", 2.0), gather("ag", deps=(1,)), compute("c", 1.0, deps=(2,)),
           compute("d", 1.0, deps=(3,))]
    plan = plan_group(ops, OneTeraflop())
    assert plan.segments == ((0, 1), (3, 4))
    assert plan.segment_s == pytest.approx((3.0, 2.0))
    assert plan.announce == ((1,), ())  # only b: the gather waits on it
    assert plan.deps_count == (0, 0, 1, 1, 0)  # d's dependency on c is the stream's order, not counted
    assert plan.dependents == ((), (2,), (3,), (), ())
    assert plan.initially_ready == {"train": (0, 1, 4)}
    assert plan.is_compute == (True, True, False, True, True) and plan.durations_s[2] == 0.0


def test_a_new_computation_starts_a_new_segment():
    ops = [compute("a", 1.0), dataclasses.replace(compute("b", 1.0), computation="eval")]
    plan = plan_group(ops, OneTeraflop())
    assert plan.segments == ((0,), (1,)) and plan.initially_ready == {"train": (0,), "eval": (1,)}
