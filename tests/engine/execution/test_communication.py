"""Sends, receives and gangs, through the engine (tests.engine.test_simulator's tiny programs)."""

import pytest

from pathsim.workload.program import CommOp, RecvOp
from tests.engine.test_simulator import DCN_DATA, PIPELINE, compute, gather, run

SEND_S = 0.9e9 / 4.5e10  # 0.9 GB over one z link


def send(deps=(0,)):
    return CommOp(name="s", collective="send", axis=PIPELINE, bytes=0.9e9, phase="forward", deps=deps,
                  peer_group=1, key="x")


def test_a_receive_ready_after_its_send_arrived_completes_at_once():
    # The send arrives at 1.02 s; the receive is ready at 2 s and completes then: b ends at 3 s.
    ops1 = [compute("c", 2.0), RecvOp(name="r", key="x", phase="forward", deps=(0,)), compute("b", 1.0, deps=(1,))]
    tl = run([[compute("a", 1.0), send()], ops1], group_axes=((PIPELINE, 2),))
    assert tl.end_s == pytest.approx(3.0)
    (span,) = [s for s in tl.spans if s.name == "s"]
    assert (span.start_s, span.end_s) == (pytest.approx(1.0), pytest.approx(1.0 + SEND_S))


def test_a_gang_starts_with_its_last_member():
    # Group 0 is ready at 0, group 1 at 1 s: both record the collective from 1 s.
    nbytes = 1e6
    ops0 = [gather("dcn", axis=DCN_DATA, nbytes=nbytes, collective="all_reduce")]
    ops1 = [compute("a", 1.0), gather("dcn", axis=DCN_DATA, deps=(0,), nbytes=nbytes, collective="all_reduce")]
    tl = run([ops0, ops1], group_axes=((DCN_DATA, 2),), islands=2)
    starts = {s.group: s.start_s for s in tl.spans if s.name == "dcn"}
    assert starts == {"g0": pytest.approx(1.0), "g1": pytest.approx(1.0)}
