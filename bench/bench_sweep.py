"""A 1000-plan sweep of PaLM 540B on 6144 TPU v4 chips, simulated locally in a process pool.

Grid: model-parallel degree x ICI data-parallel degree (FSDP takes the rest) x batch x remat x tensor
sharding style = 10 x 5 x 5 x 2 x 2 plans. Prints the wall time, CPU time and what became of the plans.

    .venv/bin/python bench/bench_sweep.py [--workers N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from pathsim.studies.whatif import load_study, run_study

REPO = Path(__file__).resolve().parents[1]


def cpu_s() -> float:
    """User + system CPU seconds of this process and its finished children (the worker pool)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load} (other work on the machine slows the wall time)"


GRID = {
    "plan.model": [1, 2, 3, 4, 6, 8, 12, 16, 24, 48],
    "plan.ici.data": [1, 2, 4, 8, 16],
    "training.global_batch_seqs": [512, 1024, 2048, 4096, 8192],
    "training.remat": ["palm", "full"],
    "plan.tensor_style": ["2d", "megatron"],
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    study = load_study(REPO / "experiments" / "palm540b.yaml", grid=GRID, infer=["plan.ici.fsdp"])
    cpu0, t0 = cpu_s(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        frame, stats = run_study(study, Path(tmp) / "sweep.csv", workers=args.workers, progress=sys.stderr.isatty())
    wall = time.perf_counter() - t0
    counts = frame["status"].value_counts()
    sim = frame[frame["simulated"].astype(bool)]
    print(f"machine: {machine()}")
    print(f"plans: {stats.plans} = " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "out_of_memory", "invalid", "error")))
    print(f"simulated: {stats.simulated} (plans that fit); invalid and out-of-HBM plans are recorded from the "
          "shape checks, memory model and screen without a simulation")
    print(f"wall: {wall:.1f} s, CPU: {cpu_s() - cpu0:.1f} s, {stats.plans / wall:.1f} plans/s; a plan that fits "
          f"takes {sim['wall_s'].mean():.2f} s in its worker (resolve, screen, simulate)")
    best = frame.iloc[0]
    print(f"best: {best['plan']} MFU {100 * best['mfu']:.1f}% step {best['step_time_s']:.2f} s "
          f"batch {best['training.global_batch_seqs']}, {best['memory.total_bytes'] / 2**30:.1f} GiB/chip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
