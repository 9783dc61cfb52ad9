"""Sweep parameters: paths checked against the schema, points resolved into experiments."""

from __future__ import annotations

import copy

import pytest

from pathsim.config.experiment import load_experiment
from pathsim.errors import ConfigError
from pathsim.studies.whatif.params import INFER, canonical_path, check_value, mesh_axis_of, resolve
from pathsim.studies.whatif.spec import parse_set, split_values
from pathsim.mesh.axis import MeshAxis


def test_aliases_and_schema_paths():
    assert canonical_path("plan.model", "f") == "plan.ici.tensor"
    assert canonical_path("training.remat", "f") == "training.remat"
    assert canonical_path("topology.islands.0.count", "f") == "topology.islands.0.count"
    assert canonical_path("plan.dcn.pipeline", "f") == "plan.dcn.pipeline"


@pytest.mark.parametrize("path, hint", [
    ("plan.modle", "'modle'"), ("plan.ici.expert", "'expert' is not an axis; known: data, fsdp"),
    ("training.remat.x", "plain value"), ("topology.islands.first.shape", "list index"), ("nonsense", "'nonsense'"),
    ("model.n_layer", "did you mean n_layers?"), ("plan.ici.model", "did you mean tensor?"),
])
def test_unknown_parameters_name_the_field(path, hint):
    with pytest.raises(ConfigError) as err:
        canonical_path(path, f"--set {path}")
    assert str(err.value).startswith(f"--set {path}: unknown sweep parameter")
    assert hint in str(err.value)


def test_values_are_checked_against_the_schema(small):
    check_value("training.remat", "palm", "f", small)
    check_value("plan.ici.fsdp", INFER, "f", small)
    with pytest.raises(ConfigError, match="value 'some'"):
        check_value("training.remat", "some", "sweep.grid.training.remat", small)
    with pytest.raises(ConfigError, match="value 0"):
        check_value("plan.microbatches", 0, "f", small)
    with pytest.raises(ConfigError, match="does not exist"):
        check_value("topology", "missing.yaml", "f", small)


def test_set_values_split_outside_brackets():
    assert split_values("1,2, {data: 2, fsdp: 1},[1,2]") == ["1", "2", "{data: 2, fsdp: 1}", "[1,2]"]
    assert parse_set("plan.dcn={data: 2},{pipeline: 2}") == ("plan.dcn", [{"data": 2}, {"pipeline": 2}])
    with pytest.raises(ConfigError):
        parse_set("plan.model")


def _base(small):
    exp, topo = load_experiment(small)
    return exp.model_dump(mode="json"), topo.model_dump(mode="json")


def test_inferred_axis_takes_the_chips_left(small):
    base_exp, base_topo = _base(small)
    before = copy.deepcopy((base_exp, base_topo))
    exp, topo = resolve(base_exp, base_topo, small, (("plan.ici.tensor", 8), ("plan.ici.fsdp", INFER)))
    assert exp.plan.ici == {"tensor": 8, "fsdp": 8}  # 64 chips per cube
    exp, _ = resolve(base_exp, base_topo, small, (("plan.ici.tensor", 64), ("plan.ici.fsdp", INFER)))
    assert exp.plan.ici == {"tensor": 64}  # a size-1 axis is dropped
    exp, topo = resolve(base_exp, base_topo, small, (("topology.islands.0.count", 4), ("plan.dcn.data", INFER)))
    assert exp.plan.dcn == {"data": 4} and topo.islands[0].count == 4
    assert (base_exp, base_topo) == before  # the base mappings are never modified


def test_infer_that_cannot_divide_is_an_invalid_plan(small):
    base_exp, base_topo = _base(small)
    with pytest.raises(ConfigError, match=r"plan.ici.fsdp: cannot infer: the other axes multiply to 3"):
        resolve(base_exp, base_topo, small, (("plan.ici.tensor", 3), ("plan.ici.fsdp", INFER)))


def test_explicit_placement_kept_only_for_unchanged_axes(small):
    base_exp, base_topo = _base(small)
    base_exp["plan"]["placement"] = {"tensor": ["x"], "fsdp": ["y", "z"]}
    exp, _ = resolve(base_exp, base_topo, small, (("plan.microbatches", 2),))
    assert exp.plan.placement == {"tensor": ["x"], "fsdp": ["y", "z"]}
    exp, _ = resolve(base_exp, base_topo, small, (("plan.ici.tensor", 8), ("plan.ici.fsdp", INFER)))
    assert exp.plan.placement == {}


def test_a_sweep_base_may_infer_an_axis(small):
    """A base experiment with fsdp: -1 is resolved against its topology (64 chips / tensor 4 = 16)."""
    from pathsim.studies.whatif.spec import load_study
    from tests.studies.whatif.whatif_small import EXPERIMENT, write_yaml

    base = copy.deepcopy(EXPERIMENT)
    base["plan"]["ici"]["fsdp"] = -1
    study = load_study(write_yaml(small.parent / "inferred.yaml", base), sets=["training.global_batch_seqs=128,256"])
    assert len(study.points) == 2
    assert study.base_exp["plan"]["ici"] == {"tensor": 4, "fsdp": 16}


def test_only_mesh_axes_may_be_inferred(small):
    from pathsim.studies.whatif.spec import load_study

    assert mesh_axis_of("plan.dcn.pipeline") == MeshAxis("dcn", "pipeline")
    assert mesh_axis_of("plan.microbatches") is None and mesh_axis_of("topology.chip") is None
    with pytest.raises(ConfigError, match=r"sweep.infer.plan.microbatches: only mesh axes"):
        load_study(small, infer=["plan.microbatches"])


def test_a_sweep_over_slice_names(small):
    check_value("topology", "v5p-128x2", "f", small)
    with pytest.raises(ConfigError, match="f: no v5p slice is named v5p-100; valid: v5p-8,"):
        check_value("topology", "v5p-100", "f", small)
    base_exp, base_topo = _base(small)
    exp, topo = resolve(base_exp, base_topo, small, (("topology", "v5p-128x2"), ("plan.dcn.data", INFER)))
    assert (topo.chip, topo.islands[0].shape, topo.islands[0].count) == ("tpu_v5p", [4, 4, 4], 2)
    assert exp.topology == "v5p-128x2" and exp.plan.dcn == {"data": 2}
