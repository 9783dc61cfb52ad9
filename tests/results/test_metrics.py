import pytest

from pathsim.engine.timeline import Span
from pathsim.engine.timeline import union_length
from pathsim.results.metrics import group_breakdown


def span(track, start, end):
    return Span("g", track, track, "op", "forward", start, end)


def test_union_length():
    assert union_length([(0, 1), (0.5, 2), (3, 4)]) == pytest.approx(3.0)
    assert union_length([]) == 0.0
    assert union_length([(0, 5), (1, 2)]) == pytest.approx(5.0)


def test_breakdown_by_hand():
    # compute [0,4]; ICI [3,6] -> 2 s exposed; DCN [5,8] -> 2 s exposed; idle [8,10].
    spans = [span("compute", 0, 4), span("ici", 3, 6), span("dcn", 5, 8)]
    b = group_breakdown(spans, 10.0, pipelined=False)
    assert (b.compute_s, b.exposed_ici_s, b.exposed_dcn_s, b.dispatch_idle_s) == pytest.approx((4, 2, 2, 2))
    assert b.pipeline_bubble_s == 0
    assert group_breakdown(spans, 10.0, pipelined=True).pipeline_bubble_s == pytest.approx(2)
