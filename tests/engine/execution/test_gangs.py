"""Which gang each unit joins for a collective, found once per group and mesh axis."""

from pathsim.engine.execution.gangs import Gangs
from pathsim.engine.execution.state import UnitLayout
from tests.engine.execution.helpers import Parts, units
from tests.engine.test_simulator import DCN_DATA, gather


class PairsAcrossGroups:
    """Units 0, 1 run group 0, units 2, 3 group 1; a collective pairs 0 with 2 and 1 with 3."""

    def __init__(self):
        self.units = units(0, 0, 1, 1)
        self.calls = 0

    def members(self, u, op):
        self.calls += 1
        first = u % 2
        return (first,), [first, first + 2]


def test_each_gang_has_its_parts_by_group():
    fabric = PairsAcrossGroups()
    layout = UnitLayout.of(fabric.units, 2)
    states = Parts([[], []], fabric.units).states
    gangs = Gangs(fabric, layout, states)
    op = gather("d", axis=DCN_DATA, collective="all_reduce")
    assert gangs.table(0, op).tolist() == [0, 1] and gangs.table(1, op).tolist() == [0, 1]
    assert [g.members for g in gangs.gangs] == [(0, 2), (1, 3)]
    assert [(pg, ls.tolist()) for pg, ls in gangs.gangs[1].parts] == [(0, [1]), (1, [1])]
    calls = fabric.calls
    gangs.table(0, op)
    assert fabric.calls == calls  # built once per (group, axis)
