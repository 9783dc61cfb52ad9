"""A published run --build--> the experiment and topology that pathsim simulates (in memory, no files).

The column-to-field mapping lives here and only here. What a row says and pathsim does not model yet is
mapped to None and left out of the experiment (see ATTENTION); enabling it once pathsim models it is a
change of one entry below.
"""

from __future__ import annotations

from pathsim.catalog.hardware import chip_spec
from pathsim.catalog.remat import MAXTEXT_POLICIES
from pathsim.config.experiment import ExperimentConfig, TopologyConfig, parse_experiment, parse_topology
from pathsim.errors import ConfigError
from pathsim.studies.published.runs import PublishedRun

# Column value -> pathsim value. The sources' spellings ("relu (not gated)", MaxText's "adamw") included.
MLP = {"relu": "relu", "relu (not gated)": "relu", "gelu": "gelu", "swiglu": "swiglu"}
BLOCK = {"serial": "serial", "parallel": "parallel"}
OPTIMIZER = {"adamw": "adam", "adam": "adam", "adafactor": "adafactor", "sgd": "sgd"}  # AdamW keeps Adam's two moments
# training.remat: pathsim's three and MaxText's policies by name (`custom` needs per-tensor columns: not read).
REMAT = {"none": "none", "full": "full", "palm": "palm", **{k: k for k in MAXTEXT_POLICIES}}
# attention column -> model.attention (the V5E rows ran MaxText's flash attention; PaLM materialised its scores)
ATTENTION: dict[str, str | None] = {"flash": "flash", "dot": "dot"}


def _mapped(table: dict, value: str | None, column: str) -> str | None:
    key = value.lower() if value is not None else None
    if key not in table:
        raise ConfigError(column, f"unknown value {value!r}; known: {', '.join(table)}")
    return table[key]


def experiment_for(run: PublishedRun, program: str = "lowered") -> tuple[ExperimentConfig, TopologyConfig]:
    """The run as an experiment on its own topology: `slices` islands of `slice_shape`, joined by the DCN;
    the plan's ici axes per slice and one data-parallel replica per slice over the DCN."""
    chip_spec(run.chip, "chip")
    topo = parse_topology({"name": f"{run.chip}_{run.slices}x{run.slice_shape}", "chip": run.chip,
                           "islands": [{"name": "slice", "shape": run.shape, "count": run.slices}]})
    model = {"name": run.id, "n_layers": run.n_layers, "d_model": run.d_model, "n_heads": run.n_heads,
             "n_kv_heads": run.n_kv_heads, "head_dim": run.head_dim, "d_ff": run.d_ff, "vocab_size": run.vocab,
             "seq_len": run.seq_len, "mlp": _mapped(MLP, run.mlp, "mlp"), "block": _mapped(BLOCK, run.block, "block"),
             "tied_embeddings": run.tied_embeddings}
    attention = _mapped(ATTENTION, run.attention, "attention") if run.attention is not None else None
    if attention is not None:
        model["attention"] = attention
    ici = {"fsdp": run.ici_fsdp, **({"tensor": run.ici_tensor} if run.ici_tensor > 1 else {})}
    exp = parse_experiment({
        "name": run.id, "description": run.source, "topology": topo.name,
        "model": {k: v for k, v in model.items() if v is not None},
        "training": {"global_batch_seqs": run.global_batch_seqs,
                     "optimizer": _mapped(OPTIMIZER, run.optimizer, "optimizer"),
                     "remat": _mapped(REMAT, run.remat_policy, "remat_policy")},
        "plan": {"ici": ici, "dcn": {"data": run.dcn_data}},
        "program": program,
    }, topo)
    return exp, topo


# Experiment fields whose column has another name; a model field `model.X` is column X.
_COLUMN_OF_FIELD = {"model.vocab_size": "vocab", "training.remat": "remat_policy", "training.optimizer": "optimizer",
                    "training.global_batch_seqs": "global_batch_seqs", "plan.ici.fsdp": "ici_fsdp",
                    "plan.ici.tensor": "ici_tensor", "plan.dcn.data": "dcn_data", "plan.pipeline": "n_layers"}


def column_of(field: str) -> str:
    """The CSV column behind an experiment field that a ConfigError names (the field itself when none)."""
    if field in _COLUMN_OF_FIELD:
        return _COLUMN_OF_FIELD[field]
    head, _, rest = field.partition(".")
    return rest if head == "model" and rest else field
