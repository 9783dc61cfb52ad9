"""Several clients sharing an island: aggregate throughput, proportional shares, HBM back-pressure."""

from __future__ import annotations

import pandas as pd

from pathsim.engine.pathways import ResourceManager, run_tenancy
from pathsim.engine.pathways.specs import ClientSpec, TenancySpec
from pathsim.studies.pathways.config import MultiTenancyConfig


def _hosts(cfg: MultiTenancyConfig) -> int:
    """Every client gets the same virtual slice, mapped onto the island's devices, which they time-share."""
    rm = ResourceManager((tuple(cfg.island),), cfg.chip_spec().chips_per_host)
    shape = tuple(cfg.client_slice or cfg.island)
    return len(rm.allocate(shape, "client_slice").hosts)


def _spec(cfg: MultiTenancyConfig, clients: tuple[ClientSpec, ...], policy: str, window) -> TenancySpec:
    return TenancySpec(hosts=_hosts(cfg), hbm_bytes=cfg.chip_spec().hbm_bytes, clients=clients, policy=policy,
                       horizon_s=window.horizon_s, warmup_s=window.warmup_s, latencies=cfg.runtime_latencies())


def run(cfg: MultiTenancyConfig) -> pd.DataFrame:
    _hosts(cfg)  # a slice no island holds is refused before anything runs
    rows = []
    if (sweep := cfg.throughput) is not None:
        for program_s in sweep.program_times_s:
            for n in sweep.clients:
                clients = tuple(ClientSpec(1.0, program_s, sweep.outstanding) for _ in range(n))
                res = run_tenancy(_spec(cfg, clients, cfg.policy, sweep))
                rows.append({"section": "throughput", "policy": cfg.policy, "clients": n, "program_s": program_s,
                             "programs_per_s": res.programs_per_s, "utilization": res.utilization})
    if (sweep := cfg.shares) is not None:
        for weights in sweep.weights:
            clients = tuple(ClientSpec(w, sweep.program_s, sweep.outstanding) for w in weights)
            res = run_tenancy(_spec(cfg, clients, "proportional", sweep))
            label = ":".join(f"{w:g}" for w in weights)
            for i, w in enumerate(weights):
                expected = w / sum(weights)
                rows.append({"section": "shares", "policy": "proportional", "weights": label, "client": i,
                             "weight": w, "share": res.device_share[i], "expected_share": expected,
                             "share_error": res.device_share[i] / expected - 1, "utilization": res.utilization})
    if (sweep := cfg.backpressure) is not None:
        hbm = cfg.chip_spec().hbm_bytes
        for fraction in sweep.hbm_fractions:
            clients = tuple(ClientSpec(1.0, sweep.program_s, sweep.outstanding, fraction * hbm)
                            for _ in range(sweep.clients))
            res = run_tenancy(_spec(cfg, clients, cfg.policy, sweep))
            rows.append({"section": "backpressure", "policy": cfg.policy, "clients": sweep.clients,
                         "program_s": sweep.program_s, "hbm_fraction": fraction,
                         "programs_per_s": res.programs_per_s, "utilization": res.utilization,
                         "hbm_stalled_s": res.hbm_stalled_s})
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> str:
    def section(name: str) -> pd.DataFrame:  # a sweep not run has no rows, and its columns may be absent
        return df[df.section == name] if len(df) else df

    lines = []
    tp = section("throughput")
    if len(tp):
        lines.append("aggregate programs/s by clients (rows) and program time (columns):")
        tp = tp.astype({"clients": int})
        lines.append(tp.pivot(index="clients", columns="program_s", values="programs_per_s").round(0).to_string())
        lines.append("device utilization:")
        lines.append(tp.pivot(index="clients", columns="program_s", values="utilization").round(3).to_string())
    shares = section("shares")
    for label, group in (shares.groupby("weights", sort=False) if len(shares) else []):
        share_text = ", ".join(f"{s:.4f}" for s in group.share)
        expected = ", ".join(f"{s:.4f}" for s in group.expected_share)
        lines.append(f"weights {label}: device-time shares {share_text} (expected {expected}; worst relative "
                     f"error {group.share_error.abs().max():.2%})")
    for _, row in section("backpressure").iterrows():
        lines.append(f"{int(row.clients)} clients holding {row.hbm_fraction:.0%} of HBM per program: "
                     f"{row.programs_per_s:.0f} programs/s, utilization {row.utilization:.3f}, "
                     f"stalled on HBM {row.hbm_stalled_s * 1e3:.2f} ms")
    return "\n".join(lines)
