import json

import pytest

from pathsim.calibration.profile_files import save_cost_profile
from pathsim.costs.calibrated.profile import from_json, load_cost_profile, to_json
from pathsim.errors import ConfigError
from tests.support import REPO


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_round_trip_keeps_every_row(tmp_path, profile, suffix):
    path = tmp_path / f"p{suffix}"
    save_cost_profile(profile, path)
    assert load_cost_profile(path) == profile


def test_missing_file_names_the_field(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_cost_profile(tmp_path / "absent.json")
    assert err.value.field == "calibration.profile"
    assert "pathsim calibrate" in err.value.message


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d.pop("format"), "format"),
    (lambda d: d["meta"].pop("device_kind"), "device_kind"),
    (lambda d: d["matmuls"][0].update(time_s=0.0), "time_s must be positive"),
    (lambda d: d["matmuls"][0].update(m="big"), "m='big'"),
    (lambda d: d["matmuls"][0].update(dtype="int4"), "unknown dtype"),
    (lambda d: d["memory_ops"][0].update(kind="fft"), "unknown memory op kind"),
])
def test_bad_profiles_are_refused_in_one_line(profile, mutate, words):
    doc = json.loads(to_json(profile))
    mutate(doc)
    with pytest.raises(ConfigError) as err:
        from_json(json.dumps(doc))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_not_json(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_cost_profile(path)


def test_csv_row_of_unknown_table(tmp_path, profile):
    path = tmp_path / "p.csv"
    save_cost_profile(profile, path)
    path.write_text(path.read_text() + "weights,,,,,,,,,,1.0\n")
    with pytest.raises(ConfigError, match="unknown table 'weights'"):
        load_cost_profile(path)


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_a_profile_written_before_the_rename_reads_dispatch_s_as_the_call_overhead(tmp_path, profile, suffix):
    path = tmp_path / f"p{suffix}"
    save_cost_profile(profile, path)
    text = path.read_text()
    assert "call_overhead_s" in text and "dispatch_s" not in text  # written under the new name
    path.write_text(text.replace("call_overhead_s", "dispatch_s"))
    assert load_cost_profile(path) == profile


def test_the_committed_profiles_still_load():
    for name in ("cpu-2core.json", "cpu-2core-2dev.json", "gpu-nvidia-h200.json", "tpu_v4-kernel-model.json"):
        assert load_cost_profile(REPO / "calibration" / name).meta.call_overhead_s > 0
