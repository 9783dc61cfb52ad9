"""The linter's rules (pyproject.toml, [tool.ruff]) hold over the package, its tests and its benchmarks."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import REPO


def _ruff() -> list[str]:
    beside = Path(sys.executable).with_name("ruff")  # the test extra installs it into the same environment
    found = str(beside) if beside.exists() else shutil.which("ruff")
    assert found, "ruff is not installed: pip install -e '.[test]'"
    return [found]


def test_ruff_finds_nothing():
    run = subprocess.run([*_ruff(), "check", "--output-format", "concise", "pathsim", "tests", "bench"], cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
