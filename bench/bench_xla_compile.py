"""Compile wall time and peak memory of the XLA path (program: xla), cold and from the cache.

    .venv/bin/python bench/bench_xla_compile.py [experiments/palm540b.yaml]

The cold compile uses an empty cache directory (a temporary PATHSIM_CACHE unless --cache is given); the
rerun is a fresh process running the whole experiment from the cache.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("experiment", nargs="?", default=str(ROOT / "experiments" / "palm540b.yaml"))
    parser.add_argument("--cache", help="cache directory (default: a new temporary one)")
    args = parser.parse_args()
    os.environ["PATHSIM_CACHE"] = args.cache or tempfile.mkdtemp(prefix="pathsim-xla-")

    from pathsim.config.experiment import load_experiment
    from pathsim.catalog.xla_flags import resolve_flags
    from pathsim.workload.xla.compile import compile_step

    exp, topo = load_experiment(args.experiment)
    start = time.monotonic()
    compiled = compile_step(exp.model, exp.training, exp.plan, topo, resolve_flags(exp.xla_flags, topo.chip))
    cold_s = time.monotonic() - start
    # ru_maxrss is KiB on Linux; the compile runs in a child process (pathsim.workload.xla.compile).
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1024**3
    print(f"experiment        {args.experiment} -> {compiled.target}")
    print(f"cache hit         {compiled.cache_hit}")
    print(f"compile wall      {cold_s:.1f} s (XLA compile {compiled.compile_s:.1f} s)")
    print(f"peak RSS          {peak_gib:.2f} GiB (the compile's child process: step tracing + compile)")
    print(f"HLO text          {len(compiled.hlo_text) / 1e6:.1f} MB")
    print(f"XLA per chip      {compiled.per_chip_bytes / 1024**3:.2f} GiB  {compiled.memory_bytes}")

    code = ("import sys; from pathsim.api import run_experiment; r = run_experiment(sys.argv[1], program='xla'); "
            "print(r.metrics.step_time_s, r.program_ops)")
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code, args.experiment], capture_output=True, text=True,
                         env=os.environ.copy())
    rerun_s = time.monotonic() - start
    if out.returncode:
        print(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "rerun failed")
        sys.exit(1)
    step_s, ops = out.stdout.split()
    print(f"cached rerun      {rerun_s:.1f} s wall (whole run: import + simulate {ops} ops; step {float(step_s):.3f} s)")


if __name__ == "__main__":
    main()
