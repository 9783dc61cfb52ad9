"""The commands as a user runs them: a tiny calibrate on 4 CPU devices, then the closed loop on it."""

import os
import re
import subprocess
import sys

import pytest

from pathsim.calibration.kernel_timings import load_kernel_timings
from pathsim.costs.calibrated.profile import load_cost_profile

pytest.importorskip("jax")
FAST = ["--preset", "tiny", "--warmup", "0", "--repeats", "1", "--no-progress", "--devices", "4"]


def pathsim(*args):
    return subprocess.run([sys.executable, "-m", "pathsim.calibration.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def tiny_profile(tmp_path_factory):
    path = tmp_path_factory.mktemp("cal") / "tiny.csv"
    done = pathsim("calibrate", "--out", str(path), "--dtypes", "float32", *FAST)
    assert done.returncode == 0, done.stderr
    return path


@pytest.mark.slow
def test_calibrate_writes_a_profile_of_this_machine(tiny_profile):
    profile = load_cost_profile(tiny_profile)
    import jax

    assert profile.meta.backend == "cpu" and profile.meta.jax_version == jax.__version__
    assert profile.meta.device_count == 4
    kinds = {p.kind for p in profile.matmuls}
    assert kinds == {"matmul", "attention_matmul"}
    assert {p.dtype for p in profile.matmuls} == {"float32"}
    assert {q.kind for q in profile.memory_ops} == {"norm", "softmax", "elementwise", "optimizer", "gather"}
    assert {(c.collective, c.devices) for c in profile.collectives} == {
        (c, g) for c in ("all_gather", "reduce_scatter", "all_reduce") for g in (2, 4)}
    assert all(row.time_s > 0 for row in profile.matmuls + profile.memory_ops + profile.collectives)
    assert profile.meta.concurrent_slowdown > 0


@pytest.mark.slow
def test_validate_reports_every_case(tiny_profile, tmp_path):
    report = tmp_path / "report.txt"
    done = pathsim("validate-calibration", "--profile", str(tiny_profile), "--report", str(report), *FAST)
    assert done.returncode == 0, done.stderr
    text = report.read_text()
    for case in ("t1/1dev", "t2/1dev", "t2/data4", "t2/data2xtensor2"):
        assert case in text
    assert "one device, lowered program: 2 cases, mean |error|" in text
    assert "sharded plans, lowered program: 2 cases" in text
    assert "ranking preserved:" in text and "XLA dots" in text
    assert "imported program:" not in text  # no kernel timings given
    time_shared = len(os.sched_getaffinity(0)) < 4
    assert (f"warning: 4 CPU devices on {len(os.sched_getaffinity(0))} cores time-share" in text) == time_shared


@pytest.mark.slow
def test_the_whole_loop_on_the_imported_program(tiny_profile, tmp_path):
    """profile-kernels times every kernel of each compiled step; validate predicts from XLA's program."""
    kernels_path = tmp_path / "kernels.json"
    done = pathsim("profile-kernels", "--out", str(kernels_path), *FAST)
    assert done.returncode == 0, done.stderr
    kernels = load_kernel_timings(kernels_path)
    assert [p.case for p in kernels.programs] == ["t1/1dev", "t2/1dev", "t2/data4", "t2/data2xtensor2"]
    assert kernels.meta.device_count == 4 and kernels.meta.repeats == 1
    for program in kernels.programs:
        # one traced step (--repeats 1) on each device; its kernels ran within that step's wall time
        assert program.executions == program.devices
        assert 0 < program.span_s <= program.traced_step_s and program.kernel_sum_s > 0
        assert all(k.time_s > 0 for k in program.kernels)

    report = tmp_path / "report.txt"
    done = pathsim("validate-calibration", "--profile", str(tiny_profile), "--kernels", str(kernels_path),
                   "--report", str(report), *FAST)
    assert done.returncode == 0, done.stderr
    text = report.read_text()
    assert "one device, imported program: 2 cases" in text and "sharded plans, imported program: 2 cases" in text
    rows: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("t"):
            rows.setdefault(line.split()[0], line)  # the first table: the predictions
    for case in ("t1/1dev", "t2/data4"):
        assert len(rows[case].split()) == 8  # measured, lowered and imported predictions with their errors
    # every op of the imported programs found its kernel time by name (unmeasured ops: 0/N)
    unmeasured = [tok for line in text.splitlines() for tok in line.split() if re.fullmatch(r"\d+/\d+", tok)]
    assert len(unmeasured) == 4 and all(tok.startswith("0/") for tok in unmeasured)


@pytest.mark.slow
def test_validate_traces_kernels_between_its_timed_steps(tiny_profile, tmp_path):
    kernels_path = tmp_path / "traced.json"
    one_device = [a if a != "4" else "1" for a in FAST]
    done = pathsim("validate-calibration", "--profile", str(tiny_profile), "--kernels-out", str(kernels_path),
                   *one_device)
    assert done.returncode == 0, done.stderr
    kernels = load_kernel_timings(kernels_path)
    assert [p.case for p in kernels.programs] == ["t1/1dev", "t2/1dev"] and kernels.meta.device_count == 1
    assert "one device, imported program: 2 cases" in done.stdout


@pytest.mark.parametrize("args, field", [
    (["calibrate", "--out", "x.txt"], "--out"),
    (["calibrate", "--out", "x.json", "--repeats", "0"], "--repeats"),
    (["calibrate", "--out", "x.json", "--dtypes", "int8"], "--dtypes"),
    (["validate-calibration", "--profile", "absent.json"], "--profile"),
    (["profile-kernels", "--out", "x.csv"], "--out"),
    (["validate-calibration", "--profile", "p.json", "--kernels", "k.json", "--kernels-out", "o.json"],
     "--kernels-out"),
])
def test_bad_input_is_one_line_and_exit_2(args, field, tmp_path):
    done = subprocess.run([sys.executable, "-m", "pathsim.calibration.cli", *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {field}:") and done.stderr.count("\n") == 1
