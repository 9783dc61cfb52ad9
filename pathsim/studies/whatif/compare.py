"""Experiments side by side: step time, MFU, HFU, breakdown and memory, and what differs between them."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pathsim.api import simulate_config
from pathsim.catalog.hardware import GIB
from pathsim.config.experiment import ExperimentConfig, load_experiment
from pathsim.errors import ConfigError
from pathsim.results.simulation import SimulationResult


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings (and lists) -> {dotted.path: leaf}."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    if not out and prefix:
        out[prefix] = value  # an empty mapping is still a setting
    return out


def _settings(experiment: ExperimentConfig, topo: dict[str, Any]) -> dict[str, Any]:
    exp = experiment.model_dump(mode="json")
    exp.pop("name")
    exp.pop("description")
    exp.pop("topology")  # compared by content below, not by path
    return {**flatten(exp), **flatten(topo, "topology")}


def differences(settings: Sequence[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    paths = sorted(set().union(*settings))
    return [(p, [s.get(p, "-") for s in settings]) for p in paths if len({repr(s.get(p, "-")) for s in settings}) > 1]


def metrics_table(results: Sequence[SimulationResult], labels: Sequence[str]) -> pd.DataFrame:
    """Rows: figures; columns: experiments."""
    table: dict[str, dict[str, Any]] = {}
    for label, r in zip(labels, results):
        m, mem = r.metrics, r.memory
        col: dict[str, Any] = {
            "chips": m.chips, "chip": r.cluster.chip.name,
            "plan": f"ici={dict(r.label.plan.ici)} dcn={dict(r.label.plan.dcn)}",
            "step time (s)": m.step_time_s, "tokens/s": m.tokens_per_s, "MFU": m.mfu, "HFU": m.hfu,
        }
        col.update({f"{k.removesuffix('_s').replace('_', ' ')} (s)": v for k, v in m.breakdown.as_dict().items()})
        col.update({f"memory {k.removesuffix('_bytes')} (GiB)": v / GIB for k, v in mem.as_dict().items()})
        col["fits in HBM"] = mem.feasible
        table[label] = col
    return pd.DataFrame(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"
    return str(value)


def compare_paths(paths: Sequence[str | Path], program: str | None = None,
                  ) -> tuple[pd.DataFrame, list[tuple[str, list[Any]]], list[str]]:
    """`program` ("lowered" or "xla"), when given, replaces each experiment's own."""
    if len(paths) < 2:
        raise ConfigError("compare", "give at least two experiment files")
    results, settings, labels = [], [], []
    for path in paths:
        exp, topo = load_experiment(path)
        if program is not None:
            exp = exp.model_copy(update={"program": program})
        result = simulate_config(exp, topo, base_dir=Path(path).parent, record_links=False)
        results.append(result)
        settings.append(_settings(exp, topo.model_dump(mode="json")))
        label = exp.name
        labels.append(label if label not in labels else f"{label} ({path})")
    return metrics_table(results, labels), differences(settings), labels


def render(table: pd.DataFrame, diffs: list[tuple[str, list[Any]]], labels: list[str]) -> str:
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=False, force_jupyter=False,
                      color_system=None)
    side = Table(title="Side by side")
    side.add_column("")
    for label in labels:
        side.add_column(label, justify="right")
    for figure, row in table.iterrows():
        cells = [f"{100 * v:.1f}%" if figure in ("MFU", "HFU") else _fmt(v) for v in row]
        side.add_row(str(figure), *cells)
    console.print(side)
    diff = Table(title="What differs")
    diff.add_column("setting")
    for label in labels:
        diff.add_column(label, justify="right")
    for path, values in diffs:
        diff.add_row(path, *map(str, values))
    if diffs:
        console.print(diff)
    else:
        console.print("The experiments have the same settings.")
    return out.getvalue()
