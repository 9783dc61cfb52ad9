"""The units' layout over groups, and a group's state before anything ran."""

import numpy as np

from pathsim.engine.execution.plan import plan_group
from pathsim.engine.execution.state import GroupState, UnitLayout
from tests.engine.execution.helpers import units
from tests.engine.test_simulator import OneTeraflop, compute, gather


def test_layout_gives_each_unit_its_index_in_its_group():
    layout = UnitLayout.of(units(0, 1, 0, 1, 1), 2)
    assert layout.members == ((0, 2), (1, 3, 4))
    assert layout.local.tolist() == [0, 0, 1, 1, 2]


def test_a_group_starts_at_its_first_segment_with_its_dependencies_counted():
    plan = plan_group([compute("a", 1.0), gather("ag", deps=(0,)), compute("b", 2.0, deps=(1,))], OneTeraflop())
    st = GroupState.start(plan, (1, 3), units(0, 0, 1, 0, slowdowns={3: 2.0}))
    assert st.units.tolist() == [1, 3] and st.slowdown.tolist() == [1.0, 2.0]
    assert st.count.tolist() == [[0, 1, 1], [0, 1, 1]] and not st.done.any() and not st.gates
    assert st.first_op.tolist() == [0, 2, -1] and st.segment_s.tolist() == [1.0, 2.0, 0.0]
    assert np.array_equal(st.everyone(), [0, 1])
