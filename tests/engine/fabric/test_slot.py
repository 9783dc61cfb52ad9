"""A job's slice in a shared pod: which of the pod's links carry the slice's links."""

from pathsim.engine.fabric import PodSlot


def slot(ocs):
    return PodSlot(job="j", origin=(4, 0), pod_shape=(8, 4), pod_wraps=(True, True), ocs=ocs)


def test_a_neighbour_link_is_the_pods_link_between_the_same_chips():
    assert slot(ocs=False).physical((0, 1), (1, 1), 0, 1) == [("pod", (4, 1), (5, 1))]


def test_a_slices_wraparound_is_an_ocs_circuit_of_its_own():
    assert slot(ocs=True).physical((3, 0), (0, 0), 0, 1) == [("ocs", "j", (7, 0), (4, 0))]


def test_without_the_ocs_the_wraparound_goes_the_long_way_round_the_pod():
    # slice x 3 -> 0 is pod x 7 -> 4 going +1: through 0..3, the other job's chips.
    links = slot(ocs=False).physical((3, 0), (0, 0), 0, 1)
    assert [b for _, _, b in links] == [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0)]
