"""Training steps spanning islands over the DCN (a pipeline with stages on different islands, data
parallelism across islands), each against one island with as many chips.

Each layout is a training experiment: the model of the library, lowered under the layout's plan (its DCN
axes span the islands) and simulated by the same path as `pathsim run experiments/palm540b.yaml`: the
Pathways actors dispatch it, the engine times the computations from the kernel model and moves the
activations and gradients on the network (ICI inside an island, the hosts' NICs over the DCN).
"""

from __future__ import annotations

import pandas as pd

from pathsim.api import simulate_config
from pathsim.engine.timeline import union_length
from pathsim.studies.pathways.config import MultiIslandConfig


def section_rows(cfg: MultiIslandConfig, section: str) -> list[dict]:
    rows = []
    for name, exp, topo in cfg.experiments(section):
        res = simulate_config(exp, topo, record_links=False)
        tl, m = res.timeline, res.metrics
        dcn = [(s.start_s, s.end_s) for s in tl.spans if s.track == "dcn"]
        plan = exp.plan
        rows.append({
            "section": section, "layout": name, "islands": len(topo.islands), "chips": m.chips,
            "model": exp.model.name,
            "plan": " ".join(f"{net}.{k}={v}" for net, axes in (("ici", plan.ici), ("dcn", plan.dcn))
                             for k, v in axes.items()),
            "step_s": m.step_time_s, "tokens_per_s": m.tokens_per_s, "mfu": m.mfu,
            "exposed_ici_s": m.breakdown.exposed_ici_s, "exposed_dcn_s": m.breakdown.exposed_dcn_s,
            "dcn_busy_s": union_length(dcn),
            "dispatch": tl.dispatch.mode if tl.dispatch is not None else "",
            "scheduler_busy_s": max(tl.dispatch.scheduler_busy_s, default=0.0) if tl.dispatch is not None else 0.0})
    for row in rows:
        row["relative_throughput"] = row["tokens_per_s"] / rows[0]["tokens_per_s"]
    return rows


def run(cfg: MultiIslandConfig) -> pd.DataFrame:
    rows = []
    for section in ("pipeline", "data_parallel"):
        if getattr(cfg, section) is not None:
            rows += section_rows(cfg, section)
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> str:
    lines = []
    for _, row in df.iterrows():
        lines.append(f"{row.section} {row.layout} ({row.model}, {row.islands} island(s), {row.chips} chips, "
                     f"{row.plan}): step {row.step_s * 1e3:.1f} ms, MFU {row.mfu:.1%}, throughput "
                     f"{row.relative_throughput:.1%} of the first layout; exposed ICI {row.exposed_ici_s * 1e3:.1f} ms, "
                     f"DCN busy {row.dcn_busy_s * 1e3:.1f} ms, exposed DCN {row.exposed_dcn_s * 1e3:.1f} ms")
    return "\n".join(lines)
