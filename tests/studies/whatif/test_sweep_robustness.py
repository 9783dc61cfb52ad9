"""Sweeps that are killed, interrupted, run twice at once, rerun after an edit, or given bad flags."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from pathsim.cli import main
from pathsim.studies.whatif.plots import read_results
from pathsim.studies.whatif.results import ResultsLock, _read_any

from tests.studies.whatif.whatif_small import EXPERIMENT, write_yaml
from tests.support import session_gone

GRID = ["--set", "plan.model=1,2,4,8", "--infer", "plan.ici.fsdp", "--workers", "1"]


def _one_line_error(capsys, argv, field, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {field}"), err
    return err


@pytest.mark.parametrize("args, field", [
    (["--shortlist", "-1"], "--shortlist: must be at least 1, got -1"),
    (["--workers", "0"], "--workers: must be at least 1, got 0"),
    (["--top", "0"], "--top: must be at least 1"),
    (["--out", "/sys/r.csv" if os.geteuid() == 0 else "/proc/r.csv"], "--out: cannot write"),
    (["--out", "{tmp}"], "--out"),
])
def test_bad_counts_and_unwritable_out_are_one_line(small, tmp_path, capsys, args, field):
    args = [a.format(tmp=tmp_path) for a in args]
    _one_line_error(capsys, ["sweep", str(small), "--set", "plan.model=4", *args], field)


def test_a_torn_last_row_is_cut_and_every_whole_row_kept(small, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["sweep", str(small), *GRID[:1], "plan.model=1,2", *GRID[2:], "--out", str(out)]) == 0
    whole = out.read_bytes()
    out.write_bytes(whole + whole.splitlines(keepends=True)[1][:40])  # killed mid-row
    capsys.readouterr()
    assert main(["sweep", str(small), *GRID, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "cut a torn last row (40 bytes" in captured.err
    assert "2 from the results file" in captured.out and "4 ok" in captured.out
    assert len(pd.read_csv(out)) == 4


def test_a_second_sweep_on_the_same_file_is_refused_at_once(small, tmp_path, capsys):
    out = tmp_path / "r.csv"
    with ResultsLock(out):  # another sweep holds it
        start = time.perf_counter()
        _one_line_error(capsys, ["sweep", str(small), *GRID, "--out", str(out)],
                        "--out: ")
        assert time.perf_counter() - start < 5 and not out.exists()
    assert main(["sweep", str(small), *GRID, "--out", str(out)]) == 0  # free again
    assert not (tmp_path / ".r.csv.lock").exists()


def test_edited_experiment_points_to_restart(small, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["sweep", str(small), *GRID, "--out", str(out)]) == 0
    write_yaml(small, {**EXPERIMENT, "training": {"global_batch_seqs": 256, "remat": "full"}})
    capsys.readouterr()
    err = _one_line_error(capsys, ["sweep", str(small), *GRID, "--out", str(out)], "--out")
    assert "--restart" in err
    assert main(["sweep", str(small), *GRID, "--out", str(out), "--restart"]) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 4 and (frame["training.global_batch_seqs"] == 256).all()


def test_every_plan_invalid_says_why_and_suggests_infer(small, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["sweep", str(small), "--set", "plan.model=2,8", "--out", str(out), "--workers", "1"]) == 2
    captured = capsys.readouterr()
    assert "Best 2 of 2 plans" in captured.out and f"results: {out}" in captured.out  # the table is kept
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: sweep: every plan is invalid (2 plans); the commonest reason (1 of them): plan.ici: axis sizes")
    assert "--infer plan.ici.fsdp" in captured.err
    _one_line_error(capsys, ["plot", str(out), "--x", "plan.ici.tensor", "--out", str(tmp_path / "m.png")],
                    "--y: no plan has a value of 'mfu' to plot (2 invalid)")
    assert not (tmp_path / "m.png").exists()
    header_only = tmp_path / "empty.csv"
    header_only.write_text(out.read_text().splitlines()[0] + "\n")
    _one_line_error(capsys, ["plot", str(header_only), "--x", "plan.ici.tensor"], "RESULTS: ")


def test_a_ranked_file_that_cannot_be_written_still_prints_the_table(small, tmp_path, capsys, monkeypatch):
    from pathsim.errors import ConfigError

    def disk_full(ranked, out):
        raise ConfigError("--out", f"cannot write {out}: No space left on device")

    monkeypatch.setattr("pathsim.studies.whatif.runner.write_ranked", disk_full)
    assert main(["sweep", str(small), *GRID, "--out", str(tmp_path / "r.csv")]) == 2
    captured = capsys.readouterr()
    assert "Best 4 of 4 plans" in captured.out
    assert captured.err.startswith("error: --out: cannot write") and captured.err.count("\n") == 1


def test_default_results_go_to_a_results_folder(small, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(small), *GRID]) == 0
    assert "results: results/small_sweep.csv" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "results" / "small_sweep.csv")) == 4


def test_mixed_columns_read_without_a_dtype_warning(tmp_path):
    path = tmp_path / "r.csv"
    rows = ["plan_key,experiment_id,x"] + [f"k{i},e,{i}" for i in range(300_000)] + ["kz,e,text"]
    path.write_text("\n".join(rows) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(_read_any(path)) == len(read_results(path)) == 300_001


# --- signals: subprocesses in their own session, so that every process of the sweep can be found ----


def _start_sweep(small: Path, out: Path) -> subprocess.Popen:
    """A sweep of 300 simulated plans on two workers (seconds of work), once its first rows are on disk:
    a screen-only sweep could be over before the signal lands."""
    layers = ",".join(str(n) for n in range(20, 320))
    proc = subprocess.Popen([sys.executable, "-m", "pathsim.cli", "sweep", str(small), "--set",
                             f"model.n_layers={layers}", "--workers", "2", "--out", str(out)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.read_text().count("\n") >= 3):
        assert time.monotonic() < deadline and proc.poll() is None, "the sweep did not start"
        time.sleep(0.05)
    return proc


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_killed_sweep_takes_its_workers_with_it(small, tmp_path):
    proc = _start_sweep(small, tmp_path / "r.csv")
    proc.kill()
    proc.wait()
    assert session_gone(proc.pid, within_s=5)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ctrl_c_is_one_line_exit_130_and_keeps_the_rows(small, tmp_path):
    out = tmp_path / "r.csv"
    proc = _start_sweep(small, out)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
    _, err = proc.communicate(timeout=30)
    assert session_gone(proc.pid, within_s=5)
    assert proc.returncode == 130
    assert err.decode().startswith("interrupted: the plans that finished are kept in") and b"Traceback" not in err
    assert len(pd.read_csv(out)) >= 2


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_pool_cleanly_and_keep_the_rows(small, tmp_path, signum):
    """Unhandled, SIGTERM ended the sweep with its pool open: "resource_tracker: 5 leaked semaphore objects"."""
    out = tmp_path / "r.csv"
    proc = _start_sweep(small, out)
    os.kill(proc.pid, signum)  # `kill PID`, or the terminal closing: the sweep's process only
    _, err = proc.communicate(timeout=30)  # until every writer of stderr (the tracker too) has gone
    assert session_gone(proc.pid, within_s=5)
    assert proc.returncode == 128 + signum
    assert err.decode().startswith(f"terminated ({signal.Signals(signum).name}): the plans that finished are kept")
    assert b"leaked" not in err and b"Traceback" not in err, err.decode()
    assert len(pd.read_csv(out)) >= 2


@pytest.mark.parametrize("args, field", [
    (["--out", "/sys/m.png" if os.geteuid() == 0 else "/proc/m.png"], "--out: cannot write"),
    (["--out", "m.txt"], "--out: m.txt: choose a .png or .svg or .pdf file"),
    (["--top", "-2", "--kind", "memory"], "--top: must be at least 1"),
])
def test_plot_refuses_bad_outputs_before_drawing(tmp_path, capsys, args, field):
    results = tmp_path / "r.csv"
    results.write_text("plan_key,status\nk,ok\n")
    _one_line_error(capsys, ["plot", str(results), "--x", "plan", *args], field)
