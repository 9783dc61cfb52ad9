"""Max-min fair sharing of links, on cases solved by hand."""

import pytest
import simpy

from pathsim.engine.network import Network


def finish_times(capacity, flows):
    """flows: name -> (start_s, bytes, usage); returns name -> finish time."""
    env = simpy.Environment()
    net = Network(env, capacity, record=False)
    ends = {}

    def start(name, at, nbytes, usage):
        yield env.timeout(at)
        yield net.transfer(nbytes, usage)
        ends[name] = env.now

    for name, (at, nbytes, usage) in flows.items():
        env.process(start(name, at, nbytes, usage))
    env.run()
    return ends


def test_equal_share_of_one_link():
    ends = finish_times({"r": 10.0}, {"a": (0, 10, {"r": 1.0}), "b": (0, 10, {"r": 1.0})})
    assert ends == {"a": pytest.approx(2.0), "b": pytest.approx(2.0)}


def test_a_flow_left_alone_on_one_link_still_shares_its_other_link():
    # r1: h + f <= 10, r2: f + g <= 10: all at 5. h (5 bytes) ends at t=1; f is then alone on r1 but
    # still shares r2 with g: both stay at 5 and their 15 remaining bytes end at t=4.
    ends = finish_times({"r1": 10.0, "r2": 10.0}, {
        "h": (0, 5, {"r1": 1.0}), "f": (0, 20, {"r1": 1.0, "r2": 1.0}), "g": (0, 20, {"r2": 1.0})})
    assert ends == {"h": pytest.approx(1.0), "f": pytest.approx(4.0), "g": pytest.approx(4.0)}


def test_bottleneck_leaves_the_rest_to_others():
    # a crosses r1 (cap 2) and r2 (cap 10); b only r2: a gets 2 (r1), b gets the other 8 of r2.
    ends = finish_times({"r1": 2.0, "r2": 10.0}, {"a": (0, 4, {"r1": 1.0, "r2": 1.0}), "b": (0, 16, {"r2": 1.0})})
    assert ends == {"a": pytest.approx(2.0), "b": pytest.approx(2.0)}


def test_weights_scale_the_load():
    # A weight of 2 uses twice the capacity per byte: alone on a link of 10, 10 bytes take 2 s.
    assert finish_times({"r": 10.0}, {"a": (0, 10, {"r": 2.0})})["a"] == pytest.approx(2.0)
