"""JAX's backend start-up without libtpu's alarms: with libtpu installed (the tpu extra) on a machine that
has no TPU, libtpu probes for one and writes `E0000 ... INVALID_ARGUMENT: ... unexpected worker hostname`
and WARNING lines straight to file descriptor 2, then JAX goes on with the CPU or GPU. Those lines are
held back; every other line, and everything when start-up fails or a TPU is found, is shown."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# libtpu's messages when it looks for a TPU that is not there (seen with libtpu 0.0.x, jax 0.10).
_PROBE_NOISE = re.compile(
    r"Failed to find host bounds for accelerator type|could not determine TPU|Logging before InitGoogle"
    r"|unexpected worker hostname|^=== Source Location Trace|libtpu_init_utils\.cc|^\s*$")


def without_tpu_probe_noise(text: str) -> str:
    """The lines of `text` that are not libtpu's probing for an absent TPU."""
    return "".join(line for line in text.splitlines(keepends=True) if not _PROBE_NOISE.search(line))


def start_quietly(start: Callable[[], T], found_tpu: Callable[[T], bool]) -> T:
    """Run `start` (import jax, list its devices) with fd 2 captured; replay what it wrote, less libtpu's
    probe noise unless a TPU was found. A failed start replays everything before its exception."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            result = start()
        except BaseException:
            _restore(saved, capture, keep_all=True)
            raise
        _restore(saved, capture, keep_all=found_tpu(result))
    return result


def _restore(saved: int, capture, keep_all: bool) -> None:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    capture.seek(0)
    text = capture.read().decode(errors="replace")
    shown = text if keep_all else without_tpu_probe_noise(text)
    if shown:
        sys.stderr.write(shown)
        sys.stderr.flush()
