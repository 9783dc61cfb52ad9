"""The analytic screen against the discrete-event simulation it stands in for."""

from __future__ import annotations

import pytest

from pathsim.api import cost_model_for, simulate_config
from pathsim.config.experiment import load_experiment
from pathsim.pipeline import plan_run
from pathsim.platform.topology import build_cluster
from pathsim.studies.whatif.params import INFER, resolve
from pathsim.studies.whatif.screen import Screen


@pytest.mark.parametrize("point", [
    (),  # PaLM's own plan: 12-way tensor x 256-way FSDP per pod, 2-way data parallel over DCN
    (("plan.ici.tensor", 24), ("plan.ici.fsdp", INFER)),
    (("training.remat", "full"),),
])
def test_screen_is_within_ten_percent_of_the_simulation_for_palm(repo, point):
    path = repo / "experiments" / "palm540b.yaml"
    base_exp, base_topo = (c.model_dump(mode="json") for c in load_experiment(path))
    exp, topo = resolve(base_exp, base_topo, path, point)
    cluster = build_cluster(topo)
    planned = plan_run(exp, cluster)
    screened = Screen(cluster, cost_model_for(exp, cluster, None))(planned.inputs, planned.placement)
    simulated = simulate_config(exp, topo, record_links=False).metrics
    assert screened.step_time_s == pytest.approx(simulated.step_time_s, rel=0.10)
    # MFU is tokens x model FLOPs over peak in both, so it moves inversely with the step time.
    assert screened.mfu * screened.step_time_s == pytest.approx(simulated.mfu * simulated.step_time_s, rel=1e-9)


def test_screen_orders_remat_policies_as_their_extra_flops_say(small):
    """No remat < PaLM's selective remat < full remat in step time: the recomputed FLOPs grow."""
    base_exp, base_topo = (c.model_dump(mode="json") for c in load_experiment(small))
    times = []
    for policy in ("none", "palm", "full"):
        exp, topo = resolve(base_exp, base_topo, small, (("training.remat", policy),))
        cluster = build_cluster(topo)
        planned = plan_run(exp, cluster)
        times.append(Screen(cluster, cost_model_for(exp, cluster, None))(planned.inputs, planned.placement).step_time_s)
    assert times[0] < times[1] < times[2]
