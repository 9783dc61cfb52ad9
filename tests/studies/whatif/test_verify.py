"""`pathsim sweep --verify xla`: the best plans by the lowering, compiled and ranked again."""

from __future__ import annotations

import pandas as pd
import pytest

from pathsim.catalog.hardware import GIB
from pathsim.cli import main
from pathsim.cli.sweep import verified_table
from pathsim.studies.whatif import verify as V
from tests.studies.whatif.whatif_small import write_yaml
from tests.workload.xla.conftest import NEEDS_TPU_COMPILER, tiny_experiment


def _lowered_tiny(**overrides) -> dict:
    """The tiny XLA test model as a sweep's base: lowered, the mesh placed by pathsim."""
    exp = tiny_experiment(**overrides)
    exp["plan"].pop("placement")
    return {k: v for k, v in exp.items() if k != "program"}


def test_compiles_at_once_follow_cores_and_free_memory(monkeypatch):
    monkeypatch.setattr(V.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(V, "available_bytes", lambda: 12 * GIB)  # two PaLM-sized compiles (5.46 GiB each)
    assert V.compile_workers(8) == 2
    assert V.compile_workers(1) == 1
    monkeypatch.setattr(V, "available_bytes", lambda: 1 * GIB)  # not even one: still one, never none
    assert V.compile_workers(8) == 1
    monkeypatch.setattr(V, "available_bytes", lambda: 200 * GIB)
    assert V.compile_workers(8) == 8 and V.compile_workers(40) == 16
    assert V.compile_workers(8, requested=3) == 3 and V.compile_workers(2, requested=3) == 2


def test_the_verified_table_ranks_the_compiled_mfus_and_skips_failed_compiles():
    chosen = pd.DataFrame({"plan_key": ["a", "b", "c"], "plan": ["A", "B", "C"], "rank": [1, 2, 3],
                           "status": ["ok"] * 3, "mfu": [0.6, 0.5, 0.4]})
    compiled = {"a": {"status": "ok", "mfu": 0.30}, "b": {"status": "ok", "mfu": 0.45},
                "c": {"status": "error", "reason": "XlaRuntimeError: RESOURCE_EXHAUSTED", "mfu": None}}
    table = V._side_by_side(chosen, compiled)
    assert list(table["lowered.rank"]) == [1, 2, 3]
    assert list(table["compiled.rank"].astype(object)) == [2, 1, pd.NA]
    assert table.loc[2, "compiled.reason"].startswith("XlaRuntimeError")
    assert V.Verified(table, 1, 0.0).spearman_mfu is None  # two plans compiled: no rank correlation
    assert V.verified_path("results/x_sweep.csv").name == "x_sweep_verified.csv"
    # A compiler's message goes under the table, whole, numbered from the status column.
    printed = verified_table(table)
    assert "error (1)" in printed
    assert "(1)  rank 3: XlaRuntimeError: RESOURCE_EXHAUSTED" in printed


@pytest.mark.parametrize("args, field", [(["--verify-top", "0"], "--verify-top"),
                                         (["--verify-workers", "0"], "--verify-workers")])
def test_bad_verify_input_is_one_line_and_exit_2(tmp_path, capsys, args, field):
    exp = write_yaml(tmp_path / "tiny.yaml", _lowered_tiny())
    assert main(["sweep", str(exp), "--set", "plan.microbatches=1", "--verify", "xla", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {field}"), err


@NEEDS_TPU_COMPILER
@pytest.mark.slow
def test_sweep_verify_compiles_the_best_plans_and_prints_both_ranks(tmp_path, capsys, monkeypatch):
    """Two plans of the tiny model on 4 TPU v4 chips, lowered then compiled (seconds each)."""
    monkeypatch.setenv("PATHSIM_CACHE", str(tmp_path / "xla-cache"))
    monkeypatch.setenv("TPU_SKIP_MDS_QUERY", "1")
    monkeypatch.setenv("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    exp = write_yaml(tmp_path / "tiny.yaml", _lowered_tiny())
    out = tmp_path / "r.csv"
    argv = ["sweep", str(exp), "--set", "plan.model=1,2,4", "--infer", "plan.ici.fsdp", "--out", str(out),
            "--workers", "1", "--verify", "xla", "--verify-top", "2", "--verify-workers", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "The best plans by the lowered program, compiled" in printed and "verified 2 plans (xla)" in printed
    table = pd.read_csv(tmp_path / "r_verified.csv")
    ranked = pd.read_csv(out)
    assert list(table["plan_key"]) == list(ranked[ranked["status"] == "ok"]["plan_key"].head(2))
    assert (table["compiled.status"] == "ok").all() and sorted(table["compiled.rank"]) == [1, 2]
    assert (table["compiled.memory.compiled_bytes"] > 0).all()
    # The compiled MFU is the compiled program's: the same plan run with program: xla gives it.
    first = ranked.iloc[0]
    run = tmp_path / "first.yaml"
    write_yaml(run, {**_lowered_tiny(**{"plan.ici.tensor": int(first["plan.ici.tensor"]),
                                         "plan.ici.fsdp": int(first["plan.ici.fsdp"])}), "program": "xla"})
    capsys.readouterr()
    assert main(["run", str(run), "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["mfu"] == pytest.approx(table.loc[0, "compiled.mfu"], rel=1e-9)
