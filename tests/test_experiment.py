"""Bad experiments are refused with one ConfigError that names the field."""

import pytest

from tests.support import small_experiment
from pathsim.api import simulate_config
from pathsim.errors import ConfigError
from pathsim.experiment import load_experiment, parse_experiment, parse_topology, read_yaml


def field_of(exp_dict) -> str:
    exp = parse_experiment(exp_dict)
    topo = parse_topology(read_yaml(__import__("pathlib").Path(exp.topology), "topology"))
    with pytest.raises(ConfigError) as err:
        simulate_config(exp, topo)
    return err.value.field


def test_small_experiment_is_valid():
    exp = parse_experiment(small_experiment())
    assert exp.plan.degree("tensor") == 4


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["model"].update(n_layer=4), "model.n_layer"),
    (lambda d: d.update(plann={}), "plann"),
    (lambda d: d["model"].update(d_model="1024"), "model.d_model"),
    (lambda d: d["model"].update(n_layers=0), "model.n_layers"),
    (lambda d: d["training"].update(remat="some"), "training.remat"),
    (lambda d: d["plan"]["ici"].update(tensor=-4), "plan"),
    (lambda d: d["plan"]["ici"].update(experts=4), "plan.ici.experts"),
    (lambda d: d.pop("model"), "model"),
])
def test_schema_errors_name_the_field(mutate, field):
    d = small_experiment()
    mutate(d)
    with pytest.raises(ConfigError) as err:
        parse_experiment(d)
    assert err.value.field.startswith(field)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("overrides,field", [
    ({"plan": {"ici": {"tensor": 4, "fsdp": 8}}}, "plan.ici"),
    ({"model.n_heads": 6, "model.head_dim": 128}, "model.n_heads"),
    ({"training.global_batch_seqs": 8}, "training.global_batch_seqs"),
    ({"plan": {"ici": {"tensor": 4, "fsdp": 16}, "dcn": {"tensor": 2}}}, "plan.dcn.tensor"),
])
def test_plan_errors_name_the_field(overrides, field):
    assert field_of(small_experiment(**overrides)) == field


def test_missing_topology_file(tmp_path):
    import yaml

    d = small_experiment(topology="no/such/topology.yaml")
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match="does not exist") as err:
        load_experiment(path)
    assert err.value.field == "topology"


def test_topology_relative_to_experiment(repo):
    exp, topo = load_experiment(repo / "experiments" / "palm540b.yaml")
    assert topo.name == "tpu_v4_palm_2pods"
