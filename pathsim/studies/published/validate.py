"""Published runs --simulate--> predicted beside published, per row, and the summary of the errors.

One FLOP convention for every MFU: pathsim's model FLOPs, 6N + 12 L H Q T per token (N every parameter,
the embedding included; attention without the causal halving), over the chip's peak. It is the count of
MaxText's TFLOP/s and of PaLM's MFU; the published MFU is recomputed from the published step time under it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from scipy.stats import spearmanr

from pathsim.api import simulate_config
from pathsim.catalog.hardware import chip_spec
from pathsim.errors import ConfigError
from pathsim.studies.published.experiment import column_of, experiment_for
from pathsim.studies.published.runs import PublishedRun, RowError
from pathsim.studies.whatif.backends import make_backend
from pathsim.workload.model import model_flops_per_token

FLOP_CONVENTION = ("model FLOPs 6N + 12 L H Q T per token (N all parameters, embedding included; attention "
                   "without the causal halving) over the chip's peak bf16 FLOP/s: MaxText's and PaLM's count")


@dataclass(frozen=True)
class RowResult:
    """One row: published and (unless the row failed) predicted. MFUs are fractions, times seconds."""

    row: int
    id: str
    chip: str
    chips: int | None
    slices: int | None
    published_step_s: float | None
    published_mfu: float | None  # recomputed from the published step under FLOP_CONVENTION
    reported_mfu: float | None  # the source's own figure
    predicted_step_s: float | None = None
    predicted_mfu: float | None = None
    predicted_hfu: float | None = None
    exposed_dcn_s: float | None = None
    fits: bool | None = None
    hbm_used_bytes: float | None = None
    hbm_bytes: float | None = None
    error: str | None = None  # "column: message" when the row could not be run

    @property
    def simulated(self) -> bool:
        return self.predicted_step_s is not None

    @property
    def mfu_error_points(self) -> float | None:
        """Predicted minus published MFU, in percentage points."""
        if self.predicted_mfu is None or self.published_mfu is None:
            return None
        return 100.0 * (self.predicted_mfu - self.published_mfu)

    @property
    def step_error(self) -> float | None:
        """Predicted over published step time, minus 1."""
        if self.predicted_step_s is None or self.published_step_s is None:
            return None
        return self.predicted_step_s / self.published_step_s - 1.0


def _published(run: PublishedRun, row: int, error: str | None = None) -> RowResult:
    chips = run.slices * math.prod(run.shape)
    tokens = run.global_batch_seqs * run.seq_len
    try:
        exp, _ = experiment_for(run)
        peak = chip_spec(run.chip).peak_bf16_flops_per_s
        mfu = tokens * model_flops_per_token(exp.model) / (chips * peak * run.step_s_derived)
    except ConfigError:  # the row's error is found again, with its column, when it is simulated
        mfu = None
    return RowResult(row=row, id=run.id, chip=run.chip, chips=chips, slices=run.slices,
                     published_step_s=run.step_s_derived, published_mfu=mfu, reported_mfu=run.reported_mfu,
                     error=error)


def simulate_run(item: tuple[int, PublishedRun, str]) -> RowResult:
    """Simulate one run (a pool worker's task); bad input becomes the row's error, never an exception."""
    row, run, program = item
    published = _published(run, row)
    try:
        exp, topo = experiment_for(run, program)
        result = simulate_config(exp, topo, record_links=False)
    except ConfigError as exc:
        return replace(published, error=f"{column_of(exc.field)}: {exc.message}")
    metrics, memory = result.metrics, result.memory
    return replace(published, predicted_step_s=float(metrics.step_time_s), predicted_mfu=float(metrics.mfu),
                   predicted_hfu=float(metrics.hfu), exposed_dcn_s=float(metrics.breakdown.exposed_dcn_s),
                   fits=bool(memory.feasible), hbm_used_bytes=float(memory.deciding_bytes),
                   hbm_bytes=float(memory.hbm_bytes))


def failed_row(error: RowError) -> RowResult:
    return RowResult(row=error.row, id=error.id, chip="", chips=None, slices=None, published_step_s=None,
                     published_mfu=None, reported_mfu=None, error=f"{error.column}: {error.message}")


def run_rows(rows: Iterable[PublishedRun | RowError], program: str = "lowered", workers: int | None = None,
             on_done: Callable[[int], None] = lambda n: None) -> list[RowResult]:
    """Every row, in file order: bad rows as they are, the others simulated in a process pool (the sweep's;
    one worker per core unless `workers` says), the longest first."""
    rows = list(rows)
    results: dict[int, RowResult] = {}
    tasks = []
    for i, row in enumerate(rows, start=1):
        if isinstance(row, RowError):
            results[i] = failed_row(row)
            on_done(1)
        else:
            tasks.append((i, row, program))
    tasks.sort(key=lambda t: t[1].n_layers * t[1].slices, reverse=True)
    backend = make_backend("local", workers if workers is not None else max(1, min(len(tasks), os.cpu_count() or 1)))
    try:
        for result in backend.map_unordered(simulate_run, tasks):
            results[result.row] = result
            on_done(1)
        backend.close()
    except BaseException:
        backend.close(now=True)
        raise
    return [results[i] for i in sorted(results)]


@dataclass(frozen=True)
class ScalingCheck:
    """Runs of one model and per-slice plan at several slice counts: how the step grows with slices."""

    first_id: str
    last_id: str
    slices_from: int
    slices_to: int
    published_growth: float  # step at slices_to over step at slices_from, minus 1
    predicted_growth: float


@dataclass(frozen=True)
class Summary:
    rows: int
    simulated: int
    failed: int
    infeasible: int
    mean_abs_mfu_error_points: float | None
    max_abs_mfu_error_points: float | None
    mean_mfu_error_points: float | None  # signed: > 0 when pathsim predicts more than was published
    mean_abs_step_error: float | None
    spearman_mfu: float | None  # rank correlation of predicted and published MFU over the simulated rows
    spearman_step_s: float | None
    scaling: tuple[ScalingCheck, ...]


def _spearman(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3:
        return None
    rho = spearmanr(xs, ys).statistic
    return None if math.isnan(rho) else float(rho)


def scaling_checks(runs: list[PublishedRun], results: list[RowResult]) -> tuple[ScalingCheck, ...]:
    """Rows that differ only in their slice count (same chip, model, slice, per-slice plan and batch),
    from the fewest slices to the most."""
    by_id = {r.id: r for r in results if r.simulated}
    groups: dict[tuple, list[PublishedRun]] = {}
    for run in runs:
        if run.id in by_id:
            key = tuple(v for k, v in run.model_dump().items() if k not in _PER_RUN) + (
                run.global_batch_seqs / run.slices,)
            groups.setdefault(key, []).append(run)
    checks = []
    for members in groups.values():
        if len({m.slices for m in members}) < 2:
            continue
        lo, hi = min(members, key=lambda m: m.slices), max(members, key=lambda m: m.slices)
        a, b = by_id[lo.id], by_id[hi.id]
        checks.append(ScalingCheck(lo.id, hi.id, lo.slices, hi.slices,
                                   b.published_step_s / a.published_step_s - 1.0,
                                   b.predicted_step_s / a.predicted_step_s - 1.0))
    return tuple(checks)


# Columns that differ between runs of one scaling series (or carry no meaning for it).
_PER_RUN = {"id", "chips", "slices", "dcn_data", "global_batch_seqs", "reported_tflops_per_chip", "reported_mfu",
            "reported_hfu", "step_s_derived", "source"}


def summarize(runs: list[PublishedRun], results: list[RowResult]) -> Summary:
    done = [r for r in results if r.simulated]
    errs = [r.mfu_error_points for r in done if r.mfu_error_points is not None]
    steps = [abs(r.step_error) for r in done if r.step_error is not None]
    with_pub = [r for r in done if r.published_mfu is not None]
    return Summary(
        rows=len(results), simulated=len(done), failed=sum(r.error is not None for r in results),
        infeasible=sum(r.fits is False for r in done),
        mean_abs_mfu_error_points=sum(map(abs, errs)) / len(errs) if errs else None,
        max_abs_mfu_error_points=max(map(abs, errs)) if errs else None,
        mean_mfu_error_points=sum(errs) / len(errs) if errs else None,
        mean_abs_step_error=sum(steps) / len(steps) if steps else None,
        spearman_mfu=_spearman([r.predicted_mfu for r in with_pub], [r.published_mfu for r in with_pub]),
        spearman_step_s=_spearman([r.predicted_step_s for r in done], [r.published_step_s for r in done]),
        scaling=scaling_checks(runs, results),
    )
