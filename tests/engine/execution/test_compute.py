"""Each unit's compute stream, segment by segment; units ending a segment together share a timer."""

import numpy as np
import pytest

from pathsim.engine.execution.compute import ComputeStreams, SegmentTimer
from pathsim.engine.execution.recording import Recorder
from tests.engine.execution.helpers import Parts, units
from tests.engine.test_simulator import compute, gather


def streams(group_ops, unit_list):
    parts = Parts(group_ops, unit_list)
    recorder = Recorder(parts.units, parts.layout, parts.states, None)
    cs = ComputeStreams(parts.env, parts.program, parts.plans, parts.states, parts.layout, parts.units, parts.deps,
                        parts.remaining, recorder)
    parts.deps.connect(cs.resume, lambda g, local, j: parts.ready.append(("comm", g, local.tolist(), j)))
    return parts, cs, recorder


def test_units_ending_a_segment_together_share_one_timer_a_straggler_gets_its_own():
    parts, cs, recorder = streams([[compute("a", 1.0), compute("b", 1.0)]], units(0, 0, 0, slowdowns={2: 2.0}))
    parts.deps.open_gate(0, "train")
    cs.next_segments(0, parts.states[0].everyone())
    assert sorted(cs.timers) == [SegmentTimer(0, 0, 2.0), SegmentTimer(0, 0, 4.0)]
    assert [p.tolist() for p in cs.timers[SegmentTimer(0, 0, 2.0)]] == [[0, 1]]
    parts.env.run()
    assert parts.states[0].done.all() and parts.deps.last_completion_s == 4.0
    straggler = [(s.name, s.start_s, s.end_s) for s in recorder.spans if s.group == "u2"]
    assert straggler == [("a", 0.0, pytest.approx(2.0)), ("b", pytest.approx(2.0), pytest.approx(4.0))]


def test_a_stream_stalls_until_its_communication_is_done():
    parts, cs, _ = streams([[gather("ag"), compute("b", 1.0, deps=(0,))]], units(0, 0))
    cs.next_segments(0, parts.states[0].everyone())
    assert parts.states[0].stalled.tolist() == [True, True]  # the gate is shut, and b waits on the gather
    parts.deps.open_gate(0, "train")
    assert parts.ready == [("comm", 0, [0, 1], 0)]
    parts.deps.complete(0, np.array([0]), 0)  # the gather is done on unit 0 only
    parts.env.run()
    st = parts.states[0]
    assert st.stalled.tolist() == [False, True] and st.done[:, 1].tolist() == [True, False] and st.end_s == 1.0
