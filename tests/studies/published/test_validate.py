"""Simulating published runs and summarising the errors."""

from __future__ import annotations

import pytest

from pathsim.studies.published.runs import DEFAULT_RUNS, PublishedRun, read_runs
from pathsim.studies.published.validate import RowResult, run_rows, summarize
from tests.studies.published.conftest import tiny_run, write_runs


def test_two_runs_are_simulated_and_compared(two_runs):
    runs = read_runs(two_runs)
    done = []
    results = run_rows(runs, workers=1, on_done=done.append)
    assert [r.id for r in results] == ["TINY-1", "TINY-2"] and sum(done) == 2
    one, two = results
    assert one.error is None and one.simulated and one.fits is True
    assert one.published_step_s == 0.05 and one.chips == 16 and two.chips == 32
    assert one.exposed_dcn_s == 0.0 and two.exposed_dcn_s > 0.0  # one slice has no DCN
    # The published MFU under pathsim's FLOP count, from the published step: tokens x 6N+12LHQT / peak chip-s.
    assert one.published_mfu == pytest.approx(one.predicted_mfu * one.predicted_step_s / 0.05, rel=1e-9)
    assert one.mfu_error_points == pytest.approx(100 * (one.predicted_mfu - one.published_mfu))
    summary = summarize(runs, results)
    assert (summary.rows, summary.simulated, summary.failed) == (2, 2, 0)
    assert summary.spearman_mfu is None  # fewer than 3 rows: no rank correlation
    (check,) = summary.scaling
    assert (check.first_id, check.last_id, check.slices_from, check.slices_to) == ("TINY-1", "TINY-2", 1, 2)
    assert check.published_growth == pytest.approx(0.06 / 0.05 - 1)
    assert check.predicted_growth == pytest.approx(two.predicted_step_s / one.predicted_step_s - 1)


def test_a_bad_row_is_reported_on_its_row_and_the_others_run(tmp_path):
    path = write_runs(tmp_path / "runs.csv", [
        tiny_run(), tiny_run(id="BAD-VALUE", d_model="wide"), tiny_run(id="BAD-BATCH", global_batch_seqs=24, per_chip_batch=""),
        tiny_run(id="BAD-REMAT", remat_policy="offloaded")])
    results = run_rows(read_runs(path), workers=1)
    assert [r.id for r in results] == ["TINY-1", "BAD-VALUE", "BAD-BATCH", "BAD-REMAT"]
    assert results[0].simulated and not any(r.simulated for r in results[1:])
    assert results[1].error.startswith("d_model: ")
    # Found when the plan is lowered (training.global_batch_seqs), named by its column.
    assert results[2].error.startswith("global_batch_seqs: 24 sequences do not split over")
    assert results[3].error.startswith("remat_policy: unknown value 'offloaded'")
    summary = summarize([r for r in read_runs(path) if isinstance(r, PublishedRun)], results)
    assert (summary.simulated, summary.failed) == (1, 3)


def _row(i: int, pred_mfu: float, pub_mfu: float, fits: bool = True) -> RowResult:
    return RowResult(row=i, id=f"R{i}", chip="tpu_v5e", chips=256, slices=1, published_step_s=1 / pub_mfu,
                     published_mfu=pub_mfu, reported_mfu=pub_mfu, predicted_step_s=1 / pred_mfu,
                     predicted_mfu=pred_mfu, predicted_hfu=pred_mfu, fits=fits)


def test_summary_by_hand():
    # Errors +2, -4, +5 points: mean |e| 11/3, max 5, signed mean 1. Ranks of predicted (0.52, 0.46, 0.65)
    # and published (0.50, 0.50, 0.60) agree on the top, tie below: Spearman 0.866.
    results = [_row(1, 0.52, 0.50), _row(2, 0.46, 0.50, fits=False), _row(3, 0.65, 0.60)]
    s = summarize([], results)
    assert (s.rows, s.simulated, s.failed, s.infeasible) == (3, 3, 0, 1)
    assert s.mean_abs_mfu_error_points == pytest.approx(11 / 3)
    assert s.max_abs_mfu_error_points == pytest.approx(5)
    assert s.mean_mfu_error_points == pytest.approx(1)
    assert s.spearman_mfu == pytest.approx(0.8660254)
    assert s.spearman_step_s == pytest.approx(0.8660254)


def test_published_mfu_under_one_convention_is_the_sources_own():
    """The shipped rows' MFU recomputed from their step times under pathsim's FLOP count agrees with what
    the sources printed (MaxText's TFLOP/s over 197; PaLM's 46.2%): the count is the same."""
    from pathsim.studies.published.validate import _published

    for i, run in enumerate(read_runs(DEFAULT_RUNS), start=1):
        row = _published(run, i)
        assert row.published_mfu == pytest.approx(run.reported_mfu, abs=0.003), run.id
