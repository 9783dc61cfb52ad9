"""Sweeps end to end on a small experiment: statuses, ranking, resume, failures, plan search."""

from __future__ import annotations

import pandas as pd
import pytest

from pathsim.catalog.hardware import GIB
from pathsim.errors import ConfigError
from pathsim.studies.whatif import evaluate as evaluate_module
from pathsim.studies.whatif import load_study, run_study
from pathsim.studies.whatif.backends import SerialBackend

from tests.studies.whatif.whatif_small import EXPERIMENT, write_yaml


def _grid(small, **extra):
    grid = {"plan.model": [1, 2, 4, 8], "training.global_batch_seqs": [128, 96]}
    grid.update(extra)
    return load_study(small, grid=grid, infer=["plan.ici.fsdp"])


def test_sweep_keeps_every_plan_with_its_status_and_ranks_by_mfu(small, tmp_path):
    frame, stats = run_study(_grid(small), tmp_path / "r.csv", backend=SerialBackend())
    assert len(frame) == 8 and stats.evaluated == 8
    # 96 sequences do not split over data x fsdp = 2 x 64 / tensor when that is 128 or 64 (tensor 1, 2).
    invalid = frame[frame["status"] == "invalid"]
    assert set(zip(invalid["plan.ici.tensor"], invalid["training.global_batch_seqs"])) == {(1, 96), (2, 96)}
    assert invalid["reason"].str.startswith("training.global_batch_seqs:").all()
    ok = frame[frame["status"] == "ok"]
    assert ok["simulated"].all() and (ok["memory.total_bytes"] <= 32 * GIB).all()
    assert list(ok["mfu"]) == sorted(ok["mfu"], reverse=True)
    assert list(frame["rank"]) == list(range(1, 9)) and frame["status"].iloc[: len(ok)].eq("ok").all()
    on_disk = pd.read_csv(tmp_path / "r.csv")
    assert list(on_disk["plan_key"]) == list(frame["plan_key"])


def test_plans_that_do_not_fit_are_kept_with_the_reason(small, tmp_path):
    study = load_study(small, grid={"model.seq_len": [512, 32768], "training.remat": ["none"]})
    frame, _ = run_study(study, tmp_path / "r.csv", backend=SerialBackend())
    big = frame[frame["model.seq_len"] == 32768].iloc[0]
    assert big["status"] == "out_of_memory" and not big["simulated"]
    assert big["memory.total_bytes"] > big["memory.hbm_bytes"]
    assert big["reason"] == f"needs {big['memory.total_bytes'] / GIB:.1f} GiB per chip, HBM holds 32.0 GiB"
    assert big["screen.mfu"] > 0  # the screen still says what it would have given
    forced, _ = run_study(load_study(small, grid={"model.seq_len": [32768], "training.remat": ["none"]},
                                     simulate_infeasible=True), tmp_path / "f.csv", backend=SerialBackend())
    assert forced["simulated"].iloc[0] and forced["status"].iloc[0] == "out_of_memory"


def test_rerun_computes_only_what_is_missing(small, tmp_path):
    out = tmp_path / "r.parquet"
    first, stats = run_study(_grid(small, **{"plan.model": [1, 2]}), out, backend=SerialBackend())
    assert stats.evaluated == 4 and out.exists() and not (tmp_path / "r.parquet.journal.csv").exists()
    second, stats = run_study(_grid(small), out, backend=SerialBackend())
    assert (stats.reused, stats.evaluated) == (4, 4)
    again = second.set_index("plan_key").loc[first["plan_key"]]
    pd.testing.assert_series_equal(again["step_time_s"], first.set_index("plan_key")["step_time_s"])


def test_interrupted_sweep_keeps_finished_rows_and_resumes(small, tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    real, calls = evaluate_module.evaluate, []

    def dies_on_third(task):
        calls.append(task.key)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr("pathsim.studies.whatif.runner.evaluate", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_study(_grid(small), out, backend=SerialBackend())
    assert len(pd.read_csv(out)) == 2  # written as they finished
    monkeypatch.setattr("pathsim.studies.whatif.runner.evaluate", real)
    frame, stats = run_study(_grid(small), out, backend=SerialBackend())
    assert (stats.reused, stats.evaluated, len(frame)) == (2, 6, 8)


def test_a_plan_that_breaks_the_simulator_is_recorded_and_the_sweep_goes_on(small, tmp_path, monkeypatch):
    real = evaluate_module.simulate_prepared

    def breaks_on_tensor_8(run, *args, **kwargs):
        if run.experiment.plan.ici.get("tensor") == 8:
            raise ZeroDivisionError("boom")
        return real(run, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "simulate_prepared", breaks_on_tensor_8)
    frame, _ = run_study(_grid(small), tmp_path / "r.csv", backend=SerialBackend())
    broken = frame[frame["plan.ici.tensor"] == 8]
    assert (broken["status"] == "error").all()
    assert broken["reason"].str.startswith("ZeroDivisionError: boom").all()
    assert (frame["status"] == "ok").sum() == 4


def test_results_of_another_experiment_are_refused_and_kept(small, tmp_path):
    out = tmp_path / "r.csv"
    run_study(_grid(small, **{"plan.model": [4]}), out, backend=SerialBackend())
    before = out.read_bytes()
    other = write_yaml(tmp_path / "other.yaml", {**EXPERIMENT, "name": "other"})
    with pytest.raises(ConfigError, match="holds results of a different experiment .'small'"):
        run_study(load_study(other, grid={"plan.microbatches": [1, 2]}), out, backend=SerialBackend())
    assert out.read_bytes() == before


def test_plan_search_screens_everything_and_simulates_the_best_that_fit(small, tmp_path):
    study = load_study(small, all_plans_=True, shortlist=5)
    frame, stats = run_study(study, tmp_path / "s.csv", workers=2)
    assert len(frame) == len(study.points) == stats.screened and stats.simulated == 5
    simulated = frame[frame["simulated"]]
    assert len(simulated) == 5 and (simulated["status"] == "ok").all()
    # The shortlist is the screen's top five among the plans that fit.
    fits = frame[frame["status"] == "ok"]
    assert set(simulated["plan_key"]) == set(fits.nlargest(5, "screen.mfu")["plan_key"])
    assert frame["rank"].iloc[0] == 1 and frame["simulated"].iloc[:5].all()
    assert set(frame["status"]) >= {"ok", "invalid"}
