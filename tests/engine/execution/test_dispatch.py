"""What the Pathways actors see: the ops left per computation, each group's slice."""

from pathsim.config.experiment import parse_topology
from pathsim.engine.execution.dispatch import group_slices
from pathsim.platform.topology import build_cluster
from pathsim.workload.program import GroupProgram, Program
from tests.engine.execution.helpers import Parts, units
from tests.engine.test_simulator import compute


def test_a_computation_is_done_when_every_unit_ran_every_op():
    parts = Parts([[compute("a", 1.0), compute("b", 1.0)]], units(0, 0))
    done = parts.remaining.done_event(0, "train")
    assert parts.remaining.runs(0, "train") and not parts.remaining.runs(0, "eval")
    parts.remaining.count_off(0, "train", 3)
    assert not done.triggered
    parts.remaining.count_off(0, "train", 1)
    assert done.triggered and not parts.remaining.runs(0, "train")


def test_a_computation_with_nothing_left_is_done_at_once():
    parts = Parts([[compute("a", 1.0)]], units(0))
    assert parts.remaining.done_event(0, "eval").triggered


def test_a_folded_group_runs_on_its_whole_island():
    cluster = build_cluster(parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 8]}]}))
    program = Program(groups=(GroupProgram(name="all", coords=(), ops=(), chips=128),), group_axes=(),
                      computations=("train",))
    parts = Parts([[]], units(0))
    (only,) = group_slices(program, None, cluster, parts.units, parts.states)
    assert (only.name, only.island, only.shape) == ("all", 0, (4, 4, 8))
