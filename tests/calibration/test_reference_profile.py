"""`pathsim calibrate --from-reference CHIP` writes the kernel model as a profile; a profile of another device
kind than the experiment's chip is refused with one line."""

import json

import pytest
import yaml

from pathsim.api import run_experiment
from pathsim.costs.calibrated.profile import load_cost_profile
from pathsim.cli import main
from tests.support import REPO, small_experiment


@pytest.fixture(scope="module")
def v4_profile(tmp_path_factory):
    path = tmp_path_factory.mktemp("profile") / "tpu_v4.json"
    assert main(["calibrate", "--from-reference", "tpu_v4", "--out", str(path)]) == 0
    return path


def _experiment(tmp_path, **overrides):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(small_experiment(**overrides)))
    return path


def test_the_reference_profile_has_the_measured_profile_format(v4_profile):
    profile = load_cost_profile(v4_profile)
    assert (profile.meta.backend, profile.meta.device_kind, profile.meta.device_count) == ("tpu", "TPU v4", 1)
    assert {p.kind for p in profile.matmuls} == {"matmul", "attention_matmul"}
    assert profile.collectives == ()
    assert json.loads(v4_profile.read_text())["format"] == "pathsim-calibration/1"


def test_an_experiment_on_the_reference_profile_agrees_with_the_kernel_model(v4_profile, tmp_path):
    direct = run_experiment(_experiment(tmp_path), record_links=False)
    profiled = run_experiment(_experiment(tmp_path, **{"calibration.profile": str(v4_profile)}), record_links=False)
    assert profiled.cost_model.startswith("calibrated profile")
    # The profile interpolates the model's own table, so the two agree up to interpolation.
    assert profiled.metrics.step_time_s == pytest.approx(direct.metrics.step_time_s, rel=0.03)


def test_a_profile_of_another_device_kind_is_refused(tmp_path, capsys):
    exp = _experiment(tmp_path, **{"calibration.profile": str(REPO / "calibration" / "cpu-2core.json")})
    assert main(["run", str(exp)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: calibration.profile:") and "'cpu'" in err[0]


def test_an_unknown_chip_is_refused(tmp_path, capsys):
    assert main(["calibrate", "--from-reference", "tpu_v9", "--out", str(tmp_path / "x.json")]) == 2
    assert "unknown chip 'tpu_v9'" in capsys.readouterr().err


def test_an_unwritable_out_is_refused_before_anything_runs(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a path under a file cannot be written, even as root
    assert main(["calibrate", "--from-reference", "tpu_v4", "--out", str(blocker / "p.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --out:")
