"""How far the TPU compiler's own kernel-time estimates are from measured jnp.dot times (v5e, v6e).

    .venv/bin/python bench/bench_xla_kernels.py [--limit N]

Each measured shape of pathsim/data/kernels/jnp_dot_v5e_v6e.csv (M x K @ K x N, bf16 -> f32 or
int8 -> int32) is compiled ahead of time for one chip of its SKU (no TPU needed). The compiler's estimate
is `cost_analysis()["optimal_seconds"]` (a single dot has no loop, so it is defined), and, where pathsim
knows the clock, the kernel's `estimated_cycles` / clock. The measured kernel time is the wall-clock
median minus the run's launch floor (`overhead_floor_s` of jnp_dot_v5e_v6e_runs.json); shapes whose median
is within 5% of the floor are too small to tell and are counted apart.
Error = estimate / measured - 1; the table prints the median and 90th percentile of |error| and the
median ratio, per SKU, dtype and shape family.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ROOT / "pathsim" / "data" / "kernels"
SKU_TARGET = {"v5e": ("v5e:1x1", "default", "tpu_v5e"), "v6e": ("v6e:1x1", "default", "tpu_v6e")}


def _device(sku: str):
    from jax.experimental import topologies

    name, config, _ = SKU_TARGET[sku]
    return topologies.get_topology_desc(platform="tpu", topology_name=name, chip_config_name=config,
                                        chips_per_host_bounds=(1, 1, 1), num_slices=1).devices[0]


def compiler_estimate(device, m: int, n: int, k: int, dtype: str) -> tuple[float, int | None]:
    """(optimal_seconds, estimated_cycles of the dot kernel) for one jnp.dot on one chip."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    sharding = NamedSharding(Mesh(np.array([device]), ("x",)), PartitionSpec())
    dt, acc = (jnp.int8, jnp.int32) if dtype == "int8" else (jnp.bfloat16, jnp.float32)
    a = jax.ShapeDtypeStruct((m, k), dt, sharding=sharding)
    b = jax.ShapeDtypeStruct((k, n), dt, sharding=sharding)
    compiled = jax.jit(lambda x, y: jnp.dot(x, y, preferred_element_type=acc)).lower(a, b).compile()
    cycles = [int(c) for c in re.findall(r'"estimated_cycles":"(\d+)"', compiled.as_text())]
    return compiled.cost_analysis()["optimal_seconds"], (sum(cycles) if cycles else None)


def _summary(errors: list[float]) -> str:
    if not errors:
        return "n=0"
    absolute = sorted(abs(e) for e in errors)
    p90 = absolute[min(len(absolute) - 1, int(round(0.9 * (len(absolute) - 1))))]
    ratio = statistics.median(1 + e for e in errors)
    return f"n={len(errors):3d}  median |err| {statistics.median(absolute):6.1%}  p90 |err| {p90:6.1%}  " \
           f"median est/measured {ratio:5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="at most N shapes per SKU, evenly spaced (0: all 450)")
    args = parser.parse_args()
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    from pathsim.catalog.kernels import COMPILER_CLOCK_HZ

    floors = {run["sku"]: run["overhead_floor_s"] for run in json.loads((KERNELS / "jnp_dot_v5e_v6e_runs.json").read_text())
              if not run.get("dry_run")}
    rows = list(csv.DictReader((KERNELS / "jnp_dot_v5e_v6e.csv").open()))
    start = time.monotonic()
    results: dict[tuple, list[float]] = {}
    cycle_results: dict[str, list[float]] = {}
    too_small: dict[str, int] = {}
    for sku in SKU_TARGET:
        device = _device(sku)
        clock = COMPILER_CLOCK_HZ.get(SKU_TARGET[sku][2])
        mine = [r for r in rows if r["sku"] == sku]
        if args.limit:  # evenly spaced over the file, so every shape family is sampled
            mine = mine[:: max(1, len(mine) // args.limit)][: args.limit]
        for r in mine:
            measured = float(r["median_s"]) - floors[sku]
            if measured <= 0.05 * floors[sku]:
                too_small[sku] = too_small.get(sku, 0) + 1
                continue
            optimal_s, cycles = compiler_estimate(device, int(r["M"]), int(r["N"]), int(r["K"]), r["dtype"])
            err = optimal_s / measured - 1
            for key in ((sku, "all", "all"), (sku, r["dtype"], "all"), (sku, r["dtype"], r["family"])):
                results.setdefault(key, []).append(err)
            if clock is not None and cycles is not None:
                cycle_results.setdefault(sku, []).append(cycles / clock.value / measured - 1)
    print(f"compiler estimate (optimal_seconds) vs measured jnp.dot (median - launch floor); "
          f"{time.monotonic() - start:.0f} s of compiles")
    for key in sorted(results):
        print(f"  {key[0]} {key[1]:5s} {key[2]:10s} {_summary(results[key])}")
    for sku, errors in cycle_results.items():
        clock = COMPILER_CLOCK_HZ[SKU_TARGET[sku][2]]
        print(f"  {sku} estimated_cycles / {clock.value / 1e9:.2f} GHz: {_summary(errors)}")
    for sku, n in too_small.items():
        print(f"  {sku}: {n} shapes within 5% of the {floors[sku] * 1e6:.0f} us launch floor, left out")


if __name__ == "__main__":
    main()
