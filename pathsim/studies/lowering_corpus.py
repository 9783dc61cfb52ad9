"""The lowering (the fast program every plan search and default run uses) beside the program XLA compiles
for the same step, on a corpus of small steps: TPU v4 and v5e, fsdp, tensor (2d and megatron), data and
DCN axes, remat policies, micro-batches. Both programs are priced by the same cost model and simulated by
the same engine, so what differs is the program: its kernels, its collectives and their order.

    python -m pathsim.studies.lowering_corpus [--json]

Per case: step time, MFU and exposed communication of each program, and the collective bytes per chip by
kind and mesh axis. docs/xla.md carries the table and the rules of the lowering it checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from pathsim.studies.memory_corpus import _BASE, CorpusCase, experiment_of
from pathsim.studies.xla_compare import ProgramFigures, figures

_V4 = {"chip": "tpu_v4"}
TOPOLOGIES = {  # small slices each compile in about a minute
    "v4x4": {**_V4, "name": "v4_2x2x1", "islands": [{"shape": [2, 2, 1]}]},
    "v4x8": {**_V4, "name": "v4_2x2x2", "islands": [{"shape": [2, 2, 2]}]},
    "v4x4x2": {**_V4, "name": "v4_2x2x1_x2", "islands": [{"shape": [2, 2, 1], "count": 2}]},  # 2 slices, DCN
    "v5ex4": {"name": "v5e_2x2", "chip": "tpu_v5e", "islands": [{"shape": [2, 2]}]},
}
BASE = {**_BASE, "name": "lowering_corpus"}

CORPUS = (
    CorpusCase("fsdp4 full", "v4x4"),
    CorpusCase("fsdp4 minimal", "v4x4", (("training.remat", "minimal"),)),
    CorpusCase("fsdp4 no remat", "v4x4", (("training.remat", "none"),)),
    CorpusCase("fsdp4 2 micro-batches", "v4x4", (("plan.microbatches", 2),)),
    CorpusCase("fsdp2 x tensor2 2d", "v4x4", (("plan.ici", {"fsdp": 2, "tensor": 2}),)),
    CorpusCase("fsdp2 x tensor2 megatron", "v4x4", (("plan.ici", {"fsdp": 2, "tensor": 2}),
                                                    ("plan.tensor_style", "megatron"))),
    CorpusCase("data2 x fsdp2", "v4x4", (("plan.ici", {"data": 2, "fsdp": 2}),)),
    CorpusCase("data2 x fsdp2 x tensor2", "v4x8", (("plan.ici", {"data": 2, "fsdp": 2, "tensor": 2}),)),
    CorpusCase("dcn data2 x fsdp4", "v4x4x2", (("plan.dcn", {"data": 2}), ("training.global_batch_seqs", 16))),
    CorpusCase("fsdp4 full v5e", "v5ex4"),
    CorpusCase("fsdp4 flash v5e", "v5ex4", (("model.attention", "flash"),)),
    CorpusCase("fsdp2 x tensor2 flash v5e", "v5ex4", (("plan.ici", {"fsdp": 2, "tensor": 2}),
                                                     ("model.attention", "flash"))),
)


@dataclass(frozen=True)
class SourceFigures:
    """One program source's step of one case."""
    step_s: float
    mfu: float
    exposed_ici_s: float
    exposed_dcn_s: float
    program: ProgramFigures


@dataclass(frozen=True)
class CorpusRow:
    name: str
    chip: str
    lowered: SourceFigures
    compiled: SourceFigures

    @property
    def mfu_gap_points(self) -> float:
        """Lowered MFU minus compiled MFU, in points: positive where the lowering is optimistic."""
        return 100.0 * (self.lowered.mfu - self.compiled.mfu)

    @property
    def step_ratio(self) -> float:
        """Lowered step over compiled step."""
        return self.lowered.step_s / self.compiled.step_s


def case_experiment(case: CorpusCase):
    return experiment_of(case, BASE, TOPOLOGIES)


def run_case(case: CorpusCase) -> CorpusRow:
    from pathsim.pipeline import prepare, simulate_prepared

    exp, topo = case_experiment(case)
    by_source = {}
    for source in ("lowered", "xla"):
        run = prepare(exp.model_copy(update={"program": source}), topo)
        m = simulate_prepared(run, record_links=False).metrics
        by_source[source] = SourceFigures(step_s=m.step_time_s, mfu=m.mfu, exposed_ici_s=m.breakdown.exposed_ici_s,
                                          exposed_dcn_s=m.breakdown.exposed_dcn_s,
                                          program=figures(run.program, run.cost))
    return CorpusRow(name=case.name, chip=topo.chip, lowered=by_source["lowered"],
                     compiled=by_source["xla"])


def _bytes_text(row: CorpusRow) -> str:
    lowered, compiled = dict(row.lowered.program.bytes_by_collective), dict(row.compiled.program.bytes_by_collective)
    parts = []
    for key in sorted({*lowered, *compiled}):
        parts.append(f"{key} {lowered.get(key, 0.0) / 1e6:.0f}/{compiled.get(key, 0.0) / 1e6:.0f}")
    return "; ".join(parts)


def table(rows: list[CorpusRow]) -> str:
    lines = ["| case | chip | step ms lowered / compiled | MFU lowered / compiled | gap (points) "
             "| exposed ICI ms lowered / compiled | collective MB per chip, lowered/compiled |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lo, co = r.lowered, r.compiled
        lines.append(f"| {r.name} | {r.chip} | {1e3 * lo.step_s:.1f} / {1e3 * co.step_s:.1f} | "
                     f"{100 * lo.mfu:.1f}% / {100 * co.mfu:.1f}% | {r.mfu_gap_points:+.1f} | "
                     f"{1e3 * lo.exposed_ici_s:.1f} / {1e3 * co.exposed_ici_s:.1f} | {_bytes_text(r)} |")
    gaps = [abs(r.mfu_gap_points) for r in rows]
    worst = max(rows, key=lambda r: abs(r.mfu_gap_points))
    lines.append(f"\nmean |gap| {sum(gaps) / len(gaps):.1f} points; worst: {worst.name}, "
                 f"{worst.mfu_gap_points:+.1f} points")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathsim.studies.lowering_corpus",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per case instead of the table")
    parser.add_argument("--case", action="append", help="only the named cases (repeatable)")
    args = parser.parse_args(argv)
    cases = [c for c in CORPUS if not args.case or c.name in args.case]
    rows = []
    for case in cases:
        rows.append(run_case(case))
        if args.json:
            print(json.dumps({**asdict(rows[-1]), "mfu_gap_points": rows[-1].mfu_gap_points}), flush=True)
    if not args.json and rows:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
