"""The compiler's HBM requirement read from libtpu's log (lines as libtpu 0.0.42.1 prints them)."""

from __future__ import annotations

import pytest

from pathsim.workload.xla.compiler_log import hbm_requirement

# A v4 step without remat: the sflag block's own HLO temp comes first and must not be read.
LOG = """I1207 14:34:06.849251    3515 deepsea_compiler_backend.cc:2175] Program sflag requirement 364B:
    reserved           204B
    scoped              72B
    HLO temp            88B (100.0% utilization: Unpadded (88B) Padded (88B), 0.0% fragmentation (0B))
Program hbm requirement 1.94G:
    global           560.5K
    scoped            2.00M
    HLO temp          1.91G (100.0% utilization: Unpadded (1.36G) Padded (1.36G), 28.7% fragmentation (562.71M))
    overlays         22.45M
Program cmem requirement 128.00M:
    HLO temp        128.00M (0.0% utilization: Unpadded (0B) Padded (0B), 100.0% fragmentation (128.00M))
I1207 14:34:06.849300    3515 deepsea_compiler_backend.cc:2183] XLA::TPU program SMEM usage: 8.8K / 1.00M
"""


def test_the_hbm_block_is_read_in_binary_units_and_the_other_memories_are_not():
    req = hbm_requirement(LOG)
    assert req.total_bytes == pytest.approx(1.94 * 2**30)
    assert req.temp_heap_bytes == pytest.approx(1.91 * 2**30)
    assert req.temp_fragmentation_bytes == pytest.approx(562.71 * 2**20)


def test_the_last_program_is_the_step():
    earlier = LOG.replace("1.94G", "9.00M").replace("(562.71M)", "(1.50M)")
    req = hbm_requirement(earlier + LOG.replace("(562.71M)", "(0B)"))
    assert req.temp_fragmentation_bytes == 0.0 and req.total_bytes == pytest.approx(1.94 * 2**30)


@pytest.mark.parametrize("text", ["", "W1207 warning only\n", LOG.replace("fragmentation", "frag")])
def test_a_log_without_the_block_gives_none(text):
    assert hbm_requirement(text) is None


def test_a_program_without_temporaries_has_no_heap():
    log = "Program hbm requirement 4.56M:\n    global           624.5K\n    scoped           320.0K\n" \
          "    overlays          3.64M\nProgram vmem requirement 1.88M:\n    scoped            1.88M\n"
    req = hbm_requirement(log)
    assert req.total_bytes == pytest.approx(4.56 * 2**20) and req.temp_heap_bytes == req.temp_fragmentation_bytes == 0
