"""Plan search: the best plan for PaLM 540B on 6144 TPU v4 chips at batch 2048.

Every factorization of a pod's 3072 chips into tensor x FSDP x data x pipeline, of the 2 pods into DCN
data / FSDP / pipeline, x micro-batches {1..32} x remat {none, full, palm}: each screened analytically
(shape checks, memory against 32 GiB HBM, step-time estimate), and the best N that fit simulated.
Prints the candidate count, wall time, the best plans, and how far the screen is from the simulation.

    .venv/bin/python bench/bench_plan_search.py [--shortlist N] [--workers N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench_sweep import cpu_s, machine

from pathsim.studies.whatif import load_study, run_study

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shortlist", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    cpu0, t0 = cpu_s(), time.perf_counter()
    study = load_study(REPO / "experiments" / "palm540b.yaml", all_plans_=True, shortlist=args.shortlist)
    with tempfile.TemporaryDirectory() as tmp:
        frame, stats = run_study(study, Path(tmp) / "search.parquet", workers=args.workers,
                                 progress=sys.stderr.isatty())
    wall = time.perf_counter() - t0
    counts = frame["status"].value_counts()
    print(f"machine: {machine()}")
    print(f"candidates: {stats.plans} = " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "out_of_memory", "invalid", "error")))
    print(f"wall: {wall:.1f} s (CPU {cpu_s() - cpu0:.1f} s): {stats.screened} screened, {stats.simulated} simulated")
    sim = frame[frame["simulated"].astype(bool)]
    print("best plans (simulated; all fit in 32 GiB HBM):")
    for _, r in sim.head(5).iterrows():
        print(f"  {r['rank']:>2}. {r['plan']}: MFU {100 * r['mfu']:.1f}% (screen {100 * r['screen.mfu']:.1f}%), "
              f"step {r['step_time_s']:.2f} s, {r['memory.total_bytes'] / 2**30:.1f} GiB/chip")
    gap = sim["screen.step_time_s"] / sim["step_time_s"] - 1.0
    print(f"screen vs simulation on the shortlist ({len(sim)} plans): step time mean {100 * gap.mean():+.1f}%, "
          f"range {100 * gap.min():+.1f}% .. {100 * gap.max():+.1f}%")
    screen_rank = sim["screen.mfu"].rank(ascending=False)
    sim_rank = sim["mfu"].rank(ascending=False)
    print(f"rank agreement on the shortlist (Spearman): {screen_rank.corr(sim_rank):.2f}")
    errors = frame[frame["status"] == "error"]
    if len(errors):
        print(f"simulator errors on the shortlist: {len(errors)}, e.g. {errors['reason'].iloc[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
