"""Counting dependencies off, and the gates the runtime opens."""

import numpy as np

from tests.engine.execution.helpers import Parts, units
from tests.engine.test_simulator import compute, gather


def test_ready_ops_wait_for_their_gate():
    parts = Parts([[compute("a", 1.0), gather("ag")]], units(0, 0))
    parts.deps.deps_done(0, np.array([1]), 1)
    assert parts.ready == []  # the gate of "train" is shut: parked
    parts.deps.open_gate(0, "train")
    # the ops with nothing to wait on, for everyone, then what was parked
    assert parts.ready == [("compute", 0, [0, 1], 0), ("comm", 0, [0, 1], 1), ("comm", 0, [1], 1)]


def test_completing_an_op_counts_it_off_its_dependents():
    parts = Parts([[gather("x"), gather("y"), compute("b", 1.0, deps=(0, 1))]], units(0, 0))
    parts.deps.open_gate(0, "train")
    parts.ready.clear()
    parts.deps.complete(0, np.array([0, 1]), 0)
    assert parts.ready == [] and parts.states[0].count[:, 2].tolist() == [1, 1]
    parts.deps.complete(0, np.array([1]), 1)
    assert parts.ready == [("compute", 0, [1], 2)]
    assert parts.remaining.remaining[(0, "train")] == 2 * 3 - 3


def test_finishing_marks_the_group_and_the_run():
    parts = Parts([[gather("x")], [gather("y")]], units(0, 1))
    parts.env.run(until=2.0)
    parts.deps.finished(1)
    assert (parts.deps.last_completion_s, parts.states[1].end_s, parts.states[0].end_s) == (2.0, 2.0, 0.0)
