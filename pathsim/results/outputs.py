"""Output files of the commands: checked before any work starts, written atomically after it.

A check refuses what can never be written (an empty name, a folder, a folder that cannot be created or
written) so that a long simulation does not end in a failed write. A write goes to a temporary file in
the same folder, then os.replace: a failed write (a full disk) leaves the old file or none, never a
half-written one. Special files (/dev/stdout, /dev/null, a FIFO) are written in place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from pathsim.errors import ConfigError


def _existing_ancestor(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_output(path: str | Path | None, field: str, suffixes: tuple[str, ...] = ()) -> Path:
    """The output path, or a ConfigError naming `field`. Missing folders are created at write time."""
    if path is None or str(path).strip() == "":
        raise ConfigError(field, "empty file name; give a file to write")
    if "\0" in str(path):
        raise ConfigError(field, "the file name holds a NUL character")
    if str(path).endswith(("/", os.sep)):
        raise ConfigError(field, f"{path} names a folder; give a file name in it")
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise ConfigError(field, f"{p.name}: choose a {' or '.join(suffixes)} file")
    if p.is_dir():
        raise ConfigError(field, f"{p} is a folder; give a file name in it")
    if p.exists() and not p.is_file():
        return p  # a device or FIFO: written in place
    if p.is_file() and not os.access(p, os.W_OK):  # a sweep appends to its results file in place
        raise ConfigError(field, f"cannot write {p}: the file is read-only")
    folder = _existing_ancestor(p.parent if str(p.parent) else Path("."))
    if not folder.is_dir():
        raise ConfigError(field, f"cannot write {p}: {folder} is not a folder")
    try:  # os.access does not see read-only mounts or root's rights the way a real write does
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(field, f"cannot write {p}: {exc.strerror or exc} ({folder})") from None
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, write: Callable[[Path], None], field: str) -> Path:
    """Call write(tmp) on a temporary file beside `path`, then move it over `path`; an OSError on the
    way (a full disk, a read-only folder) removes the temporary file and becomes a ConfigError."""
    p = Path(path)
    try:
        if p.exists() and not p.is_file():
            write(p)
            return p
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=p.parent, prefix=f".{p.stem}.", suffix=f".tmp{p.suffix}")
    except OSError as exc:
        raise ConfigError(field, f"cannot write {p}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        # mkstemp makes the file private; give it the mode a plain open() would have.
        os.chmod(tmp, (p.stat().st_mode & 0o777) if p.exists() else 0o666 & ~_umask())
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(field, f"cannot write {p}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def write_text_atomic(path: str | Path, text: str, field: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text), field)
