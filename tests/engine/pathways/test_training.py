"""The training step goes through the Pathways actors: client, one gang scheduler per island, host executors."""

from __future__ import annotations

import dataclasses

import pytest

from pathsim.api import simulate_config
from pathsim.catalog.latencies import LATENCIES
from pathsim.config.experiment import load_experiment
from pathsim.engine.pathways.training import GroupSlice, allocate
from pathsim.errors import ConfigError
from pathsim.results.report import dispatch_text
from tests.support import REPO
from tests.engine.test_simulator import compute, gather, run

HOSTS_PER_POD = 768  # 3072 chips, 4 per host
PALM_TWO_PODS_S = 14.2844


def _palm(dispatch: str):
    exp, topo = load_experiment(REPO / "experiments" / "palm540b.yaml")
    exp = exp.model_copy(update={"runtime": exp.runtime.model_copy(update={"dispatch": dispatch})})
    return simulate_config(exp, topo, base_dir=REPO / "experiments", record_links=False).timeline


@pytest.fixture(scope="module")
def palm_async():
    return _palm("pathways_opbyop")


def test_async_step_pays_the_per_host_fan_out_off_the_critical_path(palm_async):
    stats = palm_async.dispatch
    assert stats.hosts == 2 * HOSTS_PER_POD
    # transfer, update and the next step's train are dispatched during the step (this step's train was, during
    # the previous one): each island's scheduler receives, decides and sends one message per host for each.
    per_unit = LATENCIES.rpc_cpu_s + LATENCIES.controller_work_s + HOSTS_PER_POD * LATENCIES.rpc_cpu_s
    assert stats.scheduler_busy_s == pytest.approx((3 * per_unit, 3 * per_unit))
    assert stats.host_messages == 3 * 2 * HOSTS_PER_POD
    scheduler_spans = [s for s in palm_async.spans if s.track == "scheduler"]
    assert {s.group for s in scheduler_spans} == {"pod0", "pod1"}
    assert sum(s.duration_s for s in scheduler_spans) == pytest.approx(sum(stats.scheduler_busy_s))
    # Hidden behind the step's compute: the step is PaLM's pinned figure.
    assert palm_async.end_s == pytest.approx(PALM_TWO_PODS_S, abs=1e-4)


def test_multi_controller_pays_no_scheduler_and_sends_no_message(palm_async):
    mc = _palm("jax_opbyop")
    stats = mc.dispatch
    assert stats.scheduler_busy_s == (0.0, 0.0) and stats.client_busy_s == 0.0 and stats.host_messages == 0
    assert not [s for s in mc.spans if s.track == "scheduler"]
    assert "no gang scheduler" in dispatch_text(stats)
    # Every host dispatches its own shard of the three computations.
    assert stats.host_busy_s == pytest.approx(2 * HOSTS_PER_POD * 3 * (LATENCIES.python_call_s + LATENCIES.host_enqueue_s))
    # The first computation starts after one host-side call instead of being enqueued ahead.
    assert mc.end_s - palm_async.end_s == pytest.approx(LATENCIES.python_call_s + LATENCIES.host_enqueue_s, abs=1e-6)


def test_sequential_dispatch_puts_the_first_fan_out_on_the_critical_path(palm_async):
    seq = _palm("pathways_opbyop_sequential")
    fan_out_s = HOSTS_PER_POD * LATENCIES.rpc_cpu_s
    # Nothing was dispatched ahead of the step: the first computation waits for its fan-out; each later one's
    # host-side work waits until every host acknowledged enqueuing the previous one (one ack per host read).
    assert seq.end_s - palm_async.end_s > fan_out_s
    assert seq.dispatch.host_messages == 3 * 2 * HOSTS_PER_POD
    per_unit = LATENCIES.rpc_cpu_s + LATENCIES.controller_work_s + 2 * HOSTS_PER_POD * LATENCIES.rpc_cpu_s
    assert seq.dispatch.scheduler_busy_s == pytest.approx((3 * per_unit, 3 * per_unit))


def test_chained_dispatch_sends_the_step_as_one_message_per_host(palm_async):
    chained = _palm("pathways_chained")
    # The step's three computations are one statically schedulable subgraph: dispatched during the previous
    # step; this step dispatches the next step's, one message per host.
    assert chained.dispatch.host_messages == 2 * HOSTS_PER_POD
    per_unit = LATENCIES.rpc_cpu_s + LATENCIES.controller_work_s + HOSTS_PER_POD * LATENCIES.rpc_cpu_s
    assert chained.dispatch.scheduler_busy_s == pytest.approx((per_unit, per_unit))
    assert chained.end_s == pytest.approx(palm_async.end_s, abs=1e-9)


def test_a_groups_computations_run_in_device_queue_order():
    # The all-gather of "update" needs nothing from "train", but its gang waits behind train's in the group's
    # device queues (one computation at a time): it starts when train ends, at 1 s.
    ops = [compute("a", 1.0), dataclasses.replace(gather("g"), computation="update")]
    timeline = run([ops], computations=("train", "update"))
    starts = {s.name: s.start_s for s in timeline.spans}
    assert starts["g"] == pytest.approx(1.0)
    # update and the next step's train: one message each to each of the 16 hosts
    assert timeline.dispatch.host_messages == 2 * 16


def test_the_resource_manager_gives_pipeline_stages_hosts_of_their_own():
    # Two islands, each holding two stages of 32 chips (8 hosts): exclusive slices, hosts numbered island by
    # island (16 per island).
    groups = [GroupSlice(f"s{k}", k // 2, (2, 4, 4)) for k in range(4)]
    hosts, island_of_host = allocate(groups, ((4, 4, 4), (4, 4, 4)), 4)
    assert hosts == [tuple(range(0, 8)), tuple(range(8, 16)), tuple(range(16, 24)), tuple(range(24, 32))]
    assert island_of_host == [0] * 16 + [1] * 16
    # One group per island shares the island's hosts.
    hosts, _ = allocate([GroupSlice("pod0", 0, (4, 4, 4)), GroupSlice("pod1", 1, (4, 4, 4))], ((4, 4, 4),) * 2, 4)
    assert hosts == [tuple(range(16)), tuple(range(16, 32))]


def test_a_slice_the_island_cannot_hold_is_refused_naming_the_plan():
    with pytest.raises(ConfigError) as err:
        allocate([GroupSlice("s0", 0, (4, 4, 4)), GroupSlice("s1", 0, (4, 4, 4))], ((4, 4, 4),), 4)
    assert err.value.field == "plan"


def test_a_multi_island_pipeline_runs_on_the_actors():
    exp, topo = load_experiment(REPO / "tests" / "data" / "pipeline_4_islands.yaml")
    tl = simulate_config(exp, topo, record_links=False).timeline
    # 4 islands x 2 stages: one scheduler per island, each stage on 2 hosts of its own.
    assert len(tl.dispatch.scheduler_busy_s) == 4 and all(b > 0 for b in tl.dispatch.scheduler_busy_s)
    assert tl.dispatch.hosts == 8 * 2
    # Activations and gradients cross the DCN between islands, and only there.
    boundary = {(s.name.split(".")[0], s.name.split(".")[-1]) for s in tl.spans if s.track == "dcn"}
    assert boundary == {("fwd", "s2"), ("fwd", "s4"), ("fwd", "s6"), ("bwd", "s1"), ("bwd", "s3"), ("bwd", "s5")}
    inside = {(s.name.split(".")[0], s.name.split(".")[-1]) for s in tl.spans if s.lane == "ici.pipeline"}
    assert inside == {("fwd", "s1"), ("fwd", "s3"), ("fwd", "s5"), ("fwd", "s7"),
                      ("bwd", "s0"), ("bwd", "s2"), ("bwd", "s4"), ("bwd", "s6")}
