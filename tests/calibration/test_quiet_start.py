"""libtpu's probe noise is held back from a successful start; other lines and failures are shown."""

from __future__ import annotations

import os

import pytest

from pathsim.calibration.quiet_start import start_quietly, without_tpu_probe_noise

# What libtpu 0.0.x printed at `import jax; jax.devices()` on a machine without a TPU (jax 0.10).
PROBE = (
    "Failed to find host bounds for accelerator type: WARNING: could not determine TPU accelerator type, "
    "please set env var `TPU_ACCELERATOR_TYPE` manually, otherwise libtpu.so may not properly initialize.\n"
    "WARNING: Logging before InitGoogle() is written to STDERR\n"
    "E0000 00:00:1796466672.644870   15794 common_lib.cc:554] INVALID_ARGUMENT: Error: unexpected worker "
    "hostname 'WARNING: could not determine TPU worker hostnames or IP addresses' from env var "
    "TPU_WORKER_HOSTNAMES. Expecting a valid hostname or IP address without port number.\n"
    "=== Source Location Trace: === \n"
    "learning/45eac/tfrc/runtime/libtpu_init_utils.cc:327\n"
)


def _write_fd2(text: str) -> None:
    os.write(2, text.encode())  # as native code does: below Python's sys.stderr


def test_the_probe_noise_is_dropped_and_other_lines_kept():
    assert without_tpu_probe_noise(PROBE) == ""
    assert without_tpu_probe_noise(PROBE + "E1205 real error\n") == "E1205 real error\n"


def test_a_quiet_start_replays_only_what_is_not_noise(capfd):
    result = start_quietly(lambda: (_write_fd2(PROBE + "W jax: something real\n"), "cpu")[1], lambda b: b == "tpu")
    assert result == "cpu"
    assert capfd.readouterr().err == "W jax: something real\n"


def test_with_a_tpu_or_a_failed_start_everything_is_shown(capfd):
    start_quietly(lambda: _write_fd2(PROBE), lambda _: True)
    assert capfd.readouterr().err == PROBE

    def fails():
        _write_fd2(PROBE)
        raise RuntimeError("no backend")

    with pytest.raises(RuntimeError, match="no backend"):
        start_quietly(fails, lambda _: False)
    assert capfd.readouterr().err == PROBE
