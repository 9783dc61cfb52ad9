"""A sweep's best plans checked by the compiler (`pathsim sweep --verify xla`): the top K plans by the
lowered program's MFU compiled (`program: xla`), simulated as compiled and ranked again, so a user sees
where the fast lowering's ranking and the compiled programs disagree.

Compiles run in a process pool sized to the machine: no more at once than the cores and the available
memory allow (catalog XLA_COMPILE_PEAK_BYTES per compile); the on-disk compile cache makes a rerun fast.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pathsim.catalog.software import XLA_COMPILE_PEAK_BYTES
from pathsim.studies.whatif.backends import make_backend
from pathsim.studies.whatif.evaluate import Task, evaluate
from pathsim.studies.whatif.spec import Study

# What the verified table keeps of each side: the lowered row's and the compiled row's figures.
SIDE_COLUMNS = ("status", "reason", "step_time_s", "mfu", "hfu", "breakdown.exposed_ici_s",
                "breakdown.exposed_dcn_s", "memory.total_bytes")


@dataclass(frozen=True)
class Verified:
    table: pd.DataFrame  # one row per verified plan, lowered.* beside compiled.*, in the lowered order
    workers: int
    wall_s: float

    @property
    def spearman_mfu(self) -> float | None:
        """Rank agreement of the two MFUs over the plans that compiled and fit (None under 3 of them)."""
        both = self.table[self.table["compiled.status"] == "ok"]
        if len(both) < 3:
            return None
        return float(pd.to_numeric(both["lowered.mfu"]).rank().corr(pd.to_numeric(both["compiled.mfu"]).rank()))


def available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (Linux); None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def compile_workers(plans: int, requested: int | None = None) -> int:
    """How many compiles run at once: `requested`, else as many as the cores and the free memory hold."""
    if requested is not None:
        return max(1, min(requested, plans))
    free = available_bytes()
    by_memory = int(free // XLA_COMPILE_PEAK_BYTES.value) if free is not None else 1
    return max(1, min(plans, os.cpu_count() or 1, by_memory))


def verifiable(ranked: pd.DataFrame) -> pd.DataFrame:
    """The rows --verify may compile: plans that fit and were simulated, best first."""
    return ranked[(ranked["status"] == "ok") & ranked["simulated"].fillna(False).astype(bool)]


def verify_top(study: Study, ranked: pd.DataFrame, top: int, program: str = "xla",
               workers: int | None = None) -> Verified:
    """Compile and simulate the `top` best plans of `ranked` (a sweep's ranked rows) with `program`."""
    start = time.perf_counter()
    chosen = verifiable(ranked).head(top)
    points = {study.key(p): p for p in study.points}
    tasks = [Task(key=k, experiment=study.name, experiment_id=study.experiment_id, point=points[k],
                  base_exp=study.base_exp, base_topo=study.base_topo, experiment_path=study.experiment_path,
                  simulate=True, simulate_infeasible=True, program=program) for k in chosen["plan_key"]]
    n = compile_workers(len(tasks), workers)
    engine = make_backend("local", n)
    stopped = True
    try:
        compiled = {row["plan_key"]: row for row in engine.map_unordered(evaluate, tasks)}
        stopped = False
    finally:
        engine.close(now=stopped)
    table = _side_by_side(chosen, compiled)
    return Verified(table=table, workers=n, wall_s=time.perf_counter() - start)


def _side_by_side(chosen: pd.DataFrame, compiled: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for _, lowered in chosen.iterrows():
        mine = compiled.get(lowered["plan_key"], {})
        row = {"plan_key": lowered["plan_key"], "plan": lowered["plan"], "lowered.rank": int(lowered["rank"])}
        row.update({f"lowered.{c}": lowered.get(c) for c in SIDE_COLUMNS})
        row.update({f"compiled.{c}": mine.get(c) for c in SIDE_COLUMNS})
        row["compiled.memory.compiled_bytes"] = mine.get("memory.compiled_bytes")
        row["compiled.wall_s"] = mine.get("wall_s")
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table.assign(**{"compiled.rank": pd.Series(dtype="Int64")})
    ok = table["compiled.status"] == "ok"
    order = pd.to_numeric(table["compiled.mfu"].where(ok), errors="coerce").rank(ascending=False, method="first")
    return table.assign(**{"compiled.rank": order.astype("Int64")})


def verified_path(out: str | Path) -> Path:
    """Where the verified table goes: NAME_sweep_verified.csv beside the sweep's results file."""
    out = Path(out)
    return out.with_name(f"{out.stem}_verified.csv")
