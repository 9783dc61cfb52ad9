"""Metrics --report--> a readable text report and a JSON object."""

from __future__ import annotations

import dataclasses
import io
import math
from typing import Any

from rich.console import Console
from rich.table import Table

from pathsim.catalog.hardware import GIB
from pathsim.results.setup import chip_dict, chip_text, placement_dict, placement_text
from pathsim.results.simulation import SimulationResult


def result_dict(result: SimulationResult) -> dict[str, Any]:
    m, mem = result.metrics, result.memory
    return {  # the verdict first: a plan that does not fit is simulated, but cannot run
        "feasible": mem.feasible,
        "verdict": verdict(result),
        "experiment": result.label.name,
        "chips": m.chips,
        "step_time_s": m.step_time_s,
        "tokens_per_s": m.tokens_per_s,
        "mfu": m.mfu,
        "hfu": m.hfu,
        "model_flops_per_token": m.model_flops_per_token,
        "hardware_flops_per_token": m.hardware_flops_per_token,
        "breakdown": m.breakdown.as_dict(),
        "compute_by_phase_s": dict(m.compute_by_phase_s),
        "memory": mem.as_dict(),
        "cost_model": result.cost_model,
        "program": result.program_source,
        "xla_flags": ({"name": result.compile_flags.name, "flags": list(result.compile_flags.flags)}
                      if result.compile_flags else None),
        "notes": list(result.notes),
        "collective_check": result.collective_check.as_dict() if result.collective_check else None,
        "mode": result.mode,
        "goodput": result.goodput.as_dict() if result.goodput else None,
        "simulated_events": result.timeline.events_processed,
        "dispatch": dataclasses.asdict(result.timeline.dispatch) if result.timeline.dispatch else None,
        "overrides": dict(result.cluster.overrides),
        "chip": chip_dict(result.cluster.chip),
        "placement": placement_dict(result.placement),
        "replications": [dataclasses.asdict(r) for r in result.replications],
    }


def _gib(nbytes: float) -> str:
    return f"{nbytes / GIB:.2f} GiB"


def _seconds(value: float) -> str:
    """Below a nanosecond a time is float noise from summing and subtracting (5.5e-14 s of idle)."""
    return "0" if abs(value) < 1e-9 else f"{value:.4g}"


def verdict(result: SimulationResult) -> str:
    mem = result.memory
    whose = ("" if mem.compiled_bytes is None
             else f" (XLA's compiled step; pathsim's estimate {_gib(mem.total_bytes)})")
    if mem.feasible:
        return f"fits: {_gib(mem.deciding_bytes)} of {_gib(mem.hbm_bytes)} HBM per chip{whose}"
    return (f"does not fit: needs {_gib(mem.deciding_bytes)} per chip of {_gib(mem.hbm_bytes)} HBM{whose} "
            f"(simulated as if it fit)")


def suspect_lines(result: SimulationResult) -> list[str]:
    """An imported program whose collectives move far more or less than its plan implies was likely
    misread: said first, with the collectives to look at."""
    check = result.collective_check
    if check is None or not check.suspect:
        return []
    return [f"SUSPECT PROGRAM: collective bytes off the plan's by more than {check.factor:g}x "
            f"(pathsim.workload.xla.collective_check); the step below may be wrong:"] + \
        [f"  {row.text()}" for row in check.suspect]


def _shouted(text: str) -> str:
    return text.replace("does not fit:", "DOES NOT FIT:", 1)


def dispatch_text(d) -> str:
    """What the Pathways actors spent dispatching the step (see docs/pathways.md)."""
    ms = lambda seconds: f"{seconds * 1e3:.3g} ms"  # noqa: E731
    if not d.host_messages:
        return (f"dispatch ({d.mode}): each of {d.hosts} hosts dispatches its own shard, "
                f"{ms(d.host_busy_s / d.hosts)} of CPU; no gang scheduler")
    return (f"dispatch ({d.mode}): client {ms(d.client_busy_s)}, gang scheduler CPU per island "
            f"{', '.join(ms(s) for s in d.scheduler_busy_s)}, {d.host_messages} messages to {d.hosts} hosts")


def text_report(result: SimulationResult) -> str:
    label, m, mem = result.label, result.metrics, result.memory
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    islands = result.cluster.islands
    shape = "x".join(map(str, islands[0].shape))
    if not mem.feasible:  # first, before any figure: this plan cannot run as it is
        console.print(_shouted(verdict(result)))
    for line in suspect_lines(result):
        console.print(line)
    console.print(f"[b]{label.name}[/b]: {label.description}" if label.description else label.name)
    console.print(f"{m.chips} {result.cluster.chip.name} chips in {len(islands)} island(s) of {shape}; "
                  f"plan {label.plan_text}; "
                  f"remat {label.remat_text}; dispatch {label.dispatch}")
    console.print(f"program: {result.program_source} ({result.program_ops} ops); op costs: {result.cost_model}; "
                  f"simulation: {result.mode}")
    console.print(chip_text(result.cluster.chip))
    if result.cluster.overrides:
        console.print(f"what-if overrides: {dict(result.cluster.overrides)}")
    console.print(placement_text(result.placement))
    for note in (*result.notes, *(r.note for r in result.replications)):
        console.print(note)
    summary = Table(title="Step", show_header=False)
    summary.add_row("step time", f"{m.step_time_s:.4g} s")
    summary.add_row("tokens/s", f"{m.tokens_per_s:,.0f}")
    summary.add_row("MFU", f"{100 * m.mfu:.1f}%  (model FLOPs {m.model_flops_per_token:.4g} per token)")
    summary.add_row("HFU", f"{100 * m.hfu:.1f}%  (with remat {m.hardware_flops_per_token:.4g} per token)")
    console.print(summary)
    if result.timeline.dispatch is not None:
        console.print(dispatch_text(result.timeline.dispatch))
    breakdown = Table(title="Where the step goes (mean over device groups)")
    breakdown.add_column("category")
    breakdown.add_column("seconds", justify="right")
    breakdown.add_column("share", justify="right")
    for key, value in m.breakdown.as_dict().items():
        breakdown.add_row(key.removesuffix("_s").replace("_", " "), _seconds(value), f"{100 * value / m.step_time_s:.1f}%")
    for phase, value in m.compute_by_phase_s:
        breakdown.add_row(f"  compute: {phase}", _seconds(value), f"{100 * value / m.step_time_s:.1f}%")
    console.print(breakdown)
    memory = Table(title="Memory per chip")
    memory.add_column("category")
    memory.add_column("size", justify="right")
    for key, value in mem.as_dict().items():
        if key not in ("hbm_bytes", "total_bytes", "offloaded_bytes", "compiled_bytes"):
            memory.add_row(key.removesuffix("_bytes"), _gib(value))
    memory.add_row("total (pathsim's estimate)" if mem.compiled_bytes is not None else "total", _gib(mem.total_bytes))
    if mem.compiled_bytes is not None:
        memory.add_row("XLA's compiled step", _gib(mem.compiled_bytes))
    memory.add_row("HBM", _gib(mem.hbm_bytes))
    if mem.offloaded_bytes:
        memory.add_row("offloaded to host (not in HBM)", _gib(mem.offloaded_bytes))
    console.print(memory)
    console.print(_shouted(verdict(result)))
    if result.goodput is not None:
        g = result.goodput
        days = 86400.0
        mtbf = "no failures" if math.isinf(g.mtbf_s) else f"MTBF {g.mtbf_s / 3600:.2f} h"
        console.print(f"failures: {mtbf}; goodput {100 * g.goodput:.1f}% (closed form), "
                      f"{100 * g.simulated_goodput:.1f}% (simulated run, {g.simulated_failures} failures); "
                      f"time to train {g.time_to_train_s / days:.2f} days (failure-free {g.useful_s / days:.2f})")
    return out.getvalue()
