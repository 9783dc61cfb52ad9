"""pathsim's per-chip memory estimate beside what XLA allocates for the same step (memory_analysis of the
compiled program), on a corpus of small steps that compile in about a minute each: several chips, remat
policies, attention kinds, sequence lengths, optimizers and fsdp, tensor and data degrees.

    python -m pathsim.studies.memory_corpus [--json]

The compiler's figure is arguments + outputs - donated aliases + temporaries + code
(CompiledStep.per_chip_bytes; the temporaries' heap as the compiler's log sizes it, compiler_log.py). docs/memory.md carries the table and what explains its gaps.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from pathsim.catalog.hardware import GIB
from pathsim.catalog.xla_flags import resolve_flags

_CHIPS = {  # 4-chip slices of each chip kind libtpu compiles for
    "tpu_v4": {"name": "v4_2x2x1", "chip": "tpu_v4", "islands": [{"shape": [2, 2, 1]}]},
    "tpu_v5e": {"name": "v5e_2x2", "chip": "tpu_v5e", "islands": [{"shape": [2, 2]}]},
    "tpu_v6e": {"name": "v6e_2x2", "chip": "tpu_v6e", "islands": [{"shape": [2, 2]}]},
}
# A 2-layer Llama-style model large enough that data, not compiled code, dominates each chip's memory.
_BASE = {
    "name": "memory_corpus",
    "topology": "inline",  # replaced by the case's chip (_CHIPS); never read from a file
    "model": {"n_layers": 2, "d_model": 1024, "n_heads": 8, "n_kv_heads": 8, "head_dim": 128, "d_ff": 4096,
              "vocab_size": 32000, "seq_len": 2048, "block": "serial", "mlp": "swiglu", "tied_embeddings": False},
    "training": {"global_batch_seqs": 8, "remat": "full"},
    "plan": {"ici": {"fsdp": 4}, "placement": {}},
    "program": "xla",
}


@dataclass(frozen=True)
class CorpusCase:
    name: str
    chip: str  # a key of the corpus's topologies
    overrides: tuple[tuple[str, object], ...] = ()  # dotted experiment fields


CORPUS = (
    CorpusCase("fsdp4 full", "tpu_v4"),
    CorpusCase("fsdp4 no remat", "tpu_v4", (("training.remat", "none"),)),
    CorpusCase("fsdp4 minimal", "tpu_v4", (("training.remat", "minimal"),)),
    CorpusCase("fsdp2 x tensor2 full", "tpu_v4", (("plan.ici", {"fsdp": 2, "tensor": 2}),)),
    CorpusCase("data2 x fsdp2 adam", "tpu_v4", (("plan.ici", {"data": 2, "fsdp": 2}),
                                                ("training.optimizer", "adam"))),
    CorpusCase("fsdp4 full seq 4096", "tpu_v5e", (("model.seq_len", 4096), ("training.global_batch_seqs", 4))),
    CorpusCase("fsdp4 flash seq 4096", "tpu_v6e", (("model.seq_len", 4096), ("training.global_batch_seqs", 4),
                                                   ("model.attention", "flash"))),
    # The Llama 3.1 8B v6e recipe's offload policy: the layer input and the attention projections go to the
    # host, the MLP and the attention context are recomputed.
    CorpusCase("fsdp4 flash offload seq 4096", "tpu_v6e", (
        ("model.seq_len", 4096), ("training.global_batch_seqs", 4), ("model.attention", "flash"),
        ("training.remat", "custom"),
        ("training.remat_custom", {"decoder_layer_input": "offload", "query_proj": "offload", "key_proj": "offload",
                                   "value_proj": "offload", "out_proj": "offload", "mlpwi": "remat",
                                   "mlpwo": "remat", "context": "remat"}))),
)


@dataclass(frozen=True)
class CorpusRow:
    name: str
    chip: str
    xla_bytes: float  # per chip, the compiler's
    xla_argument_bytes: float
    xla_temp_bytes: float
    estimate_bytes: float  # pathsim's total
    estimate_state_bytes: float  # weights + gradients + optimizer
    estimate_activations_bytes: float  # saved for the backward
    estimate_working_bytes: float
    xla_host_bytes: float = 0.0  # host memory of offloaded tensors (memory_analysis host temp), not in HBM
    estimate_offloaded_bytes: float = 0.0

    @property
    def error(self) -> float:
        """pathsim's estimate over the compiler's figure, minus one."""
        return self.estimate_bytes / self.xla_bytes - 1.0


def experiment_of(case: CorpusCase, base: dict | None = None, topologies: dict | None = None):
    """The case's experiment and topology: its overrides on `base` (this corpus's by default), on the
    topology its `chip` names in `topologies`."""
    from pathsim.config.experiment import ExperimentConfig, TopologyConfig
    from pathsim.studies.whatif.params import set_path  # copies what it changes: the base stays as it is

    doc = dict(base or _BASE)
    for dotted, value in case.overrides:
        set_path(doc, dotted.split("."), value, dotted)
    return ExperimentConfig.model_validate(doc), TopologyConfig.model_validate((topologies or _CHIPS)[case.chip])


def run_case(case: CorpusCase) -> CorpusRow:
    from pathsim.pipeline import resolve
    from pathsim.platform.topology import build_cluster
    from pathsim.workload.memory import memory_use
    from pathsim.workload.xla.compile import compile_step

    exp, topo = experiment_of(case)
    compiled = compile_step(exp.model, exp.training, exp.plan, topo, resolve_flags(exp.xla_flags, topo.chip))
    inputs = resolve(exp, chip=topo.chip)
    mem = memory_use(inputs.shard, inputs.lowering.weight_prefetch_layers, build_cluster(topo).chip.hbm_bytes)
    m = compiled.memory_bytes
    return CorpusRow(name=case.name, chip=case.chip, xla_bytes=compiled.per_chip_bytes,
                     xla_argument_bytes=m["argument"], xla_temp_bytes=compiled.temp_bytes, estimate_bytes=mem.total_bytes,
                     estimate_state_bytes=mem.weights_bytes + mem.gradients_bytes + mem.optimizer_bytes,
                     estimate_activations_bytes=mem.activations_bytes, estimate_working_bytes=mem.working_bytes,
                     xla_host_bytes=m.get("host_temp", 0.0), estimate_offloaded_bytes=mem.offloaded_bytes)


def table(rows: list[CorpusRow]) -> str:
    lines = ["| case | chip | XLA GiB (arguments, temp) | pathsim GiB (state, saved, working) | error |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r.name} | {r.chip} | {r.xla_bytes / GIB:.2f} ({r.xla_argument_bytes / GIB:.2f}, "
                     f"{r.xla_temp_bytes / GIB:.2f}) | {r.estimate_bytes / GIB:.2f} "
                     f"({r.estimate_state_bytes / GIB:.2f}, {r.estimate_activations_bytes / GIB:.2f}, "
                     f"{r.estimate_working_bytes / GIB:.2f}) | {100 * r.error:+.1f}% |")
    for r in rows:
        if r.xla_host_bytes or r.estimate_offloaded_bytes:
            lines.append(f"{r.name} on {r.chip}, host memory of offloaded tensors: XLA "
                         f"{r.xla_host_bytes / GIB:.3f} GiB, pathsim {r.estimate_offloaded_bytes / GIB:.3f} GiB")
    worst = max(rows, key=lambda r: abs(r.error))
    lines.append(f"\nworst: {worst.name} on {worst.chip}, {100 * worst.error:+.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathsim.studies.memory_corpus", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per case instead of the table")
    args = parser.parse_args(argv)
    rows = []
    for case in CORPUS:
        rows.append(run_case(case))
        if args.json:
            print(json.dumps({**asdict(rows[-1]), "error": rows[-1].error}), flush=True)
    if not args.json:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
