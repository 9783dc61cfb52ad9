"""Dispatch throughput against hosts for each mode, and the smallest computation time at which Pathways
matches multi-controller JAX."""

from __future__ import annotations

import math

import pandas as pd

from pathsim.engine.pathways import run_dispatch
from pathsim.engine.pathways.specs import DispatchSpec
from pathsim.studies.pathways.config import DispatchConfig, ThresholdConfig
from pathsim.studies.pathways.costs import balanced_shape, benchmark_computation_s, island

CHAINED = ("pathways_chained", "pathways_fused", "jax_fused")


def _rate(cfg: DispatchConfig, mode: str, hosts: int, computation_s: float, calls: int | None = None) -> float:
    if calls is None:
        calls = cfg.calls if mode in CHAINED else cfg.opbyop_calls
    spec = DispatchSpec(mode=mode, hosts=hosts, computation_s=computation_s, calls=calls,
                        chain_length=cfg.chain_length, latencies=cfg.runtime_latencies())
    return run_dispatch(spec).computations_per_s


def throughput_rows(cfg: DispatchConfig) -> list[dict]:
    chip, lat = cfg.chip_spec(), cfg.runtime_latencies()
    rows = []
    for i, hosts in enumerate(cfg.hosts):
        field = f"hosts.{i}"
        isl = island(balanced_shape(hosts * chip.chips_per_host, chip.torus_dims, field), chip, field)
        comp_s = benchmark_computation_s(isl, chip, lat)
        for mode in cfg.modes:
            rows.append({"section": "throughput", "mode": mode, "hosts": hosts, "chips": isl.chips,
                         "slice": "x".join(map(str, isl.shape)), "computation_s": comp_s,
                         "computations_per_s": _rate(cfg, mode, hosts, comp_s)})
    return rows


def threshold_s(cfg: DispatchConfig, th: ThresholdConfig, hosts: int) -> float:
    """Bisection on a log scale between 1 us and 10 s: the smallest computation time at which the
    Pathways mode reaches (1 - tolerance) of the baseline's throughput."""
    def matches(t: float) -> bool:
        return (_rate(cfg, th.pathways, hosts, t, th.calls)
                >= (1 - th.tolerance) * _rate(cfg, th.baseline, hosts, t, th.calls))

    lo, hi = 1e-6, 10.0
    if matches(lo):
        return lo
    if not matches(hi):
        return math.nan
    for _ in range(18):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if matches(mid) else (mid, hi)
    return hi


def threshold_rows(cfg: DispatchConfig) -> list[dict]:
    th = cfg.threshold
    rows = []
    for i, point in enumerate(th.points):
        field = f"threshold.points.{i}"
        pcfg = cfg.model_copy(update={"chips_per_host": point.chips_per_host})
        chip = pcfg.chip_spec()
        isl = island(balanced_shape(point.hosts * point.chips_per_host, chip.torus_dims, field), chip, field)
        value = threshold_s(pcfg, th, point.hosts)
        paper = point.paper_s if point.paper_s is not None else math.nan
        rows.append({"section": "threshold", "mode": f"{th.pathways} vs {th.baseline}", "hosts": point.hosts,
                     "chips": isl.chips, "slice": "x".join(map(str, isl.shape)), "threshold_s": value,
                     "paper_s": paper, "ratio_to_paper": value / paper})
    return rows


def run(cfg: DispatchConfig) -> pd.DataFrame:
    rows = throughput_rows(cfg)
    if cfg.threshold is not None:
        rows += threshold_rows(cfg)
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> str:
    lines = []
    tp = df[df.section == "throughput"]
    if len(tp):
        table = tp.astype({"chips": int}).pivot(index="chips", columns="mode", values="computations_per_s")
        lines.append("computations/s by chips (rows) and mode (columns):")
        lines.append(table.round(0).to_string())
    for _, row in df[df.section == "threshold"].iterrows():
        head = f"{row['mode']} at {row.hosts} hosts / {row.chips} chips:"
        if not math.isfinite(row.threshold_s):  # the bisection's nan: no match up to its 10 s bound
            lines.append(f"{head} does not match at any computation time up to 10 s")
            continue
        paper = (f" (paper {row.paper_s * 1e3:.1f} ms, ratio {row.ratio_to_paper:.2f})"
                 if math.isfinite(row.paper_s) else "")
        lines.append(f"{head} matches from {row.threshold_s * 1e3:.2f} ms per computation{paper}")
    return "\n".join(lines)
