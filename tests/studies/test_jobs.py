"""Jobs sharing a pod: isolated by the OCS, interfering without it."""

import yaml
import pytest

from tests.support import small_experiment
from pathsim.errors import ConfigError
from pathsim.studies.jobs import run_shared_pod


def write_pod(tmp_path, ocs, origins):
    job = small_experiment(**{"model.n_layers": 2, "model.d_model": 2048, "model.d_ff": 8192,
                              "model.n_heads": 16})
    job["plan"] = {"ici": {"tensor": 4, "fsdp": 16}, "placement": {"tensor": ["x"], "fsdp": ["y", "z"]}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(
        {"name": "pod", "chip": "tpu_v4", "islands": [{"name": "pod", "shape": [4, 4, 8]}]}))
    cfg = {"name": "shared", "pod": "pod.yaml", "ocs": ocs,
           "jobs": [{"name": f"j{k}", "experiment": "job.yaml", "origin": o} for k, o in enumerate(origins)]}
    path = tmp_path / "shared.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_ocs_isolates_slices(tmp_path):
    results = run_shared_pod(write_pod(tmp_path, True, [[0, 0, 0], [0, 0, 4]]))
    assert [r.name for r in results] == ["j0", "j1"]
    for r in results:
        assert r.step_time_s == pytest.approx(r.alone_step_time_s, rel=1e-9)
        assert r.mfu == pytest.approx(r.alone_mfu, rel=1e-9)


def test_without_ocs_rings_close_through_the_other_job(tmp_path):
    results = run_shared_pod(write_pod(tmp_path, False, [[0, 0, 0], [0, 0, 4]]))
    # Each job's z rings return the long way through the other's chips: both slow down.
    for r in results:
        assert r.step_time_s > r.alone_step_time_s * 1.001


@pytest.mark.parametrize("origins,message", [
    ([[0, 0, 0], [0, 0, 2]], "overlaps"),
    ([[0, 0, 0], [0, 0, 6]], "does not fit"),
])
def test_bad_slots(tmp_path, origins, message):
    with pytest.raises(ConfigError, match=message) as err:
        run_shared_pod(write_pod(tmp_path, True, origins))
    assert err.value.field == "jobs.1.origin"
