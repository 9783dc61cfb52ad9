"""Where PaLM 540B's step goes by kernel kind, under the TPU kernel model and the spec-sheet roofline.

Compute kernels of one device group (one chip of a pod) summed by kind: matmul, attention (the batched
attention matmuls), memory-bound (norms, softmax, elementwise, optimizer, gathers); collectives summed
by network from the simulated timeline (busy time, overlapped or not), and the step's exposed share.

    .venv/bin/python bench/palm_kernel_kinds.py [experiments/palm540b.yaml]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from pathsim.config.experiment import load_experiment
from pathsim.pipeline import prepare, simulate_prepared
from pathsim.workload.program import ComputeOp

REPO = Path(__file__).resolve().parents[1]
KIND = {"matmul": "matmul", "attention_matmul": "attention"}


def by_kind(exp, topo, base_dir: Path) -> tuple[dict[str, float], float]:
    run = prepare(exp, topo, base_dir)
    result = simulate_prepared(run, record_links=False)
    cost, program = run.cost, run.program
    seconds: dict[str, float] = defaultdict(float)
    for op in program.groups[0].ops:
        if isinstance(op, ComputeOp):
            seconds[KIND.get(op.kind, "memory-bound")] += cost.op_time_s(op)
    group = result.timeline.groups[0]
    for span in result.timeline.spans:
        if span.group == group and span.track in ("ici", "dcn"):
            seconds[f"{span.track} collectives (busy)"] += span.duration_s
    b = result.metrics.breakdown
    seconds["exposed communication"] = b.exposed_ici_s + b.exposed_dcn_s
    return dict(seconds), result.metrics.step_time_s


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "experiments" / "palm540b.yaml"
    exp, topo = load_experiment(path)
    rows = {m: by_kind(exp.model_copy(update={"cost_model": m}), topo, path.parent) for m in ("tpu_kernels", "roofline")}
    kinds = list(dict.fromkeys(k for seconds, _ in rows.values() for k in seconds))
    print(f"{exp.name}: seconds per step, one chip, and share of the step")
    print(f"{'kind':32s}" + "".join(f"{m:>26s}" for m in rows))
    for kind in kinds:
        cells = "".join(f"{s.get(kind, 0.0):13.3f} s {100 * s.get(kind, 0.0) / step:8.1f}%" for s, step in rows.values())
        print(f"{kind:32s}{cells}")
    print(f"{'step':32s}" + "".join(f"{step:13.3f} s {'':9s}" for _, step in rows.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
