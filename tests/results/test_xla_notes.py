"""Report notes on an imported XLA program."""

from pathsim.catalog.hardware import GIB
from pathsim.results.xla_notes import host_note


def test_the_host_note_puts_the_compilers_host_memory_beside_the_estimates_offload():
    assert host_note(2 * GIB, 2 * GIB) == ("host memory per chip (offloaded tensors): XLA 2.00 GiB, pathsim "
                                            "estimate 2.00 GiB",)
    assert host_note(0.0, 0.0) == () and host_note(None, 0.0) == ()  # nothing offloaded: no note
    assert "XLA not recorded" in host_note(None, 1 * GIB)[0]  # a cached compile from before the figure
    assert "XLA 1.00 GiB, pathsim estimate 0.00 GiB" in host_note(1 * GIB, 0.0)[0]  # the compiler offloads more
