"""Bad experiments are refused with one ConfigError that names the field."""

import pytest

from tests.support import REPO, memory_of, small_experiment
from pathsim.api import simulate_config
from pathsim.catalog.dispatch_modes import DISPATCH_ALIASES
from pathsim.config.experiment import load_experiment, parse_experiment, parse_topology, read_yaml
from pathsim.errors import ConfigError


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
    ({"model.n_heads": 6, "model.head_dim": 128}, "plan.ici.tensor"),  # the plan's tensor 4 splits no 6 heads
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
    # By its absolute path, and the experiment file that names it: the working directory may be elsewhere.
    assert repr(str(tmp_path / "no/such/topology.yaml")) in err.value.message
    assert f"in {str(path)!r}" in err.value.message


def test_topology_relative_to_experiment(repo):
    exp, topo = load_experiment(repo / "experiments" / "palm540b.yaml")
    assert topo.name == "tpu_v4_palm_2pods"


def _refusal(d) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        parse_experiment(d)
    assert "\n" not in str(err.value)
    return err.value


@pytest.mark.parametrize("mutate, field, text", [
    (lambda d: d["model"].update(n_layer=d["model"].pop("n_layers")), "model.n_layer", "did you mean n_layers?"),
    (lambda d: d["plan"].update(ici={"model": 4, "fsdp": 16}), "plan.ici.model", "did you mean tensor?"),
    (lambda d: d["training"].update(remat_policy="palm"), "training.remat_policy", "did you mean remat?"),
    (lambda d: d["model"].pop("tied_embeddings"), "model.tied_embeddings", "required"),
    (lambda d: d["model"].pop("mlp"), "model.mlp", "required"),
    (lambda d: d["model"].update(d_model=float("nan")), "model.d_model", ""),
    (lambda d: d["training"].update(global_batch_seqs=10**40), "training.global_batch_seqs", "less than"),
    (lambda d: d["plan"].update(placement={"fsdp": ["y", "y"]}), "plan.placement.fsdp", "twice"),
    (lambda d: d["plan"].update(placement={"fsdp": ["x:4", "x:1"]}), "plan.placement.fsdp", "twice"),
    (lambda d: d["runtime"].update(weight_prefetch_layers=5), "runtime.weight_prefetch_layers", "4 layers"),
    (lambda d: d["model"].update(n_layers=60_000), "model.n_layers", "limit is"),
    (lambda d: d.update(kind=["pathways_dispatch"]), "kind", "not a Pathways experiment"),
])
def test_refusals_name_the_field_and_what_is_wrong(mutate, field, text):
    d = small_experiment(**{"runtime.dispatch": "pathways_opbyop"})
    mutate(d)
    err = _refusal(d)
    assert err.field == field and text in err.message, str(err)


@pytest.mark.parametrize("old, mode", list(DISPATCH_ALIASES.items()))
def test_earlier_dispatch_spellings_read_as_the_actors_modes(old, mode):
    assert parse_experiment(small_experiment(**{"runtime.dispatch": old})).runtime.dispatch == mode


@pytest.mark.parametrize("mode", ["pathways_fused", "jax_fused", "pathways_typo"])
def test_a_dispatch_mode_a_step_cannot_take_is_refused(mode):
    err = _refusal(small_experiment(**{"runtime.dispatch": mode}))
    assert err.field == "runtime.dispatch" and "pathways_opbyop" in err.message, str(err)


@pytest.mark.parametrize("key, value", [("hbm_bytes_per_s", -1.0), ("hbm_bytes_per_s", float("nan")),
                                        ("peak_bf16_flops_per_s", -1.0), ("ici_hop_latency_s", -1e-6),
                                        ("ici_link_bytes_per_s", 0.0), ("dcn_bytes_per_s_per_host", 1e300)])
def test_overrides_out_of_range_are_refused(key, value):
    with pytest.raises(ConfigError) as err:
        parse_topology({"name": "t", "chip": "tpu_v4", "islands": [{"shape": [4, 4, 4]}], "overrides": {key: value}})
    assert err.value.field == f"topology.overrides.{key}"


def test_prefetch_never_counts_more_layers_than_the_stage_has():
    from pathsim.platform.topology import build_cluster

    def working(prefetch: int) -> float:
        # A small vocabulary: the busiest moment is a layer's backward, not the loss.
        exp = parse_experiment(small_experiment(**{"runtime.weight_prefetch_layers": prefetch,
                                                    "model.vocab_size": 1024}))
        topo = parse_topology(read_yaml(__import__("pathlib").Path(exp.topology), "topology"))
        return memory_of(exp, build_cluster(topo)).working_bytes

    assert working(3) == working(4) > working(2)  # 4 layers: at most all 4 gathered at once


# --- the YAML reader ----------------------------------------------------------------------------------
@pytest.mark.parametrize("content, field, text", [
    ("a: 1\nb:\n  c: 1\n  c: 2\n", "topology.b.c", "given twice"),
    ("a: " + "[" * 200 + "]" * 200, "topology", "levels deep"),
    ("a: " + "7" * 100, "topology", "integer of 100 digits"),
    ("a: [1, 2\n", "topology", "not valid YAML at line 1: a flow sequence opened here is not closed"),
    # The line to fix, not the line where PyYAML noticed: a key without ':' runs on into the next line.
    ("name: x\nmodel:\n  n_layers 2\n  d_model: 3\n", "topology", "at line 3: a key without ':'"),
    ("name: x\nmodel: {n_layers: 2\nplan: 1\n", "topology", "at line 2: a flow mapping opened here is not closed"),
    ("name: x\nmodel:\n  n_layers: 2\n   d_model: 3\n", "topology", "at line 4: mapping values are not allowed"),
    ("- 1\n", "topology", "must hold a mapping"),
    ("a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e]\n",
     "topology", "values"),
])
def test_yaml_reader_refuses_hostile_files(tmp_path, content, field, text):
    path = tmp_path / "t.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        read_yaml(path, "topology")
    assert err.value.field == field and text in err.value.message, str(err.value)


@pytest.mark.parametrize("raw, text", [("name: x\n".encode("utf-16"), "not UTF-8"), (b"a: \xff\xfe\n", "not UTF-8"),
                                       (b"a: b\x00c\n", "not valid YAML")])
def test_yaml_reader_refuses_bytes_that_are_not_text(tmp_path, raw, text):
    path = tmp_path / "t.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError, match=text):
        read_yaml(path, "experiment")
    with pytest.raises(ConfigError, match="is a directory"):
        read_yaml(tmp_path, "experiment")


def test_reference_doc_is_generated_from_the_schemas():
    from pathsim.reference import OUT, render

    assert OUT.read_text() == render(), "run python -m pathsim.reference"


def test_yaml_reader_reads_exponents_as_numbers(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("a: 1e10\nb: 7.8e+11\nc: 10\nd: x1e5\n")
    assert read_yaml(path, "experiment") == {"a": 1e10, "b": 7.8e11, "c": 10, "d": "x1e5"}


@pytest.mark.parametrize("content", ["a: &a [*a]\n", "a: &a {b: *a}\n"])
def test_yaml_reader_refuses_recursive_aliases(tmp_path, content):
    path = tmp_path / "t.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match="levels deep"):
        read_yaml(path, "experiment")


def _run_json(tmp_path, capsys, name: str, **overrides) -> tuple[int, dict | None, str]:
    """`pathsim run FILE --json` in process, on the small experiment with `overrides`."""
    import json

    import yaml

    from pathsim.cli import main

    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(small_experiment(name="small", **overrides)))
    code = main(["run", str(path), "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_run_infers_one_axis(tmp_path, capsys):
    # 64 chips: tensor 4 leaves 16 for fsdp; the step is the one with fsdp written out.
    placement = {"tensor": ["x"], "fsdp": ["y", "z"]}
    code, inferred, _ = _run_json(tmp_path, capsys, "inferred", plan={"ici": {"tensor": 4, "fsdp": -1},
                                                                      "placement": placement})
    assert code == 0
    _, explicit, _ = _run_json(tmp_path, capsys, "explicit", plan={"ici": {"tensor": 4, "fsdp": 16},
                                                                   "placement": placement})
    assert inferred == explicit


def test_run_infers_a_dcn_axis(tmp_path, capsys):
    # Two pods of 3072 chips: tensor 16 leaves fsdp 192 in each, and data takes both pods.
    pods = {"topology": str(REPO / "topologies" / "tpu_v4_palm_2pods.yaml"),
            "model": {"base": "palm8b", "n_layers": 2}, "training.global_batch_seqs": 768}
    code, inferred, err = _run_json(tmp_path, capsys, "inferred", **pods,
                                    plan={"ici": {"tensor": 16, "fsdp": -1}, "dcn": {"data": -1}})
    assert code == 0, err
    _, explicit, _ = _run_json(tmp_path, capsys, "explicit", **pods,
                               plan={"ici": {"tensor": 16, "fsdp": 192}, "dcn": {"data": 2}})
    assert inferred == explicit and inferred["chips"] == 6144


@pytest.mark.parametrize("plan, line", [
    ({"ici": {"tensor": 5, "fsdp": -1}},
     "error: plan.ici.fsdp: cannot infer: the other axes multiply to 5, which does not divide 64"),
    ({"ici": {"fsdp": -1, "tensor": -1}},
     "error: plan.ici: only one axis may be inferred (-1), got ['fsdp', 'tensor']"),
    ({"ici": {"tensor": 4, "fsdp": 16}, "dcn": {"data": 3, "fsdp": -1}},
     "error: plan.dcn.fsdp: cannot infer: the other axes multiply to 3, which does not divide 1"),
])
def test_run_refuses_an_axis_it_cannot_infer(tmp_path, capsys, plan, line):
    code, _, err = _run_json(tmp_path, capsys, "bad", plan=plan)
    assert code == 2
    assert err == line + "\n"


def test_inference_needs_the_topology():
    with pytest.raises(ConfigError) as err:
        parse_experiment(small_experiment(plan={"ici": {"tensor": 4, "fsdp": -1}}))
    assert err.value.field == "plan.ici" and "--infer plan.ici.AXIS" in err.value.message
    with pytest.raises(ConfigError) as err:  # any other negative size is refused as before
        parse_experiment(small_experiment(plan={"ici": {"tensor": -4, "fsdp": 16}}))
    assert err.value.field == "plan.ici.tensor"
