"""End to end: the `pathsim` command as a user runs it."""

import json
import subprocess
import sys

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import small_experiment
from pathsim.cli import main


def pathsim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pathsim.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_run_palm_json(repo):
    proc = pathsim("run", str(repo / "experiments" / "palm540b.yaml"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("step_time_s", "tokens_per_s", "mfu", "hfu", "breakdown", "memory", "feasible"):
        assert key in out
    assert 0 < out["mfu"] < out["hfu"] < 1
    assert out["memory"]["hbm_bytes"] == 32 * 2**30
    assert sum(out["breakdown"].values()) == __import__("pytest").approx(out["step_time_s"], rel=1e-6)
    assert out["tokens_per_s"] * out["step_time_s"] == __import__("pytest").approx(2048 * 2048)


def test_run_report_and_trace(repo, tmp_path):
    trace = tmp_path / "step.json"
    proc = pathsim("run", str(repo / "experiments" / "palm540b.yaml"), "--trace", str(trace))
    assert proc.returncode == 0, proc.stderr
    for text in ("step time", "MFU", "HFU", "exposed ici", "exposed dcn", "optimizer", "fits:"):
        assert text in proc.stdout
    events = json.loads(trace.read_text())["traceEvents"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert {"group data0", "group data1", "runtime", "links"} <= names
    lanes = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"compute", "ici.tensor", "ici.fsdp", "dcn.data"} <= lanes
    spans = [e for e in events if e["ph"] == "X"]
    assert spans and all(e["dur"] >= 0 for e in spans)


def test_plan_that_does_not_fit(tmp_path, repo):
    d = small_experiment(**{"model.n_layers": 64, "model.d_model": 8192, "model.d_ff": 32768,
                            "model.n_heads": 64, "training.global_batch_seqs": 64})
    d["plan"] = {"ici": {"tensor": 4, "data": 16}}
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(d))
    proc = pathsim("run", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "DOES NOT FIT" in proc.stdout
    out = json.loads(pathsim("run", str(path), "--json").stdout)
    assert out["feasible"] is False


def test_bad_input_one_line_exit_2(tmp_path):
    d = small_experiment()
    d["model"]["n_layer"] = 3
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(d))
    proc = pathsim("run", str(path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: model.n_layer: unknown key (a typo?)"
    assert "Traceback" not in proc.stderr
    missing = pathsim("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "experiment:" in missing.stderr


_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=True),
                    st.text(max_size=5), st.lists(st.integers(-2, 20), max_size=4),
                    st.dictionaries(st.sampled_from(["data", "fsdp", "tensor", "x"]), st.integers(-2, 64), max_size=3))
_paths = st.sampled_from([
    "name", "topology", "model", "model.n_layers", "model.d_model", "model.n_heads", "model.n_kv_heads",
    "model.head_dim", "model.d_ff", "model.vocab_size", "model.seq_len", "model.block", "model.mlp",
    "training", "training.global_batch_seqs", "training.remat", "training.optimizer", "plan", "plan.ici",
    "plan.dcn", "plan.placement", "plan.microbatches", "plan.tensor_style", "runtime.dispatch",
    "runtime.weight_prefetch_layers", "plan.ici.tensor", "plan.ici.fsdp", "plan.ici.pipeline", "extra_key",
    "model.typo",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(_paths, _values), min_size=1, max_size=3))
def test_malformed_experiments_never_traceback(tmp_path, capsys, edits):
    d = small_experiment(**{"model.n_layers": 2, "model.seq_len": 128})
    for dotted, value in edits:
        node = d
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[leaf] = value
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(d))
    code = main(["run", str(path), "--json"])
    captured = capsys.readouterr()
    assert code in (0, 2)
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")


def test_run_points_a_sweep_file_to_sweep(repo):
    proc = pathsim("run", str(repo / "experiments" / "palm540b_sweep.yaml"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: sweep:") and "pathsim sweep" in proc.stderr
