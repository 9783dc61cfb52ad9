"""Lowered vs imported program of one experiment, side by side: ops, FLOPs, step time, exposed
communication, and where the kernel time differs most by kind.

    python -m pathsim.studies.xla_compare experiments/palm540b.yaml
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from pathsim.workload.program import CommOp, ComputeOp, Program


@dataclass(frozen=True)
class ProgramFigures:
    ops: int  # of one group
    compute_ops: int
    collectives: int
    flops_per_chip: float  # executed, one chip
    kernel_s_by_kind: tuple[tuple[str, float], ...]  # priced compute time of one chip by kernel kind
    bytes_by_collective: tuple[tuple[str, float], ...]  # V bytes by (collective, axis)


def figures(program: Program, cost) -> ProgramFigures:
    ops = program.groups[0].ops
    by_kind: dict[str, float] = {}
    by_comm: dict[str, float] = {}
    for op in ops:
        if isinstance(op, ComputeOp):
            by_kind[op.kind] = by_kind.get(op.kind, 0.0) + cost.op_time_s(op)
        elif isinstance(op, CommOp):
            key = f"{op.collective} {op.axis}"
            by_comm[key] = by_comm.get(key, 0.0) + op.bytes
    return ProgramFigures(
        ops=len(ops), compute_ops=sum(isinstance(op, ComputeOp) for op in ops),
        collectives=sum(isinstance(op, CommOp) for op in ops),
        flops_per_chip=sum(op.flops for op in ops if isinstance(op, ComputeOp)),
        kernel_s_by_kind=tuple(sorted(by_kind.items())), bytes_by_collective=tuple(sorted(by_comm.items())))


def main(path: str) -> None:
    from pathlib import Path

    from pathsim.config.experiment import load_experiment
    from pathsim.pipeline import prepare, simulate_prepared

    exp, topo = load_experiment(path)
    prepared = {source: prepare(exp.model_copy(update={"program": source}), topo, Path(path).parent)
                for source in ("lowered", "xla")}
    runs = {source: simulate_prepared(run, record_links=False) for source, run in prepared.items()}
    cost = prepared["lowered"].cost
    lowered, imported = prepared["lowered"].program, prepared["xla"].program
    fl, fx = figures(lowered, cost), figures(imported, cost)
    rows = [
        ("ops per group", fl.ops, fx.ops), ("compute ops", fl.compute_ops, fx.compute_ops),
        ("collectives", fl.collectives, fx.collectives),
        ("executed FLOPs per chip", f"{fl.flops_per_chip:.4g}", f"{fx.flops_per_chip:.4g}"),
        ("kernel time per chip s", f"{sum(t for _, t in fl.kernel_s_by_kind):.4g}",
         f"{sum(t for _, t in fx.kernel_s_by_kind):.4g}"),
    ]
    for source in ("lowered", "xla"):
        m = runs[source].metrics
        b = m.breakdown
        rows_src = [("step time s", f"{m.step_time_s:.4g}"), ("MFU", f"{m.mfu:.1%}"), ("HFU", f"{m.hfu:.1%}"),
                    ("exposed ICI s", f"{b.exposed_ici_s:.4g}"), ("exposed DCN s", f"{b.exposed_dcn_s:.4g}")]
        for k, (name, value) in enumerate(rows_src):
            if source == "lowered":
                rows.append((name, value, ""))
            else:
                rows[len(rows) - len(rows_src) + k] = (name, rows[len(rows) - len(rows_src) + k][1], value)
    print(f"{'':28s}{'lowered':>16s}{'xla':>16s}")
    for name, a, b in rows:
        print(f"{name:28s}{str(a):>16s}{str(b):>16s}")
    kinds = dict(fl.kernel_s_by_kind), dict(fx.kernel_s_by_kind)
    diffs = sorted({*kinds[0], *kinds[1]}, key=lambda k: -abs(kinds[1].get(k, 0.0) - kinds[0].get(k, 0.0)))
    print("largest differences by kernel kind (priced seconds per chip, xla - lowered):")
    for kind in diffs[:5]:
        a, b = kinds[0].get(kind, 0.0), kinds[1].get(kind, 0.0)
        print(f"  {kind:18s} lowered {a:9.4f}  xla {b:9.4f}  diff {b - a:+9.4f}")
    print("collective bytes (V) per chip, lowered | xla:")
    for key in sorted({k for k, _ in fl.bytes_by_collective} | {k for k, _ in fx.bytes_by_collective}):
        print(f"  {key:28s} {dict(fl.bytes_by_collective).get(key, 0.0):12.4g} | "
              f"{dict(fx.bytes_by_collective).get(key, 0.0):12.4g}")
    check = runs["xla"].collective_check
    print(f"imported vs the plan's nominal bytes per chip (suspect beyond {check.factor:g}x either way):")
    for row in check.rows:
        print(f"  {'SUSPECT' if row.suspect else 'ok':8s}{row.text()}")
    for note in runs["xla"].notes:
        print(note)


if __name__ == "__main__":
    main(sys.argv[1])
