"""Simulator speed against scale: folded (one chip per device group) and full (every chip and link) mode,
PaLM 540B steps from 64 to 65,536 TPU v4 chips, beside simpy's raw event rate on this machine.
Prints figures; asserts nothing.

    .venv/bin/python bench/bench_scale.py [--full-max-chips 6144]
"""

from __future__ import annotations

import argparse
import time

import simpy

from pathsim.api import simulate_config
from pathsim.config.experiment import load_experiment, parse_experiment, parse_topology

# (slice shape, pods, tensor, fsdp) per scale; the batch grows with the data-parallel replicas.
SCALES = [
    ((4, 4, 4), 1, 4, 16),
    ((8, 8, 8), 1, 8, 64),
    ((16, 16, 16), 1, 16, 256),
    ((12, 16, 16), 2, 12, 256),
    ((16, 16, 16), 4, 16, 256),
    ((16, 16, 16), 16, 16, 256),
]


def simpy_raw_events_per_s(n: int = 400_000) -> float:
    env = simpy.Environment()

    def ticker():
        for _ in range(n // 4):
            yield env.timeout(1)

    for _ in range(4):
        env.process(ticker())
    start = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - start)


def scaled(base, shape, pods, tensor, fsdp):
    exp = base.model_dump()
    exp["topology"] = "inline"
    exp["plan"] = {"ici": {"tensor": tensor, "fsdp": fsdp}, "dcn": {"data": pods} if pods > 1 else {}}
    exp["training"]["global_batch_seqs"] = max(2048, fsdp * pods)
    topo = {"name": "bench", "chip": "tpu_v4", "islands": [{"name": "pod", "shape": list(shape), "count": pods}]}
    return parse_experiment(exp), parse_topology(topo)


def timed(exp, topo, mode):
    start = time.perf_counter()
    result = simulate_config(exp, topo, record_links=False, mode=mode)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full-max-chips", type=int, default=6144,
                        help="largest deployment to also simulate in full mode")
    args = parser.parse_args()
    raw = simpy_raw_events_per_s()
    print(f"simpy raw event rate on this machine: {raw:,.0f} events/s")
    base, _ = load_experiment("experiments/palm540b.yaml")
    print("full mode advances identical chips with one event, so beside its simpy events/s it also shows the")
    print("chip-ops it simulated per second (every op of every chip)")
    print(f"{'chips':>7} {'shape':>10} {'pods':>4}  {'folded s':>9} {'events':>9}  {'full s':>8} {'events':>10} "
          f"{'events/s':>9} {'chip-ops/s':>11}  step folded / full")
    for shape, pods, tensor, fsdp in SCALES:
        exp, topo = scaled(base, shape, pods, tensor, fsdp)
        chips = pods * shape[0] * shape[1] * shape[2]
        folded_s, folded = timed(exp, topo, "folded")
        line = (f"{chips:>7} {'x'.join(map(str, shape)):>10} {pods:>4}  {folded_s:>9.2f} "
                f"{folded.timeline.events_processed:>9}")
        if chips <= args.full_max_chips:
            full_s, full = timed(exp, topo, "full")
            ev = full.timeline.events_processed
            chip_ops = full.program_ops * full.placement.chips_per_group
            line += (f"  {full_s:>8.1f} {ev:>10} {ev / full_s:>9,.0f} {chip_ops / full_s:>11,.0f}  "
                     f"{folded.metrics.step_time_s:.4f} / {full.metrics.step_time_s:.4f} s")
        else:
            line += f"  {'-':>8} {'-':>10} {'-':>9} {'-':>11}  {folded.metrics.step_time_s:.4f} s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
