"""A run: the parts wired together, the actors dispatching the step, the Timeline."""

import pytest

from pathsim.catalog.latencies import LATENCIES
from pathsim.config.experiment import parse_topology
from pathsim.engine.execution import Run
from pathsim.engine.fabric import FoldedFabric
from pathsim.placement.mesh_axes import Placement
from pathsim.platform.topology import build_cluster
from pathsim.workload.program import GroupProgram, Program
from tests.engine.test_simulator import AXES, OneTeraflop, compute


def one_group_run(ops, record_units=None):
    cluster = build_cluster(parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 4]}]}))
    program = Program(groups=(GroupProgram(name="g0", coords=(), ops=tuple(ops), chips=64),), group_axes=(),
                      computations=("train",))
    placement = Placement(axes=AXES, group_islands=(0,), chips_per_group=64)
    fabric = FoldedFabric(program, placement, cluster)
    return Run(program, fabric, OneTeraflop(), "pathways_opbyop", LATENCIES, True, record_units, cluster, placement)


def test_a_computation_with_no_ops_on_a_group_is_done_when_it_starts():
    assert one_group_run([compute("a", 1.0)]).start_computation(0, "eval").triggered


def test_the_timeline_lists_the_kept_units():
    tl = one_group_run([compute("a", 1.0)]).run()
    assert tl.groups == ("g0",) and tl.group_chips == (64,) and tl.group_end_s[0] == pytest.approx(tl.end_s)
    assert not one_group_run([compute("a", 1.0)], record_units=set()).run().groups
