import math

import pytest

from tests.support import small_experiment
from pathsim.api import simulate_config
from pathsim.config.experiment import parse_experiment, parse_topology, read_yaml
from pathsim.engine.failures import simulate_run
from pathsim.errors import ConfigError
from pathsim.results.goodput import closed_form_time_to_train_s, expected_interval_s


def run(overrides, mode=None):
    exp = parse_experiment(small_experiment(**overrides))
    topo = parse_topology(read_yaml(__import__("pathlib").Path(exp.topology), "topology"))
    return simulate_config(exp, topo, mode=mode)


def test_auto_mode_goes_full_when_symmetry_breaks():
    assert run({}).mode == "folded"
    result = run({"scenario": {"stragglers": [{"chip": [0, 1, 2], "slowdown": 1.5}]}})
    assert result.mode == "full"
    assert result.metrics.step_time_s > run({}).metrics.step_time_s


def test_host_straggler_covers_its_four_chips():
    from pathsim.config.experiment import ScenarioConfig
    from pathsim.platform.scenario import slowdowns

    cluster = run({}).cluster
    slow = slowdowns(ScenarioConfig(stragglers=[{"host": [1, 0, 3], "slowdown": 2.0}]), cluster)
    assert sorted(c for _, c in slow) == [(2, 0, 3), (2, 1, 3), (3, 0, 3), (3, 1, 3)]


@pytest.mark.parametrize("scenario,field", [
    ({"stragglers": [{"chip": [9, 0, 0], "slowdown": 2}]}, "scenario.stragglers.0.chip"),
    ({"stragglers": [{"island": 3, "chip": [0, 0, 0], "slowdown": 2}]}, "scenario.stragglers.0.island"),
    ({"links": [{"chip": [0, 0, 7], "dim": "z", "factor": 0}]}, "scenario.links.0.chip"),
    ({"mode": "folded", "links": [{"chip": [0, 0, 0], "dim": "z", "factor": 0.5}]}, "scenario.mode"),
])
def test_bad_scenarios_name_the_field(scenario, field):
    with pytest.raises(ConfigError) as err:
        run({"scenario": scenario})
    assert err.value.field == field


def test_negative_failure_rate_is_refused():
    with pytest.raises(ConfigError) as err:
        parse_experiment(small_experiment(scenario={"failures": {
            "chip_failures_per_hour": -1, "checkpoint_interval_s": 60, "train_tokens": 1e9}}))
    assert err.value.field == "scenario.failures.chip_failures_per_hour"


def test_goodput_closed_form_by_hand():
    # No failures: only checkpoints cost time. 1000 s of work, a checkpoint of 10 s every 300 s: 4 checkpoints.
    assert closed_form_time_to_train_s(1000, 0.0, 300, 10, 50) == pytest.approx(1040)
    # With failures: (e^(rate (t + c)) - 1) (1/rate + restart).
    rate = 1 / 3600
    assert expected_interval_s(rate, 600, 0, 0) == pytest.approx(3600 * (math.exp(1 / 6) - 1))


def test_simulated_run_agrees_with_the_closed_form():
    rate, interval, ckpt, restart, useful = 1 / 7200, 1800, 60, 300, 3e6
    closed = closed_form_time_to_train_s(useful, rate, interval, ckpt, restart)
    sims = [simulate_run(useful, rate, interval, ckpt, restart, seed=s).wall_s for s in range(3)]
    assert sum(sims) / 3 == pytest.approx(closed, rel=0.02)


def test_failures_reported_with_goodput():
    result = run({"scenario": {"failures": {"chip_failures_per_hour": 1e-3, "checkpoint_interval_s": 600,
                                            "checkpoint_write_s": 20, "restart_s": 120, "train_tokens": 1e13}}})
    g = result.goodput
    assert g.mtbf_s == pytest.approx(3600 / (1e-3 * 64))
    assert 0 < g.goodput < 1 and g.time_to_train_s > g.useful_s
    assert g.simulated_goodput == pytest.approx(g.goodput, rel=0.05)


def _links(links):
    from pathsim.platform.scenario import link_state

    exp = parse_experiment(small_experiment(scenario={"links": links}))
    return link_state(exp.scenario, cluster_of(exp))


def cluster_of(exp):
    from pathsim.platform.topology import build_cluster

    return build_cluster(parse_topology(read_yaml(__import__("pathlib").Path(exp.topology), "topology")))


def test_a_chip_cut_off_by_failed_links_is_refused_naming_the_link():
    around = [{"chip": [1, 1, 1], "dim": d, "factor": 0.0} for d in "xyz"]
    around += [{"chip": [1 - (d == "x"), 1 - (d == "y"), 1 - (d == "z")], "dim": d, "factor": 0.0} for d in "xyz"]
    with pytest.raises(ConfigError, match="no route around") as err:
        _links(around)
    assert err.value.field == "scenario.links.0"
    assert len(_links(around[:1]).factors) == 1  # one failed link detours through a neighbouring ring


def test_a_link_given_twice_is_refused():
    with pytest.raises(ConfigError, match="same link") as err:
        _links([{"chip": [0, 0, 0], "dim": "x", "factor": 0.5}] * 2)
    assert err.value.field == "scenario.links.1"


@pytest.mark.parametrize("failures, field", [
    ({"checkpoint_interval_s": 1e-6, "train_tokens": 1e12}, "scenario.failures.checkpoint_interval_s"),
    ({"chip_failures_per_hour": 0.5, "checkpoint_interval_s": 3600, "train_tokens": 1e12}, "scenario.failures"),
])
def test_failure_runs_that_would_not_end_are_refused_up_front(failures, field):
    from pathsim.results.goodput import goodput

    exp = parse_experiment(small_experiment(scenario={"failures": failures}))
    with pytest.raises(ConfigError, match="limit|never finish") as err:
        goodput(exp.scenario.failures, cluster_of(exp), tokens_per_s=1e5)
    assert err.value.field == field


@pytest.mark.parametrize("factor", [1e-300, 1e-4])
def test_a_link_all_but_failed_is_refused(factor):
    with pytest.raises(ConfigError, match="give 0 for a failed link") as err:
        _links([{"chip": [0, 0, 0], "dim": "x", "factor": factor}])
    assert err.value.field == "scenario.links.0.factor"
