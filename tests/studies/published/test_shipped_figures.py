"""Today's figures of `pathsim validate` on the shipped table (24 MaxText v5e runs and PaLM 540B), pinned.

A change that moves them updates these pins and says why in its commit; tolerances cover float noise only.
Figures of the lowered program with the TPU kernel model (docs/validation.md has the table).
"""

from __future__ import annotations

import pytest

from pathsim.studies.published import DEFAULT_RUNS, read_runs, run_rows, summarize

# id: (predicted step time s, predicted MFU, predicted to fit in HBM)
PINNED = {
    "V5E-MT-16B-1": (11.4002, 0.5695, True),
    "V5E-MT-16B-2": (11.4409, 0.5675, True),
    "V5E-MT-16B-4": (11.4612, 0.5665, True),
    "V5E-MT-16B-8": (11.4714, 0.5660, True),
    "V5E-MT-16B-16": (11.4765, 0.5657, True),
    "V5E-MT-16B-32": (11.4790, 0.5656, True),
    "V5E-MT-32B-1": (13.6208, 0.6159, False),
    "V5E-MT-32B-2": (13.7022, 0.6122, False),
    "V5E-MT-32B-4": (13.7428, 0.6104, False),
    "V5E-MT-32B-8": (13.7632, 0.6095, False),
    "V5E-MT-32B-16": (13.7733, 0.6091, False),
    "V5E-MT-32B-32": (13.7784, 0.6088, False),
    "V5E-MT-64B-1": (13.5788, 0.6147, False),
    "V5E-MT-64B-2": (13.7407, 0.6075, False),
    "V5E-MT-64B-4": (13.8217, 0.6039, False),
    "V5E-MT-64B-8": (13.8622, 0.6021, False),
    "V5E-MT-64B-16": (13.8824, 0.6013, False),
    "V5E-MT-64B-32": (13.8925, 0.6008, False),
    "V5E-MT-128B-1": (15.3536, 0.5423, True),
    "V5E-MT-128B-2": (15.6766, 0.5311, True),
    "V5E-MT-128B-4": (15.8381, 0.5257, True),
    "V5E-MT-128B-8": (15.9188, 0.5230, True),
    "V5E-MT-128B-16": (15.9592, 0.5217, True),
    "V5E-MT-128B-32": (15.9794, 0.5210, True),
    "PALM-540B-2POD": (12.7997, 0.6357, True),
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
    assert (s.rows, s.simulated, s.failed, s.infeasible) == (25, 25, 0, 12)
    assert s.mean_abs_mfu_error_points == pytest.approx(3.7, abs=0.05)
    assert s.max_abs_mfu_error_points == pytest.approx(17.3, abs=0.05)  # PaLM 540B: 63.6% against 46.2%
    assert s.mean_mfu_error_points == pytest.approx(1.0, abs=0.05)
    assert (s.spearman_mfu, s.spearman_step_s) == (pytest.approx(0.56, abs=0.005), pytest.approx(0.82, abs=0.005))
    # Per-chip throughput falls with slices: published +11-21% step from 1 to 32 slices, predicted +0.7-4.1%.
    growth = {c.first_id: (round(100 * c.published_growth, 1), round(100 * c.predicted_growth, 1))
              for c in s.scaling}
    assert growth == {"V5E-MT-16B-1": (11.1, 0.7), "V5E-MT-32B-1": (10.9, 1.2), "V5E-MT-64B-1": (19.2, 2.3),
                      "V5E-MT-128B-1": (20.9, 4.1)}
