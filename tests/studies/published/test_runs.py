"""Reading published runs: the shipped table, and the one-line errors of a bad file or row."""

from __future__ import annotations

import pytest

from pathsim.config.experiment import load_experiment
from pathsim.errors import ConfigError
from pathsim.studies.published.experiment import experiment_for
from pathsim.studies.published.runs import DEFAULT_RUNS, PublishedRun, RowError, read_runs
from tests.studies.published.conftest import tiny_run, write_runs


def test_the_shipped_table_is_the_24_v5e_runs_and_palm():
    runs = read_runs(DEFAULT_RUNS)
    assert all(isinstance(r, PublishedRun) for r in runs), [str(r) for r in runs if isinstance(r, RowError)]
    assert len(runs) == 25 and len({r.id for r in runs}) == 25
    v5e = [r for r in runs if r.chip == "tpu_v5e"]
    assert len(v5e) == 24 and {r.slices for r in v5e} == {1, 2, 4, 8, 16, 32}
    assert all(r.slice_shape == "16x16" and r.attention == "flash" and r.remat_policy == "full" for r in v5e)


def test_the_palm_row_is_experiments_palm540b(repo):
    palm = next(r for r in read_runs(DEFAULT_RUNS) if r.chip == "tpu_v4")
    built, topo = experiment_for(palm)
    shipped, shipped_topo = load_experiment(repo / "experiments" / "palm540b.yaml")
    assert built.model.model_dump(exclude={"name"}) == shipped.model.model_dump(exclude={"name"})
    assert built.training == shipped.training
    assert (built.plan.ici, built.plan.dcn, built.plan.tensor_style) == (shipped.plan.ici, shipped.plan.dcn, "2d")
    assert topo.chip == shipped_topo.chip and [i.shape for i in topo.islands] == [[12, 16, 16]]
    assert topo.islands[0].count == 2
    assert (palm.reported_mfu, palm.reported_hfu, palm.step_s_derived) == (0.462, 0.578, 17.60)


def test_a_v5e_row_becomes_slices_over_the_dcn():
    run = next(r for r in read_runs(DEFAULT_RUNS) if r.id == "V5E-MT-128B-8")
    exp, topo = experiment_for(run)
    assert topo.chip == "tpu_v5e" and topo.islands[0].shape == [16, 16] and topo.islands[0].count == 8
    assert exp.plan.ici == {"fsdp": 16, "tensor": 16} and exp.plan.dcn == {"data": 8}
    assert (exp.model.mlp, exp.model.block, exp.model.kv_heads, exp.model.q_head_dim) == ("relu", "serial", 64, 256)
    assert (exp.training.optimizer, exp.training.remat, exp.training.global_batch_seqs) == ("adam", "full", 2048)


@pytest.mark.parametrize("overrides, column, words", [
    ({"d_model": "abc"}, "d_model", "integer"),
    ({"ici_fsdp": 8}, "ici_fsdp", "16 chips of a 4x4 slice"),
    ({"dcn_data": 2}, "dcn_data", "number of slices"),
    ({"chips": 17}, "chips", "slices x slice chips"),
    ({"slice_shape": "4 by 4"}, "slice_shape", "pattern"),
    ({"tied_embeddings": "maybe"}, "tied_embeddings", "boolean"),
    ({"reported_mfu": 46.2}, "reported_mfu", "less than or equal to 1"),
])
def test_a_bad_value_fails_its_row_naming_row_and_column(tmp_path, overrides, column, words):
    path = write_runs(tmp_path / "runs.csv", [tiny_run(), tiny_run(id="BAD", **overrides)])
    good, bad = read_runs(path)
    assert isinstance(good, PublishedRun)
    assert isinstance(bad, RowError) and (bad.row, bad.id, bad.column) == (2, "BAD", column)
    assert words in bad.message and str(bad).startswith(f"row 2 (BAD), column {column}: ")


@pytest.mark.parametrize("overrides, column", [
    ({"remat_policy": "offloaded"}, "remat_policy"), ({"mlp": "geglu"}, "mlp"), ({"attention": "splash"}, "attention"),
    ({"optimizer": "lion"}, "optimizer"), ({"block": "hybrid"}, "block")])
def test_values_pathsim_cannot_model_are_refused_by_column(overrides, column):
    run = PublishedRun.model_validate(tiny_run(**overrides))
    with pytest.raises(ConfigError) as err:
        experiment_for(run)
    assert err.value.field == column and "unknown value" in err.value.message


def test_the_attention_column_picks_the_attention_kernel():
    flash, _ = experiment_for(PublishedRun.model_validate(tiny_run(attention="flash")))
    dot, _ = experiment_for(PublishedRun.model_validate(tiny_run(attention="dot")))
    assert (flash.model.attention, dot.model.attention) == ("flash", "dot")


def test_file_errors_refuse_the_whole_file(tmp_path):
    with pytest.raises(ConfigError, match=r"--runs: .*missing column d_model") as err:
        read_runs(write_runs(tmp_path / "a.csv", [{k: v for k, v in tiny_run().items() if k != "d_model"}]))
    row = tiny_run()
    row["n_layer"] = row.pop("n_layers")
    with pytest.raises(ConfigError, match=r"unknown column 'n_layer'; did you mean n_layers\?"):
        read_runs(write_runs(tmp_path / "b.csv", [row], list(row)))
    with pytest.raises(ConfigError, match="no such file"):
        read_runs(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text(",".join(tiny_run()) + "\n")
    with pytest.raises(ConfigError, match="no rows"):
        read_runs(tmp_path / "empty.csv")
    assert err.value.field == "--runs"
