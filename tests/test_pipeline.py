"""One assembly: an experiment resolved once into stage inputs, prepared once, simulated once."""

import pytest

import pathsim.pipeline as pipeline
from pathsim.config.experiment import parse_experiment, parse_topology
from pathsim.pipeline import plan_run, prepare, resolve, simulate_prepared
from pathsim.platform.topology import build_cluster
from pathsim.workload.lowering.context import shard_for
from tests.support import small_experiment

TOPO = parse_topology({"name": "cube", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 4]}]})


def test_resolve_reads_each_section_once_into_typed_pieces():
    exp = parse_experiment(small_experiment(**{"runtime.weight_prefetch_layers": 2}))
    inputs = resolve(exp)
    assert inputs.shard == shard_for(exp.model, exp.training, exp.plan)
    assert inputs.lowering.weight_prefetch_layers == 2
    assert inputs.work.tokens_per_step == exp.training.global_batch_seqs * exp.model.seq_len
    assert dict(inputs.mesh.axes) == {a: n for a, n in inputs.mesh.axes}


@pytest.mark.parametrize("chip, layers", [("tpu_v4", 0), ("tpu_v5p", 0), ("tpu_v5e", 1), ("tpu_v6e", 1),
                                          ("measured:cpu", 1), (None, 1)])
def test_weight_prefetch_defaults_to_what_the_compiled_step_does_on_the_chip(chip, layers):
    exp = parse_experiment(small_experiment())
    assert exp.runtime.weight_prefetch_layers is None
    assert resolve(exp, chip=chip).lowering.weight_prefetch_layers == layers
    explicit = parse_experiment(small_experiment(**{"runtime.weight_prefetch_layers": 2}))
    assert resolve(explicit, chip=chip).lowering.weight_prefetch_layers == 2


def test_a_run_is_resolved_and_lowered_once(monkeypatch):
    calls = {"shard_for": 0, "lower": 0}
    for name in calls:
        real = getattr(pipeline, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(pipeline, name, counted)
    result = simulate_prepared(prepare(parse_experiment(small_experiment()), TOPO))
    assert calls == {"shard_for": 1, "lower": 1}
    assert result.metrics.step_time_s > 0 and result.memory.total_bytes > 0


def test_a_caller_that_has_the_planned_run_passes_it_and_gets_the_same_step():
    exp = parse_experiment(small_experiment())
    cluster = build_cluster(TOPO)
    planned = plan_run(exp, cluster)
    again = simulate_prepared(prepare(exp, TOPO, planned=planned))
    fresh = simulate_prepared(prepare(exp, TOPO))
    assert again.metrics == fresh.metrics and again.memory == planned.memory


def test_a_given_program_is_simulated_as_it_is():
    exp = parse_experiment(small_experiment())
    lowered = prepare(exp, TOPO)
    imported = prepare(exp, None, cluster=lowered.cluster, program=lowered.program)
    assert imported.program_source == "imported" and imported.program is lowered.program
    assert simulate_prepared(imported).metrics == simulate_prepared(lowered).metrics


def test_prepare_without_topology_or_cluster_is_a_programming_error():
    with pytest.raises(ValueError):
        prepare(parse_experiment(small_experiment()), None)
