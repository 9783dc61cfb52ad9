"""End to end: the `pathsim` command as a user runs it."""

import json
import subprocess
import sys

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import small_experiment
from pathsim.cli import EXIT_DOES_NOT_FIT, main


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


def test_what_the_run_assumed_is_in_the_report_and_the_json(tmp_path, capsys):
    """The chip's figures after a what-if override, the placement of each axis, and why work repeats."""
    d = small_experiment(**{"plan.ici": {"tensor": 16, "fsdp": 4},
                            "training.global_batch_seqs": 4})
    d["model"] = {"base": "llama3_70b", "n_layers": 2, "seq_len": 512}
    topo = yaml.safe_load(open(d["topology"]))
    topo["overrides"] = {"ici_link_bytes_per_s": 2.25e10}
    (tmp_path / "topo.yaml").write_text(yaml.safe_dump(topo))
    d["topology"] = "topo.yaml"
    path = tmp_path / "llama.yaml"
    path.write_text(yaml.safe_dump(d))
    main(["run", str(path)])
    report = capsys.readouterr().out
    assert "chip tpu_v4: 275 TFLOP/s bf16, 32 GiB HBM at 1200 GB/s, ICI 22.5 GB/s per link one way" in report
    assert "placement: ici.tensor on x:4 x y:4; ici.fsdp on z:4" in report
    assert "8 K/V head(s) do not split over tensor 16" in report
    main(["run", str(path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["chip"]["ici_link_bytes_per_s"] == 2.25e10 and out["chip"]["peak_bf16_flops_per_s"] == 275e12
    assert out["placement"]["ici.fsdp"] == [{"dim": "z", "size": 4, "stride": 1, "ring": True}]
    assert [(r["what"], r["factor"]) for r in out["replications"]] == [("K/V projections", 16.0)]


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


def test_plan_that_does_not_fit_says_so_first_and_exits_4(tmp_path, capsys):
    d = small_experiment(**{"model.n_layers": 64, "model.d_model": 8192, "model.d_ff": 32768,
                            "model.n_heads": 64, "training.global_batch_seqs": 64})
    d["plan"] = {"ici": {"tensor": 4, "data": 16}}
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(d))
    assert main(["run", str(path)]) == EXIT_DOES_NOT_FIT == 4
    report = capsys.readouterr().out
    assert report.startswith("DOES NOT FIT: needs ") and "GiB per chip of 32.00 GiB HBM" in report.splitlines()[0]
    assert main(["run", str(path), "--json"]) == 4
    out = json.loads(capsys.readouterr().out)
    assert list(out)[:2] == ["feasible", "verdict"] and out["feasible"] is False
    assert out["verdict"].startswith("does not fit: needs ")


def test_bad_input_one_line_exit_2(tmp_path):
    d = small_experiment()
    d["model"]["n_layer"] = 3
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(d))
    proc = pathsim("run", str(path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: model.n_layer: unknown key")
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
    assert code in (0, 2, EXIT_DOES_NOT_FIT)
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")


def test_run_points_a_sweep_file_to_sweep(repo):
    proc = pathsim("run", str(repo / "experiments" / "palm540b_sweep.yaml"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: sweep:") and "pathsim sweep" in proc.stderr


# --- outputs, flags, exit codes ---------------------------------------------------------------------

import os  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from pathsim import cli  # noqa: E402
from pathsim.errors import ConfigError  # noqa: E402
from pathsim.results.outputs import write_atomic  # noqa: E402


@pytest.fixture
def small(tmp_path):
    """A small experiment without a tensor axis (milliseconds to simulate)."""
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_experiment(**{"model.n_layers": 2, "plan.ici": {"fsdp": 64}})))
    return path


def _one_error_line(capsys, field):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {field}"), err
    return err


def _unwritable_folder(tmp_path) -> Path:
    if os.geteuid() == 0:  # root writes through permission bits; /sys refuses even root
        return Path("/sys")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("pathsim ")


def test_usage_mistakes_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "x.yaml", "--mode", "fast"])
    assert exit_.value.code == 2
    _one_error_line(capsys, "argument --mode: invalid choice")


def test_every_option_has_help():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, f"pathsim {name} {'/'.join(action.option_strings) or action.dest} has no help"


@pytest.mark.parametrize("trace, message", [
    ("", "empty file name"),
    ("{tmp}", "is a folder"),
    ("{tmp}/new/", "names a folder"),
    ("{ro}/step.json", "cannot write"),
    ("{tmp}/small.yaml/step.json", "is not a folder"),
])
def test_unwritable_trace_is_refused_before_simulating(small, tmp_path, capsys, monkeypatch, trace, message):
    monkeypatch.setattr("pathsim.api.run_experiment", lambda *a, **k: pytest.fail("simulated anyway"))
    trace = trace.format(tmp=tmp_path, ro=_unwritable_folder(tmp_path))
    assert main(["run", str(small), "--trace", trace]) == 2
    assert message in _one_error_line(capsys, "--trace")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_failed_trace_write_keeps_the_report(small, capsys):
    assert main(["run", str(small), "--trace", "/dev/full"]) == 2
    captured = capsys.readouterr()
    assert "step time" in captured.out and "fits:" in captured.out  # printed before the write
    assert captured.err == "error: --trace: cannot write /dev/full: No space left on device\n"


def test_trace_into_a_new_folder_and_no_temporary_files(small, tmp_path, capsys):
    trace = tmp_path / "results" / "deep" / "step.json"
    assert main(["run", str(small), "--trace", str(trace)]) == 0
    assert json.loads(trace.read_text())["traceEvents"]
    assert os.listdir(trace.parent) == ["step.json"]
    assert f"trace: {trace}" in capsys.readouterr().out


def test_failed_atomic_write_leaves_the_old_file_and_no_litter(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")

    def disk_full(tmp: Path) -> None:
        tmp.write_text("half a ta")
        raise OSError(28, "No space left on device")

    with pytest.raises(ConfigError, match="--out: cannot write .*out.csv: No space left on device"):
        write_atomic(path, disk_full, "--out")
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["out.csv"]
    write_atomic(path, lambda tmp: tmp.write_text("new\n"), "--out")
    assert path.read_text() == "new\n" and oct(path.stat().st_mode & 0o777) != "0o600"


def test_stdout_closed_early_is_quiet(small):
    """`pathsim run X --json | head -1`: the reader leaves; no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "pathsim.cli", "run", str(small), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the first write
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == cli.EXIT_BROKEN_PIPE and err == b""


@pytest.mark.parametrize("file, flag, field", [
    ("{small}", ["--out", "x.csv"], "--out: does not apply to a training experiment"),
    ("{repo}/experiments/pathways_deadlock.yaml", ["--trace", "t.json"], "--trace: does not apply to a Pathways"),
    ("{repo}/experiments/pathways_deadlock.yaml", ["--mode", "full"], "--mode: does not apply"),
    ("{repo}/experiments/pathways_deadlock.yaml", ["--program", "xla"], "--program: does not apply"),
    ("{repo}/experiments/shared_pod_ocs_true.yaml", ["--trace", "t.json"], "--trace: does not apply to a shared-pod"),
    ("{repo}/experiments/shared_pod_ocs_true.yaml", ["--out", "t.csv"], "--out: does not apply to a shared-pod"),
])
def test_flags_that_do_not_apply_are_refused(small, repo, capsys, file, flag, field):
    assert main(["run", file.format(small=small, repo=repo), *flag]) == 2
    _one_error_line(capsys, field)


def test_pathways_experiment_json_and_results_file(repo, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = str(repo / "experiments" / "pathways_deadlock.yaml")
    assert main(["run", exp, "--json"]) == 3  # the run without a gang scheduler deadlocks: its own status
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "pathways_deadlock" and {r["scheduler"] for r in out["rows"]} == {"none", "gang"}
    assert not Path("results").exists()  # --json alone writes no file
    assert main(["run", exp]) == 3
    assert "results: results/pathways_deadlock.csv" in capsys.readouterr().out
    assert Path("results/pathways_deadlock.csv").read_text().startswith("scheduler,")
    assert main(["run", exp, "--out", str(_unwritable_folder(tmp_path) / "d.csv")]) == 2
    _one_error_line(capsys, "--out: cannot write")


def test_program_option_overrides_the_experiment(small, capsys, monkeypatch):
    seen = []
    real = __import__("pathsim.api", fromlist=["simulate_config"]).simulate_config

    def spy(exp, *args, **kwargs):
        seen.append(exp.program)
        return real(exp.model_copy(update={"program": "lowered"}), *args, **kwargs)

    monkeypatch.setattr("pathsim.api.simulate_config", spy)
    assert main(["run", str(small), "--program", "xla", "--json"]) == 0
    assert main(["run", str(small), "--json"]) == 0
    assert seen == ["xla", "lowered"]


def test_report_cosmetics(small, capsys):
    from pathsim.results.report import _seconds

    assert _seconds(5.507e-14) == "0" and _seconds(-1e-12) == "0" and _seconds(0.25) == "0.25"
    assert main(["run", str(small)]) == 0
    report = capsys.readouterr().out
    assert "plan ici={'fsdp': 64} dcn={};" in report and "(2d)" not in report  # no tensor axis, no style
    assert "e-1" not in report.split("Where the step goes")[1].split("Memory")[0]


def test_spinner_shows_only_after_its_delay_and_only_when_enabled(capsys):
    import io
    import time

    from rich.console import Console

    buf = io.StringIO()
    with cli.spinner("simulating x", True, delay_s=0.0, console=Console(file=buf, force_terminal=True)):
        time.sleep(0.5)
    assert "simulating x" in buf.getvalue() and "0:00:00" in buf.getvalue()
    quiet = io.StringIO()
    with cli.spinner("simulating y", True, delay_s=5.0, console=Console(file=quiet, force_terminal=True)):
        pass  # quicker than the delay: nothing shown
    with cli.spinner("simulating z", False):
        pass
    assert quiet.getvalue() == "" and capsys.readouterr().err == ""


def test_a_compile_inside_the_spinner_tells_it_rather_than_drawing_its_own_line(monkeypatch):
    """One owner of the terminal line: the compile's text shows in the spinner's line, then the label again."""
    import io
    import time

    from rich.console import Console

    from pathsim.workload.xla import compile as xla_compile

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # where the compile would draw its own line
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200)
    with cli.spinner("simulating x", True, delay_s=0.0, console=console) as status, cli.owns_compile_line(status):
        with xla_compile._Progress("v4:2x2x1 x 1 slice") as progress:
            assert progress.thread is None  # no second line drawn
            time.sleep(0.6)
        time.sleep(0.6)
    shown = buf.getvalue()
    assert "simulating x: compiling for v4:2x2x1 x 1 slice (XLA)" in shown
    assert shown.rindex("simulating x") > shown.rindex("(XLA)")  # the label is back after the compile


def test_progress_only_for_a_terminal_and_never_with_json(monkeypatch, tmp_path):
    import argparse

    read, write = os.pipe()
    with os.fdopen(read), os.fdopen(write, "w") as w, open(tmp_path / "f", "w") as f:
        assert cli._piped(w) and not cli._piped(f)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(cli, "_piped", lambda stream: False)
    assert cli.show_progress(argparse.Namespace(json=False))
    assert not cli.show_progress(argparse.Namespace(json=True))
    monkeypatch.setattr(cli, "_piped", lambda stream: True)  # `pathsim run X | less`
    assert not cli.show_progress(argparse.Namespace(json=False))


def test_default_output_names_are_safe_file_names():
    assert cli._default_out("pathways/../x\0y", "stem") == Path("results/pathways_.._x_y.csv")
    assert cli._default_out("///", "stem") == cli._default_out(["a list"], "stem") == Path("results/stem.csv")


def test_a_forced_full_mode_is_bounded_before_simulating(repo, capsys, monkeypatch):
    """The file's own mode is checked when it is loaded; `--mode full` on a big plan is refused up front."""
    monkeypatch.setattr("pathsim.config.experiment.MAX_FULL_CHIP_OPS", 1e6)  # PaLM's ~29M chip-ops are then too many
    assert main(["run", str(repo / "experiments" / "palm540b.yaml"), "--mode", "full"]) == 2
    _one_error_line(capsys, "scenario.mode: full mode")
