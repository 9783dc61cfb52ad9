"""A clone needs nothing beside it: no module, test, benchmark, doc or experiment names a path outside the
repository. Read from the files git tracks, as text (nothing is imported or run).

Three ways a file can reach outside, each checked:
- naming the team's reference notes (the folder beside the checkout) or an absolute path of a
  developer's machine;
- anchoring on `__file__` and climbing above the repository root (`Path(__file__).parents[4]`);
- a relative path (`../x`) that leaves the repository from the file that holds it (YAML, Markdown and
  Python resolve them from there; a Python path may also be taken from the repository root).
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from tests.support import REPO

TEXT_SUFFIXES = {".py", ".md", ".sh", ".yaml", ".yml", ".toml", ".ipynb", ".cfg", ".txt", ".json", ""}
OUTSIDE_NAMES = re.compile(r"(\.\./)+shared\b|\bshared/reference\b|(?<![\w.])/work/"
                           r"|[\"']shared[\"']\s*/\s*[\"']reference[\"']")
FILE_ANCHOR = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?(?P<climb>\.parents\[(?P<n>\d+)\]|(?:\.parent\b)+)")
RELATIVE = re.compile(r"(?<![\w./])((?:\.\./)+[\w.\-/<>]*)")
# Strings that are malformed user input fed to the CLI to check it refuses them: never read as paths.
BAD_INPUT_STRINGS = {("tests/test_fuzz_inputs.py", "../../etc/x")}


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    paths = [REPO / name for name in names.splitlines()]
    return [p for p in paths if p.suffix in TEXT_SUFFIXES and p.is_file() and p.stat().st_size < 1_000_000]


FILES = [p for p in _tracked_text_files() if p != Path(__file__)]  # this file spells the patterns it looks for


def _inside(path: Path) -> bool:
    return path.resolve().is_relative_to(REPO.resolve())


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_the_checks_read_the_repository():
    assert any(_rel(p) == "pathsim/costs/tpu_kernels/reference_data.py" for p in FILES)
    assert len(FILES) > 100


def test_names_nothing_outside_the_repository():
    hits = []
    for path in FILES:
        text = path.read_text(errors="replace")
        hits += [f"{_rel(path)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
                 for m in OUTSIDE_NAMES.finditer(text)]
    assert not hits, f"places outside the repository named: {hits}"


def test_file_anchors_stay_in_the_repository():
    escapes = []
    for path in (p for p in FILES if p.suffix == ".py"):
        for match in FILE_ANCHOR.finditer(path.read_text()):
            levels = int(match["n"]) if match["n"] is not None else match["climb"].count(".parent") - 1
            anchor = path.parents[levels] if levels < len(path.parents) else Path("/")
            if not _inside(anchor):
                escapes.append(f"{_rel(path)}: {match.group(0)} climbs to {anchor}")
    assert not escapes, f"anchors outside the repository: {escapes}"


def _relative_paths(path: Path) -> list[str]:
    """Relative paths a file uses: string literals of a Python file, the text of any other."""
    if path.suffix != ".py":
        return [m.group(1) for m in RELATIVE.finditer(path.read_text(errors="replace"))]
    tree = ast.parse(path.read_text(), filename=str(path))
    strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return [m.group(1) for s in strings for m in RELATIVE.finditer(s)]


def test_relative_paths_stay_in_the_repository():
    escapes = []
    for path in FILES:
        bases = [path.parent, REPO] if path.suffix == ".py" else [path.parent]
        escapes += [f"{_rel(path)}: {relative!r}" for relative in _relative_paths(path)
                    if (_rel(path), relative) not in BAD_INPUT_STRINGS
                    and not any(_inside(base / relative) for base in bases)]
    assert not escapes, f"relative paths that leave the repository: {escapes}"


def test_the_checks_catch_a_path_outside(tmp_path):
    """The patterns find each kind of escape (so the tests above can fail)."""
    notes = "shared"  # spelled apart so that this file names no outside folder itself
    assert OUTSIDE_NAMES.search(f'KERNELS = ROOT.parent / "{notes}" / "reference" / "kernels"')
    assert OUTSIDE_NAMES.search(f"see ../{notes}/reference/kernels") and OUTSIDE_NAMES.search("/work/x")
    climb = FILE_ANCHOR.search(f'Path(__file__).resolve().parents[4] / "{notes}"')
    assert climb and int(climb["n"]) == 4
    deep = REPO / "pathsim" / "costs" / "tpu_kernels" / "reference_data.py"
    assert not _inside(deep.parents[4]) and _inside(deep.parents[2])
    assert RELATIVE.search("topology: ../../topologies/x.yaml").group(1) == "../../topologies/x.yaml"
    assert not _inside(REPO / "experiments" / "../../topologies/x.yaml")
