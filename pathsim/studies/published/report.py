"""Validation results --report--> a printed table, one JSON object, a CSV of the rows, a scatter plot."""

from __future__ import annotations

import io
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import pandas as pd

from pathsim.catalog.hardware import GIB
from pathsim.studies.published.validate import FLOP_CONVENTION, RowResult, Summary

ROW_COLUMNS = tuple(f.name for f in fields(RowResult)) + ("step_error", "mfu_error_points")


def rows_frame(results: list[RowResult]) -> pd.DataFrame:
    """One flat row per published run (for --csv): every RowResult field and both errors."""
    return pd.DataFrame([{**asdict(r), "step_error": r.step_error, "mfu_error_points": r.mfu_error_points}
                         for r in results], columns=list(ROW_COLUMNS))


def result_json(results: list[RowResult], summary: Summary, program: str, runs: str) -> dict[str, Any]:
    frame = rows_frame(results).astype(object)
    return {"runs": runs, "program": program, "flop_convention": FLOP_CONVENTION,
            "summary": {**{k: v for k, v in asdict(summary).items() if k != "scaling"},
                        "scaling": [asdict(s) for s in summary.scaling]},
            "rows": frame.where(frame.notna(), None).to_dict(orient="records")}  # JSON null, never NaN


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def text_report(results: list[RowResult], summary: Summary, program: str, runs: str) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Published runs ({runs}), {program} program", title_justify="left")
    for name in ("id", "chips", "step s pred", "step s pub", "step err", "MFU pred", "MFU pub", "MFU err pts",
                 "HBM GiB", "fits", "exposed DCN s"):
        table.add_column(name, justify="left" if name == "id" else "right")
    for r in results:
        if r.error is not None:
            table.add_row(r.id, _num(r.chips, "d"), "[red]error[/red]", *["-"] * 8)
            continue
        table.add_row(r.id, _num(r.chips, "d"), _num(r.predicted_step_s, ".2f"), _num(r.published_step_s, ".2f"),
                      _num(None if r.step_error is None else 100 * r.step_error, "+.1f") + "%",
                      _num(None if r.predicted_mfu is None else 100 * r.predicted_mfu, ".1f") + "%",
                      _num(None if r.published_mfu is None else 100 * r.published_mfu, ".1f") + "%",
                      _num(r.mfu_error_points, "+.1f"),
                      _num(None if r.hbm_used_bytes is None else r.hbm_used_bytes / GIB, ".1f"),
                      {True: "yes", False: "[red]no[/red]", None: "-"}[r.fits], _num(r.exposed_dcn_s, ".3f"))
    s = summary
    lines = [f"error: row {r.row} ({r.id}), {r.error}" for r in results if r.error is not None] + [
        f"MFU: {FLOP_CONVENTION}; published MFU recomputed from the published step time.",
        f"rows {s.rows}: {s.simulated} simulated, {s.failed} failed, {s.infeasible} predicted not to fit in HBM",
        f"|MFU error|: mean {_num(s.mean_abs_mfu_error_points, '.1f')} points, max "
        f"{_num(s.max_abs_mfu_error_points, '.1f')}; signed mean {_num(s.mean_mfu_error_points, '+.1f')} points "
        "(> 0: pathsim predicts more than was published)",
        f"|step time error|: mean {_num(None if s.mean_abs_step_error is None else 100 * s.mean_abs_step_error, '.1f')}%",
        f"rank correlation (Spearman) of predicted and published: MFU {_num(s.spearman_mfu, '.2f')}, step time "
        f"{_num(s.spearman_step_s, '.2f')}",
    ]
    for c in s.scaling:
        lines.append(f"step growth {c.first_id} -> {c.last_id} ({c.slices_from} -> {c.slices_to} slices): "
                     f"published {100 * c.published_growth:+.1f}%, predicted {100 * c.predicted_growth:+.1f}%")
    buffer = io.StringIO()
    Console(file=buffer, width=140, force_terminal=False, color_system=None).print(table)
    return buffer.getvalue() + "\n".join(lines) + "\n"


def plot(results: list[RowResult], path: str | Path, field: str = "--plot") -> Path:
    """Predicted against published MFU and step time, one point per simulated row, with the line y = x."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    from pathsim.studies.whatif.plots import save

    done = [r for r in results if r.simulated and r.published_mfu is not None]
    fig, (ax_mfu, ax_step) = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, get, label in ((ax_mfu, lambda r: (100 * r.published_mfu, 100 * r.predicted_mfu), "MFU (%)"),
                           (ax_step, lambda r: (r.published_step_s, r.predicted_step_s), "step time (s)")):
        for chip in sorted({r.chip for r in done}):
            points = [get(r) for r in done if r.chip == chip]
            ax.scatter([p[0] for p in points], [p[1] for p in points], label=chip, s=28)
        values = [v for r in done for v in get(r)]
        if values:
            lo, hi = min(values) * 0.95, max(values) * 1.05
            ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8, linestyle="--", label="y = x")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
        ax.set_xlabel(f"published {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.legend(fontsize="small")
    ax_mfu.set_title("MFU, one FLOP convention")
    ax_step.set_title("step time")
    return save(ax_mfu, path, field)
