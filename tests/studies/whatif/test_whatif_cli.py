"""`pathsim sweep | compare | plot` as a user runs them, and their one-line refusals of bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from pathsim.cli import main

from tests.studies.whatif.whatif_small import EXPERIMENT, write_yaml


def _one_line_error(capsys, argv, field):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {field}"), err
    return err


def test_sweep_file_with_a_sweep_section(small, tmp_path, capsys):
    spec = write_yaml(tmp_path / "sweep.yaml", {"experiment": "small.yaml", "sweep": {
        "grid": {"plan.model": [2, 4], "training.remat": ["none", "full"]}, "infer": ["plan.ici.fsdp"]}})
    out = tmp_path / "r.csv"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "Best 4 of 4 plans" in printed and "4 ok" in printed and f"results: {out}" in printed
    frame = pd.read_csv(out)
    assert sorted(frame["plan.ici.tensor"]) == [2, 2, 4, 4] and (frame["plan.ici.fsdp"] * frame["plan.ici.tensor"] == 64).all()
    # --set on top of the file's grid replaces that parameter's values.
    assert main(["sweep", str(spec), "--set", "plan.model=8", "--out", str(out), "--workers", "1"]) == 0
    assert "Best 2 of 2 plans" in capsys.readouterr().out


@pytest.mark.parametrize("args, field", [
    (["--set", "plan.modle=4,8"], "--set plan.modle: unknown sweep parameter"),
    (["--set", "plan.model="], "--set plan.model: empty grid"),
    ([], "sweep: empty grid"),
    (["--set", "training.remat=palm,sometimes"], "--set training.remat: value 'sometimes'"),
    (["--set", "plan.model=4", "--infer", "plan.model"], "sweep.infer.plan.ici.tensor: is both swept and inferred"),
    (["--set", "plan.model=4", "--out", "r.txt"], "--out"),
    (["--set", "plan.model=4", "--backend", "local", "--address", "x:1"], "--address"),
])
def test_bad_sweep_input_is_one_line_and_exit_2(small, tmp_path, capsys, monkeypatch, args, field):
    monkeypatch.chdir(tmp_path)
    _one_line_error(capsys, ["sweep", str(small), *args], field)


def test_empty_grid_in_the_file(small, tmp_path, capsys):
    spec = write_yaml(tmp_path / "sweep.yaml", {"experiment": "small.yaml", "sweep": {"grid": {"plan.model": []}}})
    _one_line_error(capsys, ["sweep", str(spec)], "sweep.grid.plan.model: empty grid")


def test_results_file_of_another_experiment_exits_2_and_is_untouched(small, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["sweep", str(small), "--set", "plan.microbatches=1,2", "--out", str(out), "--workers", "1"]) == 0
    before = out.read_bytes()
    other = write_yaml(tmp_path / "other.yaml", {**EXPERIMENT, "name": "other"})
    capsys.readouterr()
    _one_line_error(capsys, ["sweep", str(other), "--set", "plan.microbatches=1", "--out", str(out)], "--out")
    assert out.read_bytes() == before


def test_compare_prints_side_by_side_and_what_differs(small, tmp_path, capsys):
    one_cube = write_yaml(tmp_path / "one_cube.yaml", {"name": "one_cube", "chip": "tpu_v4",
                                                        "islands": [{"shape": [4, 4, 4]}]})
    other = write_yaml(tmp_path / "b.yaml", {**EXPERIMENT, "name": "one", "topology": one_cube.name,
                                             "plan": {"ici": {"tensor": 8, "fsdp": 8}}})
    assert main(["compare", str(small), str(other)]) == 0
    out = capsys.readouterr().out
    for text in ("Side by side", "step time (s)", "MFU", "memory total (GiB)", "What differs",
                 "plan.ici.tensor", "plan.dcn.data", "topology.islands.0.count"):
        assert text in out, text
    _one_line_error(capsys, ["compare", str(small)], "compare")


def test_plot_writes_images_and_refuses_unknown_columns(small, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["sweep", str(small), "--set", "plan.model=1,2,4,8", "--infer", "plan.ici.fsdp",
                 "--set", "training.remat=none,full", "--out", str(out), "--workers", "1"]) == 0
    for extra, name in ((["--x", "plan.ici.tensor", "--hue", "training.remat"], "m.png"),
                        (["--x", "plan.model", "--logx", "--title", "MFU by tensor degree"], "alias.png"),
                        (["--kind", "breakdown"], "b.svg"), (["--kind", "memory"], "mem.png")):
        assert main(["plot", str(out), *extra, "--out", str(tmp_path / name)]) == 0
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG") if name.endswith(".png") else b"<svg" in data[:500]
    capsys.readouterr()
    _one_line_error(capsys, ["plot", str(out), "--x", "plan.modle"], "--x: no column 'plan.modle'")
    _one_line_error(capsys, ["plot", str(out), "--kind", "memory", "--logx"], "--logx: applies to metric plots only")
    _one_line_error(capsys, ["plot", str(tmp_path / "missing.csv"), "--x", "mfu"], "RESULTS")


def test_compare_program_option_reaches_every_experiment(small, tmp_path, capsys, monkeypatch):
    from pathsim.studies.whatif import compare as compare_module

    seen, real = [], compare_module.simulate_config

    def spy(exp, *args, **kwargs):
        seen.append(exp.program)
        return real(exp.model_copy(update={"program": "lowered"}), *args, **kwargs)

    monkeypatch.setattr(compare_module, "simulate_config", spy)
    other = write_yaml(tmp_path / "b.yaml", {**EXPERIMENT, "name": "b", "training": {"global_batch_seqs": 256}})
    assert main(["compare", str(small), str(other), "--program", "xla"]) == 0
    assert seen == ["xla", "xla"] and "Side by side" in capsys.readouterr().out


def test_a_sweep_over_a_topology_override_prints_the_swept_values(small, tmp_path, capsys):
    """The plan is the same in every row: without a column of the swept value the rows looked identical."""
    out = tmp_path / "r.csv"
    assert main(["sweep", str(small), "--set", "topology.overrides.ici_link_bytes_per_s=4.5e10,2.25e10",
                 "--set", "training.batch=64,128", "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if "rank" in line)
    assert "ici_link_bytes_per_s" in header and "global_batch_seqs" in header
    cells = [[c.strip() for c in line.split("│")[1:4]] for line in printed.splitlines()
             if line.startswith("│") and line.split("│")[1].strip().isdigit()]  # rank, link rate, batch
    assert sorted((link, batch) for _, link, batch in cells) == [
        ("2.25e+10", "128"), ("2.25e+10", "64"), ("4.5e+10", "128"), ("4.5e+10", "64")]
