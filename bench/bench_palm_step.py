"""Wall time of simulating one PaLM 540B step on 6144 TPU v4 chips, as a user runs it (import included),
and the engine alone. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_palm_step.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "experiments" / "palm540b.yaml"


def cli_wall_s() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pathsim.cli", "run", str(EXPERIMENT), "--json"], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cli = [cli_wall_s() for _ in range(args.repeats)]
    print(f"pathsim run palm540b.yaml --json (fresh process, import included): "
          f"median {statistics.median(cli):.3f} s, min {min(cli):.3f} s over {args.repeats} runs")

    from pathsim.api import run_experiment

    inproc, events = [], 0
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = run_experiment(EXPERIMENT, record_links=False)
        inproc.append(time.perf_counter() - start)
        events = result.timeline.events_processed
    best = min(inproc)
    print(f"in-process load+lower+simulate+measure: median {statistics.median(inproc):.3f} s, min {best:.3f} s; "
          f"{result.program_ops} ops, {events} simulation events ({events / best:,.0f} events/s end to end)")


if __name__ == "__main__":
    main()
