"""The Ray backend gives exactly the local process pool's results (a small local Ray instance)."""

from __future__ import annotations

import pandas as pd
import pytest

from pathsim.studies.whatif import load_study, run_study

ray = pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_and_local_backends_give_identical_results(small, tmp_path):
    sweep = load_study(small, grid={"plan.model": [1, 2, 4, 8, 3], "training.remat": ["none", "full"]},
                       infer=["plan.ici.fsdp"])
    search = load_study(small, all_plans_=True, shortlist=3)
    local = [run_study(s, tmp_path / f"local{i}.csv", workers=2)[0] for i, s in enumerate((sweep, search))]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = [run_study(s, tmp_path / f"ray{i}.csv", backend="ray")[0] for i, s in enumerate((sweep, search))]
    finally:
        ray.shutdown()
    for a, b in zip(local, remote):
        assert (a["status"] == "ok").sum() >= 3
        same = [c for c in a.columns if c != "wall_s"]  # everything but how long each plan took
        pd.testing.assert_frame_equal(a[same], b[same])
