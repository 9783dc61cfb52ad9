"""Full mode (every chip and link) against folded mode (one chip per group) on symmetric plans."""

from pathlib import Path

import pytest

from tests.support import REPO, placement_of, small_experiment
from pathsim.api import simulate_config
from pathsim.config.experiment import load_experiment, parse_experiment, parse_topology, read_yaml
from pathsim.costs.compute import AnalyticCostModel
from pathsim.engine import simulate
from pathsim.engine.fabric import Fabric, FullFabric
from pathsim.platform.scenario import LinkState
from pathsim.platform.topology import build_cluster
from pathsim.pipeline import lowered_program


def both(exp_dict, links=LinkState(), slowdowns=None):
    exp = parse_experiment(exp_dict)
    cluster = build_cluster(parse_topology(read_yaml(Path(exp.topology), "topology")))
    placement = placement_of(exp, cluster)
    program = lowered_program(exp, placement.chips_per_group)
    cost = AnalyticCostModel(cluster.chip)
    folded = simulate(program, placement, cluster, cost)
    fabric = FullFabric(program, placement, cluster, slowdowns=slowdowns, links=links)
    full = simulate(program, placement, cluster, cost, fabric=fabric, record_links=False, record_units={0})
    return folded.end_s, full.end_s, fabric


@pytest.mark.parametrize("overrides", [
    {},
    {"plan": {"ici": {"tensor": 4, "data": 16}, "tensor_style": "megatron"}},
    {"plan": {"ici": {"tensor": 2, "fsdp": 32}, "placement": {"tensor": ["x:2"]}}},  # line + strided ring
    {"plan": {"ici": {"pipeline": 4, "tensor": 4, "fsdp": 4}, "microbatches": 4, "pipeline_schedule": "1f1b"}},
    {"training.remat": "palm", "model.block": "parallel", "model.mlp": "swiglu"},
])
def test_full_equals_folded_on_symmetric_plans(overrides):
    folded, full, _ = both(small_experiment(**overrides))
    assert full == pytest.approx(folded, rel=1e-3)


def test_full_equals_folded_across_islands_and_without_wraparound(repo):
    two = small_experiment(topology=str(repo / "topologies" / "tpu_v4_palm_2pods.yaml"))
    two["topology"] = str(repo / "tests" / "data" / "two_cubes.yaml")
    two["plan"] = {"ici": {"tensor": 4, "fsdp": 16}, "dcn": {"data": 2}}
    folded, full, _ = both(two)
    assert full == pytest.approx(folded, rel=1e-3)
    small = small_experiment(topology=str(repo / "topologies" / "tpu_v4_2x2x4.yaml"),
                             plan={"ici": {"tensor": 4, "fsdp": 4}})
    small["training"]["global_batch_seqs"] = 16
    folded, full, _ = both(small)
    assert full == pytest.approx(folded, rel=1e-3)


@pytest.mark.parametrize("topology,plan", [
    ("two_small_slices.yaml", {"ici": {"tensor": 2, "pipeline": 2, "fsdp": 4}, "dcn": {"data": 2},
                               "microbatches": 2, "placement": {"tensor": ["x"], "pipeline": ["y"]}}),
    ("two_cubes.yaml", {"ici": {"tensor": 4, "fsdp": 16}, "dcn": {"pipeline": 2}, "microbatches": 2}),
])
def test_full_equals_folded_with_pipelines_and_islands(repo, topology, plan):
    """Pipeline stages that own their chips' links: folded is exact. (Stages interleaved with another
    axis's strided rings share links that folded mode gives each group alone: see docs/scale.md.)"""
    exp = small_experiment(topology=str(repo / "tests" / "data" / topology), plan=plan)
    folded, full, _ = both(exp)
    assert full == pytest.approx(folded, rel=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("plan", [
    {"ici": {"tensor": 8, "fsdp": 64}},
    {"ici": {"tensor": 4, "fsdp": 32, "data": 4}},
])
def test_full_equals_folded_at_medium_scale(repo, plan):
    """512 chips (8x8x8), a PaLM-8B-shaped layer stack cut to 4 layers."""
    exp = small_experiment(topology=str(repo / "topologies" / "tpu_v4_8x8x8.yaml"), plan=plan, **{
        "model.n_layers": 4, "model.d_model": 4096, "model.n_heads": 16, "model.d_ff": 16384,
        "model.seq_len": 2048, "training.global_batch_seqs": 256, "training.remat": "palm"})
    folded, full, _ = both(exp)
    assert full == pytest.approx(folded, rel=1e-3)


def test_straggler_slows_the_step():
    base, _, _ = both(small_experiment())
    _, slow, _ = both(small_experiment(), slowdowns={(0, (1, 2, 3)): 2.0})
    assert slow > 1.3 * base


def test_failed_link_reroutes_and_costs_time():
    exp = small_experiment(**{"model.d_model": 4096, "model.d_ff": 16384, "model.n_heads": 32})
    base, _, _ = both(exp)
    failed = LinkState(factors=(((0, (0, 0, 0), (1, 0, 0)), 0.0),))
    _, rerouted, fabric = both(exp, links=failed)
    assert fabric.capacity[(0, (0, 0, 0), (1, 0, 0))] == 0.0
    assert rerouted > base
    half = LinkState(factors=(((0, (0, 0, 0), (1, 0, 0)), 0.5),))
    _, degraded, _ = both(exp, links=half)
    assert base < degraded


def test_a_pipeline_crossing_islands_is_the_same_folded_and_full():
    exp, topo = load_experiment(REPO / "tests" / "data" / "pipeline_4_islands.yaml")
    folded = simulate_config(exp, topo, record_links=False)
    full = simulate_config(exp, topo, record_links=False, mode="full")
    assert full.mode == "full" and folded.mode == "folded"
    assert full.metrics.step_time_s == pytest.approx(folded.metrics.step_time_s, rel=1e-9)


def _full_fabric(exp_dict, slowdowns=None):
    exp = parse_experiment(exp_dict)
    cluster = build_cluster(parse_topology(read_yaml(Path(exp.topology), "topology")))
    placement = placement_of(exp, cluster)
    program = lowered_program(exp, placement.chips_per_group)
    return FullFabric(program, placement, cluster, slowdowns=slowdowns), program


def test_full_fabric_is_a_fabric():
    fabric, _ = _full_fabric(small_experiment())
    assert isinstance(fabric, Fabric)


def test_recorded_units_are_one_chip_per_group_and_every_straggler():
    # 4 pipeline stages (4 groups of 16 chips) and one straggler: 4 + 1 recorded chips.
    exp = small_experiment(plan={"ici": {"pipeline": 4, "tensor": 4, "fsdp": 4}, "microbatches": 4})
    fabric, program = _full_fabric(exp, slowdowns={(0, (1, 2, 3)): 2.0})
    recorded = fabric.recorded_units()
    steady = [u for u in recorded if fabric.units[u].slowdown == 1.0]
    assert sorted(fabric.units[u].group for u in steady) == list(range(len(program.groups))) == [0, 1, 2, 3]
    assert [fabric.units[u].coord for u in recorded if u not in steady] == [(1, 2, 3)]


def test_full_mode_keeps_the_timelines_of_the_recorded_units_only():
    exp, topo = load_experiment(REPO / "tests" / "data" / "pipeline_4_islands.yaml")
    full = simulate_config(exp, topo, record_links=False, mode="full")
    program_groups = {s.group for s in full.timeline.spans if s.track == "compute"}
    assert len(full.timeline.groups) == len(program_groups) == len(set(full.timeline.groups))
