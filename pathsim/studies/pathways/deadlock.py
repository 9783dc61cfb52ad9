"""Two programs that communicate, with and without the island's gang scheduler."""

from __future__ import annotations

import pandas as pd

from pathsim.engine.pathways import run_deadlock
from pathsim.engine.pathways.specs import DeadlockSpec
from pathsim.studies.pathways.config import DeadlockConfig


def run(cfg: DeadlockConfig) -> pd.DataFrame:
    rows = []
    for scheduler in cfg.schedulers:
        spec = DeadlockSpec(hosts=cfg.hosts, clients=cfg.clients, computation_s=cfg.computation_s,
                            gang_scheduler=scheduler == "gang", latencies=cfg.runtime_latencies())
        res = run_deadlock(spec)
        rep = res.report
        rows.append({"scheduler": scheduler, "deadlocked": rep is not None, "completed": res.completed,
                     "programs": res.total, "end_s": res.end_s,
                     "computations": " ".join(rep.computations) if rep else "",
                     "devices": " ".join(rep.devices) if rep else "",
                     "report": rep.describe() if rep else ""})
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> str:
    lines = []
    for _, row in df.iterrows():
        what = row.report if row.deadlocked else f"all {row.programs} programs completed at {row.end_s * 1e3:.3f} ms"
        lines.append(f"scheduler={row.scheduler}: {what}")
    return "\n".join(lines)
