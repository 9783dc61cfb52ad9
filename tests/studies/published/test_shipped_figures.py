"""Today's figures of `pathsim validate` on the shipped table (24 MaxText v5e runs and PaLM 540B), pinned.

A change that moves them updates these pins and says why in its commit; tolerances cover float noise only.
Figures of the lowered program with the TPU kernel model; the v5e rows with flash attention, as they ran (docs/validation.md has the table).
"""

from __future__ import annotations

import pytest

from pathsim.studies.published import DEFAULT_RUNS, read_runs, run_rows, summarize

# id: (predicted step time s, predicted MFU, predicted to fit in HBM)
PINNED = {
    "V5E-MT-16B-1": (9.8835, 0.6569, True),
    "V5E-MT-16B-2": (9.9241, 0.6542, True),
    "V5E-MT-16B-4": (9.9445, 0.6529, True),
    "V5E-MT-16B-8": (9.9547, 0.6522, True),
    "V5E-MT-16B-16": (9.9597, 0.6519, True),
    "V5E-MT-16B-32": (9.9623, 0.6517, True),
    "V5E-MT-32B-1": (12.6095, 0.6653, True),
    "V5E-MT-32B-2": (12.6909, 0.6610, True),
    "V5E-MT-32B-4": (12.7316, 0.6589, True),
    "V5E-MT-32B-8": (12.7519, 0.6578, True),
    "V5E-MT-32B-16": (12.7621, 0.6573, True),
    "V5E-MT-32B-32": (12.7672, 0.6571, True),
    "V5E-MT-64B-1": (12.5687, 0.6641, True),
    "V5E-MT-64B-2": (12.7306, 0.6557, True),
    "V5E-MT-64B-4": (12.8116, 0.6515, True),
    "V5E-MT-64B-8": (12.8520, 0.6495, True),
    "V5E-MT-64B-16": (12.8723, 0.6484, True),
    "V5E-MT-64B-32": (12.8824, 0.6479, True),
    "V5E-MT-128B-1": (14.3443, 0.5804, True),
    "V5E-MT-128B-2": (14.6672, 0.5677, True),
    "V5E-MT-128B-4": (14.8287, 0.5615, True),
    "V5E-MT-128B-8": (14.9094, 0.5584, True),
    "V5E-MT-128B-16": (14.9498, 0.5569, True),
    "V5E-MT-128B-32": (14.9700, 0.5562, True),
    "PALM-540B-2POD": (14.2844, 0.5696, True),
}


@pytest.fixture(scope="module")
def validated():
    runs = read_runs(DEFAULT_RUNS)
    results = run_rows(runs)
    return results, summarize(runs, results)


@pytest.mark.slow
def test_every_row_as_pinned(validated):
    results, _ = validated
    assert [r.id for r in results] == list(PINNED)
    for r in results:
        step_s, mfu, fits = PINNED[r.id]
        assert r.error is None, r.error
        assert (r.predicted_step_s, r.predicted_mfu, r.fits) == (
            pytest.approx(step_s, abs=1e-4), pytest.approx(mfu, abs=1e-4), fits), r.id


@pytest.mark.slow
def test_summary_as_pinned(validated):
    _, s = validated
    assert (s.rows, s.simulated, s.failed, s.infeasible) == (25, 25, 0, 0)  # flash attention: every run fits
    assert s.mean_abs_mfu_error_points == pytest.approx(6.0, abs=0.05)
    assert s.max_abs_mfu_error_points == pytest.approx(14.5, abs=0.05)  # V5E-MT-64B-32 (PaLM 540B: 57.0% against 46.2%)
    assert s.mean_mfu_error_points == pytest.approx(6.0, abs=0.05)
    assert (s.spearman_mfu, s.spearman_step_s) == (pytest.approx(0.92, abs=0.005), pytest.approx(0.92, abs=0.005))
    # Per-chip throughput falls with slices: published +11-21% step from 1 to 32 slices, predicted +0.8-4.4%.
    growth = {c.first_id: (round(100 * c.published_growth, 1), round(100 * c.predicted_growth, 1))
              for c in s.scaling}
    assert growth == {"V5E-MT-16B-1": (11.1, 0.8), "V5E-MT-32B-1": (10.9, 1.3), "V5E-MT-64B-1": (19.2, 2.5),
                      "V5E-MT-128B-1": (20.9, 4.4)}
