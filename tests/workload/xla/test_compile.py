"""A compiling `pathsim run --program xla` that is killed (TERM, HUP, or KILL) leaves no compile child
and no temporary folder behind. Real processes on the tiniest compile; bounded waits, no timings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO, all_gone, live_pids
from tests.workload.xla.conftest import NEEDS_TPU_COMPILER

EXPERIMENT = REPO / "tests" / "workload" / "xla" / "data" / "tiny_xla_two_slices.yaml"


def _compile_children(parent: int) -> list[int]:
    def is_compile(pid: int) -> bool:
        try:
            return b"pathsim.workload.xla.compile" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
    return [pid for pid in live_pids(lambda f: int(f[1]) == parent) if is_compile(pid)]


def _start_compiling_run(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """The run and its compile child, once the child exists (a fresh cache: it must compile)."""
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "PATHSIM_CACHE": str(tmp_path / "cache")}
    (tmp_path / "tmp").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "pathsim.cli", "run", str(EXPERIMENT), "--json"], env=env,
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (children := _compile_children(proc.pid)):
        assert time.monotonic() < deadline and proc.poll() is None, "no compile child started"
        time.sleep(0.05)
    return proc, children[0]


def _temporary_folders(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "tmp").glob("pathsim-xla-*"))


@NEEDS_TPU_COMPILER
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_killed_compiling_run_leaves_no_child_and_no_temporary_folder(tmp_path, signum):
    proc, child = _start_compiling_run(tmp_path)
    assert _temporary_folders(tmp_path)  # the folder the test then expects gone
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert all_gone(lambda: [child] if _alive(child) else [], within_s=60)
    deadline = time.monotonic() + 30  # after SIGKILL the child removes the folder as it goes
    while _temporary_folders(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _temporary_folders(tmp_path) == []
    if signum != signal.SIGKILL:
        assert proc.returncode == 128 + signum
        assert err.decode().strip().endswith("terminated: XLA compile cancelled"), err.decode()
        assert b"Traceback" not in err


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


@NEEDS_TPU_COMPILER
def test_the_compilers_refusal_is_cached_like_a_program(tmp_path, monkeypatch):
    """XLA's own "cannot compile" (an unimplemented case, HBM exhausted) is the same for the same inputs and
    versions: a second run answers it from the cache instead of compiling for minutes again."""
    from pathsim.config.experiment import ExperimentConfig, TopologyConfig, read_yaml
    from pathsim.errors import ConfigError
    from pathsim.workload.xla import compile as xla_compile
    from tests.workload.xla.conftest import tiny_experiment

    monkeypatch.setenv("PATHSIM_CACHE", str(tmp_path))
    exp = ExperimentConfig.model_validate(tiny_experiment())
    topo = TopologyConfig.model_validate(read_yaml(REPO / "tests" / "workload" / "xla" / "data" / "v4_2x2x1.yaml",
                                                   "topology"))
    calls = []

    def refuse(*_args):
        calls.append(1)
        raise xla_compile.CompilerRefusal("plan", "XLA cannot compile this plan: UNIMPLEMENTED: odd groups")

    monkeypatch.setattr(xla_compile, "_run_compile", refuse)
    for _ in range(2):
        with pytest.raises(ConfigError, match="UNIMPLEMENTED: odd groups"):
            xla_compile.compile_step(exp.model, exp.training, exp.plan, topo)
    assert len(calls) == 1

    def own_check(*_args):  # pathsim's own refusals are not the compiler's: never cached
        calls.append(1)
        raise ConfigError("plan.microbatches", "3 micro-batches do not divide the batch")

    monkeypatch.setattr(xla_compile, "_run_compile", own_check)
    other = exp.plan.model_copy(update={"microbatches": 2})
    for _ in range(2):
        with pytest.raises(ConfigError, match="micro-batches"):
            xla_compile.compile_step(exp.model, exp.training, other, topo)
    assert len(calls) == 3
