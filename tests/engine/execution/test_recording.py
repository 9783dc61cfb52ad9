"""Which units' spans are kept."""

import numpy as np

from pathsim.engine.execution.recording import Recorder
from tests.engine.execution.helpers import Parts, units
from tests.engine.test_simulator import compute


def recorder(record_units):
    parts = Parts([[compute("a", 1.0)], [compute("a", 1.0)]], units(0, 1, 0, 1, 0))
    return Recorder(parts.units, parts.layout, parts.states, record_units)


def test_every_unit_is_kept_by_default():
    rec = recorder(None)
    assert rec.recorded(0, np.array([0, 2])).tolist() == [0, 4] and rec.kept_units() == [0, 1, 2, 3, 4]


def test_only_the_chosen_units_are_kept():
    rec = recorder({4, 1})
    assert rec.recorded(0, np.array([0, 1, 2])).tolist() == [4]
    assert rec.recorded(1, np.array([0])).tolist() == [1] and rec.recorded(1, np.array([1])).tolist() == []
    assert rec.keeps(4) and not rec.keeps(0) and rec.kept_units() == [1, 4]


def test_a_group_with_no_kept_unit_records_nothing():
    assert recorder({1}).recorded(0, np.array([0, 1, 2])).size == 0


def test_a_span_names_its_unit():
    rec = recorder(None)
    op = compute("a", 1.0)
    rec.span(3, "compute", "compute", op, 1.0, 2.0, flops=op.flops)
    (span,) = rec.spans
    assert (span.group, span.name, span.duration_s, span.flops) == ("u3", "a", 1.0, 1e12)
