"""PaLM 540B on 6144 TPU v4 chips: the figures pathsim gives today, pinned so that a change that moves
them is seen, beside the paper's (reference/palm.md).

Paper: MFU 46.2%, HFU 57.8%, two pods 1.95x one pod. pathsim's analytic roofline runs every matmul at
the MXU's peak (no TPU v4 kernel profile exists to calibrate it), so it predicts MFU and HFU well above
the paper's; the two-pod ratio, which depends on the DCN transfer and not on kernel efficiency, lands
inside the issue's 1.90-1.99 band.
"""

import pytest

from tests.support import REPO
from pathsim.api import run_experiment

PINNED = {  # the values of today's model; update them together with the reason in the commit
    "two_pods": {"step_time_s": 11.7608, "mfu": 0.69186, "hfu": 0.86545, "exposed_dcn_s": 0.21831},
    "one_pod": {"step_time_s": 11.5425, "mfu": 0.70494, "hfu": 0.88182, "exposed_dcn_s": 0.0},
}


@pytest.fixture(scope="module")
def results():
    return {
        "two_pods": run_experiment(REPO / "experiments" / "palm540b.yaml", record_links=False),
        "one_pod": run_experiment(REPO / "experiments" / "palm540b_1pod.yaml", record_links=False),
    }


@pytest.mark.parametrize("which", ["two_pods", "one_pod"])
def test_pinned_figures(results, which):
    m = results[which].metrics
    pinned = PINNED[which]
    assert m.step_time_s == pytest.approx(pinned["step_time_s"], rel=1e-4)
    assert m.mfu == pytest.approx(pinned["mfu"], rel=1e-4)
    assert m.hfu == pytest.approx(pinned["hfu"], rel=1e-4)
    assert m.breakdown.exposed_dcn_s == pytest.approx(pinned["exposed_dcn_s"], rel=1e-4, abs=1e-9)


def test_two_pods_against_one_pod_matches_the_paper(results):
    ratio = results["two_pods"].metrics.tokens_per_s / results["one_pod"].metrics.tokens_per_s
    assert 1.90 <= ratio <= 1.99  # paper: 1.95


def test_palm_plan_fits_in_hbm(results):
    assert results["two_pods"].memory.feasible


@pytest.mark.xfail(strict=True, reason="analytic roofline: matmuls at MXU peak, no TPU v4 kernel calibration; "
                   "predicted MFU 69.2% / HFU 86.5% against the paper's 46.2% / 57.8%")
def test_mfu_and_hfu_within_the_paper_band(results):
    m = results["two_pods"].metrics
    assert abs(m.mfu - 0.462) <= 0.02 and abs(m.hfu - 0.578) <= 0.025
