"""A MaxText launch (a config file, `model_name`, `key=value` overrides) as a pathsim experiment.

MaxText layers its settings: base.yml, then the model's configs/models/NAME.yml, then the command line; a
command-line key that the model file also sets is refused unless `override_model_config=true`. pathsim
reads the same layers: a config file the user names (with its `base_config:` chain), else the copy of
MaxText's base.yml and model files in pathsim/data/maxtext/ (Apache-2.0; README there). MaxText itself is
not needed.

Every key is one of: translated (the tables below), ignored because it does not change the step
(pathsim/data/maxtext/keys.yaml, reported), left at base.yml's default, or refused with one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pathsim.catalog.slices import is_slice_name, slice_named
from pathsim.config.experiment import ExperimentConfig, TopologyConfig, parse_experiment, parse_topology, \
    read_topology_data
from pathsim.config.yamlio import read_yaml
from pathsim.errors import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data" / "maxtext"

# remat_policy -> training.remat: pathsim reads MaxText's policies by their names (workload/remat.py copies
# their name lists). None would refuse a policy the schema cannot express.
REMAT_POLICIES: dict[str, str | None] = {
    "full": "full", "minimal": "minimal", "minimal_with_context": "minimal_with_context",
    "minimal_offloaded": "minimal_offloaded", "save_dot_with_context_except_mlp": "save_dot_with_context_except_mlp",
    "save_dot_except_mlpwi": "save_dot_except_mlpwi", "save_dot_except_mlp": "save_dot_except_mlp",
    "save_qkv_proj": "save_qkv_proj", "qkv_proj_offloaded": "qkv_proj_offloaded", "save_out_proj": "save_out_proj",
    "custom": "custom",
}
# remat_policy=custom: MaxText's per-tensor keys (base.yml), each device/offload/remat. The dense decoder
# tags query/key/value_proj (qkv_proj with fused_qkv=true) and mlpwi_0/mlpwi_1 for a gated MLP (mlpwi when
# not gated or with fused_mlp=true); kv_proj only MLA layers tag.
CUSTOM_TENSOR_KEYS = ("decoder_layer_input", "query_proj", "key_proj", "value_proj", "kv_proj", "qkv_proj",
                      "out_proj", "mlpwi", "mlpwi_0", "mlpwi_1", "mlpwo", "context", "attention_out")
# attention -> model.attention. None: the schema has no model.attention yet, and pathsim's lowering prices
# attention one way (the scores materialized per layer); the launch is simulated and the key reported.
# Values missing here (cudnn_flash_te, paged, ...) are refused.
# attention -> model.attention. `autoselected` trains with MaxText's TPU flash kernel (its attention layer
# falls back to dot_product only for decoding and sequences under 128 tokens).
ATTENTION: dict[str, str | None] = {"autoselected": "flash", "dot_product": "dot", "flash": "flash"}
# mlp_activations -> model.mlp. GeGLU (gelu, linear) has SwiGLU's three matrices and FLOPs (catalog/models.py).
MLP_ACTIVATIONS: dict[tuple[str, ...], str] = {
    ("silu", "linear"): "swiglu", ("gelu", "linear"): "swiglu", ("gelu",): "gelu", ("relu",): "relu"}
# decoder_block -> model.block: the dense decoders whose layer is attention then MLP.
DECODER_BLOCKS: dict[str, str] = {"llama2": "serial", "mistral": "serial", "gemma": "serial", "gpt3": "serial",
                                  "default": "serial"}
DTYPE_BYTES: dict[str, int] = {"bfloat16": 2, "float16": 2, "float32": 4}
# opt_type -> training.optimizer (adam keeps two f32 moments per parameter, as AdamW and Pax's Adam do).
OPTIMIZERS: dict[str, str | None] = {"adamw": "adam", "adam_pax": "adam", "sgd": "sgd", "muon": None}
# MaxText mesh axis -> pathsim's (the same vocabulary); other MaxText axes must stay at 1.
MESH_AXES: dict[str, str] = {"data": "data", "fsdp": "fsdp", "tensor": "tensor", "pipeline": "pipeline"}

_MODEL_KEYS = ("model_name", "global_parameter_scale", "base_emb_dim", "base_num_query_heads", "base_num_kv_heads",
               "base_mlp_dim", "base_num_decoder_layers", "head_dim", "mlp_activations", "logits_via_embedding",
               "vocab_size", "decoder_block", "max_target_length", "attention")
_TRAINING_KEYS = ("per_device_batch_size", "remat_policy", "dtype", "weight_dtype", "grad_dtype", "opt_type")
_LAUNCH_KEYS = ("override_model_config", "compile_topology", "compile_topology_num_slices",
                "num_slices")
TRANSLATED = frozenset(_MODEL_KEYS + _TRAINING_KEYS + _LAUNCH_KEYS + CUSTOM_TENSOR_KEYS
                       + tuple(f"{net}_{axis}_parallelism" for net in ("ici", "dcn") for axis in MESH_AXES))


@dataclass(frozen=True)
class MaxTextLaunch:
    """What a MaxText launch says, as pathsim's experiment mapping plus what was left out."""

    experiment: dict[str, Any]  # an experiment file's mapping; `topology` is a slice name or a file
    ignored: tuple[str, ...]  # `key=value` of the keys read and ignored (keys.yaml), in launch order
    notes: tuple[str, ...]  # translated keys whose effect pathsim does not model yet


def ignored_keys() -> frozenset[str]:
    return frozenset(read_yaml(DATA / "keys.yaml", "maxtext keys")["ignored"])


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """`key=value` arguments, values read as YAML scalars as MaxText reads them (`4`, `full`, `true`)."""
    overrides: dict[str, Any] = {}
    for arg in args:
        key, sep, text = arg.partition("=")
        if not sep or not key:
            raise ConfigError("maxtext", f"{arg!r} is not key=value")
        try:
            overrides[key] = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            overrides[key] = text
    return overrides


def _config_chain(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A MaxText config file over its `base_config:` (relative to the file, else pathsim's copy)."""
    if not path.is_file() and not path.is_absolute() and (DATA / path.name).is_file() and path.parent == Path("."):
        path = DATA / path.name  # `base.yml` with no checkout at hand: MaxText's own, as copied
    if path.resolve() in seen:
        raise ConfigError("base_config", f"{path} is its own base (through {', '.join(p.name for p in seen)})")
    data = read_yaml(path, "--maxtext")
    base = data.pop("base_config", None)
    if base is None:
        return data
    parent = path.parent / str(base) if (path.parent / str(base)).is_file() else Path(str(base))
    return {**_config_chain(parent, (*seen, path.resolve())), **data}


def _model_file(name: str, config_path: Path) -> dict[str, Any]:
    """configs/models/NAME.yml beside the user's config (a MaxText checkout), else pathsim's copy."""
    for folder in (config_path.parent / "models", DATA / "models"):
        if (folder / f"{name}.yml").is_file():
            return read_yaml(folder / f"{name}.yml", "model_name")
    known = sorted(p.stem for p in (DATA / "models").glob("*.yml"))
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise ConfigError("model_name", f"no model file {name}.yml; {hint}known: {', '.join(known)}")


def merged_keys(config: str | Path, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(settings, base.yml's defaults, keys in the order the launch set them), layered as MaxText does."""
    path = Path(config)
    defaults = read_yaml(DATA / "base.yml", "maxtext base.yml")
    settings = _config_chain(path)
    unknown = [k for k in {**settings, **overrides} if k not in defaults]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(defaults), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(unknown[0], f"not a MaxText key (not in base.yml){hint}")
    model_name = overrides.get("model_name", settings.get("model_name", "default"))
    if model_name != "default":
        model = _model_file(str(model_name), path)
        override_model = overrides.get("override_model_config", settings.get("override_model_config", False))
        clashes = [k for k in overrides if k in model and overrides[k] != model[k]]
        if clashes and override_model is not True:
            k = clashes[0]
            raise ConfigError(k, f"{k}={overrides[k]} contradicts model_name={model_name} ({k}: {model[k]}); "
                                 "MaxText refuses this too unless override_model_config=true")
        settings = {**settings, **model}
    order = list(dict.fromkeys([*settings, *overrides]))
    return {**defaults, **settings, **overrides}, defaults, order


def _lookup(table: dict[Any, Any], key: str, value: Any) -> Any:
    """The table's entry for a MaxText value; a value missing from it is refused naming those it has."""
    found = tuple(value) if isinstance(value, list) else value
    if isinstance(found, bool) != isinstance(next(iter(table)), bool) or found not in table:
        raise ConfigError(key, f"{value!r} is not understood; pathsim reads {', '.join(map(str, table))}")
    return table[found]


def _table(table: dict[Any, Any | None], key: str, value: Any) -> Any:
    """As _lookup, and a value the experiment schema cannot express yet (None) is refused too."""
    found = _lookup(table, key, value)
    if found is None:
        raise ConfigError(key, f"{value} is not modelled yet (the experiment schema has no equivalent); "
                               f"modelled: {', '.join(str(k) for k, v in table.items() if v is not None)}")
    return found


def _model(keys: dict[str, Any]) -> dict[str, Any]:
    """MaxText's dims (pyconfig: global_parameter_scale doubles heads and MLP, embedding, layers in turn)."""
    scale = keys["global_parameter_scale"]
    if not (isinstance(scale, int) and scale > 0 and scale & (scale - 1) == 0):
        raise ConfigError("global_parameter_scale", f"must be a power of 2, got {scale!r}")
    rounds, rest = divmod(int(math.log2(scale)), 3)
    heads = rounds + int(rest > 0)
    emb, layers = rounds + int(rest > 1), rounds
    name = keys["model_name"]
    return {
        "name": name if name != "default" else f"maxtext default x{scale}",
        "n_layers": keys["base_num_decoder_layers"] * 2**layers,
        "d_model": keys["base_emb_dim"] * 2**emb,
        "n_heads": keys["base_num_query_heads"] * 2**heads,
        "n_kv_heads": keys["base_num_kv_heads"] * 2**heads,
        "head_dim": keys["head_dim"],
        "d_ff": keys["base_mlp_dim"] * 2**heads,
        "vocab_size": keys["vocab_size"],
        "seq_len": keys["max_target_length"],
        "block": _table(DECODER_BLOCKS, "decoder_block", keys["decoder_block"]),
        "mlp": _table(MLP_ACTIVATIONS, "mlp_activations", keys["mlp_activations"]),
        "tied_embeddings": _lookup({True: True, False: False}, "logits_via_embedding", keys["logits_via_embedding"]),
    }


def _mesh(keys: dict[str, Any], net: str) -> dict[str, int]:
    """The axes of one network other than 1; -1 stays (pathsim infers it as MaxText does)."""
    axes = {}
    for axis, ours in MESH_AXES.items():
        size = keys[f"{net}_{axis}_parallelism"]
        if type(size) is not int or (size < 1 and size != -1):
            raise ConfigError(f"{net}_{axis}_parallelism", f"must be a positive integer or -1, got {size!r}")
        if size != 1:
            axes[ours] = size
    return axes


def _topology(keys: dict[str, Any], topology: str | None) -> str:
    """--topology wins; else MaxText's compile_topology with its number of slices."""
    slices = next((keys[k] for k in ("compile_topology_num_slices", "num_slices") if keys[k] not in (-1, None)), None)
    ref = topology or keys["compile_topology"] or None
    if ref is None:
        raise ConfigError("--topology", "give the slice (e.g. --topology v6e-256) or compile_topology=v6e-256")
    if topology and keys["compile_topology"] and is_slice_name(topology) and \
            slice_named(topology).name != slice_named(keys["compile_topology"], "compile_topology").name:
        raise ConfigError("--topology", f"{topology} contradicts compile_topology={keys['compile_topology']}")
    if slices is None or slices == 1 and not is_slice_name(ref):
        return ref
    if not is_slice_name(ref):
        raise ConfigError("num_slices", f"num_slices={slices} needs a slice name, not the file {ref}")
    return f"{slice_named(ref, 'compile_topology', slices=slices).name}x{slices}"


def _shown(value: Any) -> str:
    """A value as it is written on MaxText's command line (`false`, not Python's `False`)."""
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def _remat_custom(keys: dict[str, Any], defaults: dict[str, Any], notes: list[str]) -> dict[str, str] | None:
    """training.remat_custom from MaxText's per-tensor keys, as the tags of the layer the launch builds;
    keys whose tag that layer does not carry are noted, and only when set away from base.yml's value."""
    for key in CUSTOM_TENSOR_KEYS:
        if keys[key] not in ("device", "offload", "remat"):
            raise ConfigError(key, f"{keys[key]!r} is not one of device, offload, remat")
    changed = [k for k in CUSTOM_TENSOR_KEYS if keys[k] != defaults[k]]
    if keys["remat_policy"] != "custom":
        notes += [f"{k}={keys[k]} has no effect: MaxText reads it only with remat_policy=custom" for k in changed]
        return None
    if keys["attention_out"] != "remat":
        raise ConfigError("attention_out", f"attention_out={keys['attention_out']} is not modelled: pathsim keeps "
                                           "the attention output through `context` (the flash kernel's residual)")
    fused_qkv, gated = keys["fused_qkv"] is True, len(keys["mlp_activations"]) > 1 and keys["fused_mlp"] is not True
    qkv = ("qkv_proj",) if fused_qkv else ("query_proj", "key_proj", "value_proj")
    mlpwi = ("mlpwi_0", "mlpwi_1") if gated else ("mlpwi",)
    if len({keys[k] for k in mlpwi}) > 1:
        raise ConfigError("mlpwi_1", f"mlpwi_0={keys['mlpwi_0']} and mlpwi_1={keys['mlpwi_1']} differ; pathsim "
                                     "keeps the gate and up projections together")
    unused = [k for k in changed if k not in (*qkv, *mlpwi, "decoder_layer_input", "out_proj", "mlpwo", "context")]
    notes += [f"{k}={keys[k]} has no effect: the layer this launch builds tags no tensor {k}" for k in unused]
    custom = {k: keys[k] for k in (*qkv, "decoder_layer_input", "out_proj", "mlpwo", "context")}
    return {**custom, "mlpwi": keys[mlpwi[0]]}


def translate(keys: dict[str, Any], defaults: dict[str, Any], order: list[str],
              topology: str | None = None) -> MaxTextLaunch:
    ignored_names = ignored_keys()
    for key in order:
        if key not in TRANSLATED and key not in ignored_names and keys[key] != defaults[key]:
            raise ConfigError(key, f"{key}={keys[key]!r} would change the step and pathsim does not model it "
                                   f"(base.yml's default is {defaults[key]!r})")
    remat = _table(REMAT_POLICIES, "remat_policy", keys["remat_policy"])
    attention = _table(ATTENTION, "attention", keys["attention"])
    notes: list[str] = []
    remat_custom = _remat_custom(keys, defaults, notes)
    if keys["weight_dtype"] not in DTYPE_BYTES or keys["dtype"] not in DTYPE_BYTES or keys["grad_dtype"] not in DTYPE_BYTES:
        bad = next(k for k in ("weight_dtype", "dtype", "grad_dtype") if keys[k] not in DTYPE_BYTES)
        raise ConfigError(bad, f"{keys[bad]!r} is not understood; pathsim reads {', '.join(DTYPE_BYTES)}")
    ref = _topology(keys, topology)
    model = {**_model(keys), "attention": attention}
    experiment = {
        "name": keys["run_name"] or f"{model['name']} on {ref}",
        "description": "translated from a MaxText launch by `pathsim run --maxtext`",
        "topology": ref,
        "model": model,
        "training": {
            "global_batch_seqs": keys["per_device_batch_size"],  # times the devices, once the topology is read
            "param_bytes": DTYPE_BYTES[keys["weight_dtype"]],
            "grad_bytes": DTYPE_BYTES[keys["grad_dtype"]],
            "activation_bytes": DTYPE_BYTES[keys["dtype"]],
            "optimizer": _table(OPTIMIZERS, "opt_type", keys["opt_type"]),
            "remat": remat,
            **({"remat_custom": remat_custom} if remat_custom is not None else {}),
        },
        "plan": {"ici": _mesh(keys, "ici"), "dcn": _mesh(keys, "dcn")},
    }
    ignored = tuple(f"{k}={_shown(keys[k])}" for k in order if k in ignored_names and keys[k] != defaults[k])
    return MaxTextLaunch(experiment=experiment, ignored=ignored, notes=tuple(notes))


def _global_batch(per_device: Any, topo: TopologyConfig) -> int:
    """MaxText: global batch = per_device_batch_size x devices (one JAX device per chip on every chip here)."""
    devices = sum(math.prod(island.shape) * island.count for island in topo.islands)
    if isinstance(per_device, bool) or not isinstance(per_device, (int, float)) or per_device <= 0:
        raise ConfigError("per_device_batch_size", f"must be a positive number, got {per_device!r}")
    total = per_device * devices
    if total != int(total):
        raise ConfigError("per_device_batch_size", f"{per_device} x {devices} devices is not a whole batch")
    return int(total)


def load_maxtext(config: str | Path, args: list[str], topology: str | None = None,
                 base_dir: Path | None = None) -> tuple[ExperimentConfig, TopologyConfig, MaxTextLaunch]:
    """The experiment a launch describes, its topology, and the translation (for --write-experiment)."""
    keys, defaults, order = merged_keys(config, parse_overrides(args))
    launch = translate(keys, defaults, order, topology)
    exp = launch.experiment
    topo = parse_topology(read_topology_data((base_dir or Path.cwd()) / "launch.yaml", exp["topology"]))
    one_slice = sum(island.count for island in topo.islands) == 1
    plan = {net: axes for net, axes in exp["plan"].items()  # MaxText's default dcn_data=-1 is 1 on one slice
            if axes and not (net == "dcn" and one_slice and set(axes.values()) == {-1})}
    training = {**exp["training"], "global_batch_seqs": _global_batch(exp["training"]["global_batch_seqs"], topo)}
    launch = dataclasses.replace(launch, experiment={**exp, "training": training, "plan": plan})
    return parse_experiment(launch.experiment, topo), topo, launch


def experiment_yaml(launch: MaxTextLaunch, out: Path, base_dir: Path | None = None) -> str:
    """The experiment file's text; a topology file is named relative to where the file is written."""
    exp = dict(launch.experiment)
    if not is_slice_name(exp["topology"]):
        exp["topology"] = os.path.relpath(((base_dir or Path.cwd()) / exp["topology"]).resolve(), out.parent.resolve())
    head = "# Written by `pathsim run --maxtext` from a MaxText launch.\n# Keys read and ignored (no effect on " \
        "the step): " + (", ".join(launch.ignored) or "none") + "\n" + "".join(f"# note: {n}\n" for n in launch.notes)
    return head + yaml.safe_dump(exp, sort_keys=False)
