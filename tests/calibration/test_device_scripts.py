"""The scripts run on a lent machine: they parse, and the CPU mesh loop refuses a host it cannot check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", ["calibrate_device.sh", "closed_loop_cpu_mesh.sh", "device_deps.sh"])
def test_scripts_parse(script):
    subprocess.run(["bash", "-n", str(BENCH / script)], check=True)


def test_cpu_mesh_loop_refuses_more_devices_than_cores(tmp_path):
    devices = (os.cpu_count() or 1) + 1
    done = subprocess.run(["bash", str(BENCH / "closed_loop_cpu_mesh.sh")], capture_output=True, text=True,
                          env={**os.environ, "OUT": str(tmp_path), "DEVICES": str(devices), "PYTHON": sys.executable})
    assert done.returncode == 1
    assert f"for {devices} devices: the devices would time-share the cores" in done.stdout
    assert not list(tmp_path.glob("*.json"))  # nothing measured
