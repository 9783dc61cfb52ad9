"""The compiler's kernel estimates (pathsim/calibration/compiler_kernels.py): what the committed data holds,
and that a fresh compile gives it again."""

import json
import os

import pytest

from pathsim.calibration.compiler_kernels import MEMORY_KERNELS, compiled_cycles, versions
from pathsim.catalog import kernels as K
from pathsim.costs.tpu_kernels.fit import load_compiler_kernels
from pathsim.costs.tpu_kernels.reference_data import compiler_csv_path as csv_path


@pytest.fixture(scope="module")
def frame():
    return load_compiler_kernels("tpu_v4")


def test_the_data_names_the_versions_that_produced_it(frame):
    meta = json.loads(csv_path("tpu_v4").with_suffix(".json").read_text())
    assert meta["chip"] == "tpu_v4" and meta["clock_hz"] == K.COMPILER_CLOCK_HZ["tpu_v4"].value
    assert {"jax", "libtpu"} <= set(meta["versions"])
    assert (frame.kernels_without_estimate == 0).all() and (frame.cycles > 0).all()
    assert {"lowering", "square", "skinny", "random", "memory"} <= set(frame.family)


@pytest.mark.slow
def test_a_fresh_compile_gives_the_committed_estimates(frame):
    """The data regenerates: one matmul of the lowering and one memory-bound kernel, compiled again."""
    pytest.importorskip("libtpu")
    meta = json.loads(csv_path("tpu_v4").with_suffix(".json").read_text())
    if versions()["libtpu"] != meta["versions"]["libtpu"]:
        pytest.skip(f"libtpu {versions()['libtpu']} is not the {meta['versions']['libtpu']} the data was compiled with")
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    from pathsim.calibration.compiler_kernels import matmul_fn, one_chip_device

    device = one_chip_device("tpu_v4")
    row = frame[frame.family == "lowering"].iloc[0]
    lead = (int(row.batch),) if row.batch > 1 else ()
    cycles, _, _ = compiled_cycles(device, matmul_fn(int(row.batch)), [((*lead, int(row.m), int(row.k)), "bf16"),
                                                                       ((*lead, int(row.k), int(row.n)), "bf16")])
    assert cycles == row.cycles
    norm = next(k for k in MEMORY_KERNELS if k.kind == "norm")
    mem = frame[(frame.kind == "norm")].iloc[0]
    cycles, _, _ = compiled_cycles(device, *norm.build(int(mem.elements)))
    assert cycles == mem.cycles
