"""End to end: `pathsim validate` as a user runs it, on a user's CSV of two runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from pathsim.cli import main
from pathsim.studies.published.report import ROW_COLUMNS
from tests.studies.published.conftest import tiny_run, write_runs


def pathsim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pathsim.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_table_csv_and_plot(two_runs, tmp_path):
    csv_out, png = tmp_path / "out" / "rows.csv", tmp_path / "scatter.png"
    proc = pathsim("validate", "--runs", str(two_runs), "--workers", "1", "--csv", str(csv_out), "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    for text in ("TINY-1", "TINY-2", "MFU pred", "MFU pub", "fits", "6N + 12 L H Q T", "|MFU error|: mean",
                 "Spearman", "step growth TINY-1 -> TINY-2 (1 -> 2 slices)", f"rows: {csv_out}", f"plot: {png}"):
        assert text in proc.stdout, text
    rows = pd.read_csv(csv_out)
    assert list(rows.columns) == list(ROW_COLUMNS) and list(rows["id"]) == ["TINY-1", "TINY-2"]
    assert rows["predicted_step_s"].gt(0).all() and rows["fits"].all()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_json(two_runs, capsys):
    assert main(["validate", "--runs", str(two_runs), "--workers", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["program"] == "lowered" and "6N + 12 L H Q T" in out["flop_convention"]
    assert [r["id"] for r in out["rows"]] == ["TINY-1", "TINY-2"]
    row = out["rows"][0]
    assert row["mfu_error_points"] == pytest.approx(100 * (row["predicted_mfu"] - row["published_mfu"]))
    assert row["error"] is None and row["fits"] is True
    summary = out["summary"]
    assert summary["simulated"] == 2 and summary["spearman_mfu"] is None
    assert summary["scaling"][0]["slices_to"] == 2


def test_a_bad_row_is_on_its_row_and_the_exit_code_is_2(tmp_path, capsys):
    path = write_runs(tmp_path / "runs.csv", [tiny_run(), tiny_run(id="BAD", ici_fsdp=8)])
    assert main(["validate", "--runs", str(path), "--workers", "1"]) == 2
    out, err = capsys.readouterr()
    assert "TINY-1" in out and "error: row 2 (BAD), ici_fsdp: ici_fsdp x ici_tensor = 8 x 1 is not" in out
    assert err.strip().splitlines() == [
        "error: row 2 (BAD), ici_fsdp: ici_fsdp x ici_tensor = 8 x 1 is not the 16 chips of a 4x4 slice"]


@pytest.mark.parametrize("args, message", [
    (["--runs", "{missing}"], "error: --runs: "),
    (["--csv", "{dir}"], "error: --csv: "),
    (["--plot", "{dir}/x.gif"], "error: --plot: x.gif: choose a .png or .svg or .pdf file"),
    (["--workers", "0"], "error: --workers: must be at least 1, got 0"),
    (["--program", "fast"], "error: argument --program: invalid choice"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, two_runs, args, message):
    args = [a.format(missing=tmp_path / "none.csv", dir=tmp_path) for a in args]
    if "--runs" not in args:
        args += ["--runs", str(two_runs)]
    proc = pathsim("validate", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(message) and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_file_without_a_column_is_refused(tmp_path):
    path = write_runs(tmp_path / "runs.csv", [{k: v for k, v in tiny_run().items() if k != "step_s_derived"}])
    proc = pathsim("validate", "--runs", str(path))
    assert proc.returncode == 2 and proc.stderr == "error: --runs: runs.csv: missing column step_s_derived\n"
