"""docs/reference.md, generated from the pydantic schemas: every experiment (training, shared-pod, Pathways
runtime) and topology field with its type, default, allowed values and meaning. The meanings live in the
schemas' Field descriptions.

    python -m pathsim.reference            # rewrite docs/reference.md
    python -m pathsim.reference --check    # exit 1 when the file is out of date (the tests do this)
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from pathsim.config.experiment import (
    MAX_FULL_CHIP_OPS,
    MAX_SIMULATED_OPS,
    OVERRIDE_RANGES,
    ExperimentConfig,
    ModelConfig,
    TopologyConfig,
)
from pathsim.config.yamlio import MAX_DEPTH, MAX_FILE_BYTES, MAX_INT_DIGITS, MAX_NODES
from pathsim.studies.jobs import SharedPodConfig

OUT = Path(__file__).resolve().parents[1] / "docs" / "reference.md"

HEADER = f"""# Reference: experiment, topology, shared-pod and Pathways runtime files

Generated from the schemas by `python -m pathsim.reference` (a test checks it is current); the
meanings are the `Field(description=...)` of `pathsim/config/experiment.py`, `pathsim/studies/jobs.py` and
`pathsim/studies/pathways/config.py`. Units are SI: seconds, bytes, FLOP/s. What the Pathways runtime experiments
show is in `docs/pathways.md`; a `pathways_deadlock` run that detects a deadlock exits with status 3.

Every file is read the same way: UTF-8 YAML holding one mapping, at most {MAX_FILE_BYTES // 2**20} MiB,
{MAX_DEPTH} levels deep, {MAX_NODES} values, integers of at most {MAX_INT_DIGITS} digits; a key given twice
in one mapping is refused, naming it. Unknown keys are refused with the closest known one; no number may be
nan or inf; `1e10` is a number, as `1.0e+10`. Bad input ends in one line, `error: <field>: <what is wrong>`, and exit status 2.

## Plan keywords

A plan names mesh axes, MaxText's vocabulary, each on ICI (inside an island: `plan.ici`) or on the DCN
(across islands: `plan.dcn`):

- `tensor`: each layer's weights and activations split over the axis (PaLM's "model" axis);
  `tensor_style: 2d` is PaLM's 2D weight sharding (weights split over tensor and fsdp, activations
  all-gathered and reduce-scattered along the tensor axis), `megatron` the column/row split with an
  all-reduce per block;
- `fsdp`: the batch split, and weights, gradients and optimizer state sharded over the axis, each layer's
  weights all-gathered before use (`runtime.weight_prefetch_layers` ahead) and its gradients
  reduce-scattered (ZeRO-3);
- `data`: the batch split, weights replicated, gradients all-reduced (PaLM's 2-way DCN axis);
- `pipeline`: layers split into consecutive stages, `plan.microbatches` micro-batches per step, scheduled
  `gpipe` or `1f1b`;
- `placement`: which torus dims an ICI axis takes (`[x]`, `[y, z]`, `"x:4"` for a factor of 4 of x).

One axis per network may be `-1` (MaxText's convention): `plan: {{ici: {{tensor: 12, fsdp: -1}}}}` gives fsdp
the island's chips that tensor leaves (256 of 3072), `dcn: {{data: -1}}` the islands. A second `-1` in the
same network, or sizes that do not divide the chips (islands), are refused naming the axis.

## Model library (`model: NAME`)

An experiment names a published architecture, `model: palm540b`, or one with fields replaced,
`model: {{base: palm540b, n_layers: 4}}`, or gives every field of `model` below. The entries live in
`pathsim/catalog/models.py`, each with its source and what is not modelled (biases, learned position
embeddings, sparse or sliding-window attention); `pathsim models` lists them. An unknown name is refused
with the closest known one.

{{models}}

## Rematerialization (`training.remat`)

`none` keeps every forward intermediate for the backward pass; `full` keeps one activation per layer and
recomputes the whole forward; `palm` is PaLM's policy (PaLM paper, appendix B): one activation per layer
kept, 75% of the non-attention and all of the attention forward FLOPs recomputed. Recomputed FLOPs count
in HFU, not in MFU.

MaxText's policies go by its names (their name lists are copied in `pathsim/catalog/remat.py` from
MaxText's `Decoder.get_remat_policy`): each keeps the named tensors of a layer on device, or offloads them
to host memory, and recomputes the rest. The tensors: `decoder_layer_input` (always kept: the scan's
carry), `query_proj`, `key_proj`, `value_proj`, `context` (the flash kernel's output and softmax
statistics; a `dot` attention tags none), `out_proj`, `mlpwi` (gate and up), `mlpwo`.

| policy | kept on device | offloaded |
|---|---|---|
| `minimal` | q, k, v, out_proj, mlpwi, mlpwo | |
| `minimal_with_context` | those and context | |
| `save_dot_with_context_except_mlp` | q, k, v, context, out_proj | |
| `save_dot_except_mlpwi` | q, k, v, out_proj, mlpwo | |
| `save_dot_except_mlp` | q, k, v, out_proj | |
| `save_qkv_proj` | q, k, v | |
| `save_out_proj` | out_proj | |
| `qkv_proj_offloaded` | | q, k, v |
| `minimal_offloaded` | | q, k, v, out_proj, mlpwi, mlpwo |
| `custom` | per tensor, `training.remat_custom` | per tensor |

What the backward recomputes follows the layer's dataflow: each matmul whose output the backward reads
and the policy does not keep (q, k and v for the attention backward; mlpwi for the activation's; in a
serial block out_proj, whose output makes the second norm's input), and attention unless `context` is
kept; norms, rope and the MLP activation are always recomputed. mlpwo's output (and a parallel block's
out_proj) feeds only the next layer, whose input is kept: neither recomputed nor stored. Offloaded
tensors leave HBM (the report's `offloaded` line, not in the total) and cross the chip's PCIe link
(`host_link_bytes_per_s` in the chip catalog, a topology override) to the host in the forward and back
before the layer's backward, overlapping compute; they cost step time only when that link is the
bottleneck. With `custom`, `training.remat_custom` maps tensor names (and `qkv_proj` for the three
projections) to `device`, `offload` or `remat`: `{{query_proj: offload, mlpwi: device}}`.

## Limits on the work simulated

A step is refused up front, saying how large it is, beyond about {MAX_SIMULATED_OPS:.0e} ops (about 40 per
layer per micro-batch per DCN group) in folded mode or {MAX_FULL_CHIP_OPS:.0e} chip-ops in full mode, and a
failure run beyond {{events}} simulated intervals or failures: each is about a minute of simulation here.
"""


def _type(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _type(args[0])
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"mapping {_type(args[0])} -> {_type(args[1])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "length >="),
           ("max_length", "length <="))


def _constraints(metadata: list[Any]) -> list[str]:
    out = []
    for item in metadata:
        if isinstance(item, FieldInfo):  # Field(...) inside Annotated keeps its bounds in its metadata
            out += _constraints(item.metadata)
            continue
        for attr, sign in _BOUNDS:
            value = getattr(item, attr, None)
            if value is not None:
                out.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
    return out


def _inner_constraints(tp: Any) -> list[str]:
    """Bounds carried by Annotated element types (list[Annotated[int, Field(gt=0)]], ...)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _constraints(list(args[1:])) + _inner_constraints(args[0])
    if origin in (list, dict, typing.Union, types.UnionType):
        return [c for a in args for c in _inner_constraints(a)]
    return []


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "(section defaults)"
    return f"`{value}`" if value not in (None, "", [], {}) else ("none" if value is None else f"`{value!r}`")


def _section(model: type[BaseModel], prefix: str, seen: set[type], title: str = "") -> list[str]:
    lines = [f"### `{title or prefix or 'top level'}` ({model.__name__})", ""]
    doc = _doc(model)
    if doc:
        lines += [doc, ""]
    lines += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    nested: list[tuple[type[BaseModel], str]] = []
    for name, field in model.model_fields.items():
        allowed = _constraints(field.metadata) + _inner_constraints(field.annotation)
        sections = _models_in(field.annotation)
        meaning = (field.description or (_doc(sections[0]) if sections else "")).replace("|", "\\|")
        lines.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | {', '.join(allowed)} | "
                     f"{meaning} |")
        for tp in _models_in(field.annotation):
            nested.append((tp, f"{prefix}.{name}" if prefix else name))
    lines.append("")
    for tp, path in nested:
        if tp not in seen:
            seen.add(tp)
            lines += _section(tp, path, seen)
    return lines


def _doc(model: type[BaseModel]) -> str:
    """The first paragraph of a schema's docstring, on one line."""
    return " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for a in typing.get_args(tp) for m in _models_in(a)]


def _model_library() -> str:
    from pathsim.catalog.models import MODELS, architecture
    from pathsim.workload.model import total_params

    rows = ["| name | params | layers | d_model | heads | kv heads | head dim | d_ff | vocab | seq | block | mlp | "
            "tied | source |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in MODELS.items():
        m = ModelConfig(**architecture(name))
        rows.append(f"| `{name}` | {total_params(m) / 1e9:.2f}B | {m.n_layers} | {m.d_model} | {m.n_heads} | "
                    f"{m.kv_heads} | {m.q_head_dim} | {m.d_ff} | {m.vocab_size} | {m.seq_len} | {m.block} | "
                    f"{m.mlp} | {'yes' if m.tied_embeddings else 'no'} | {entry['source']} |")
    return "\n".join(rows)


def render() -> str:
    from pathsim.results.goodput import MAX_RUN_EVENTS

    header = HEADER.replace("{events}", str(MAX_RUN_EVENTS)).replace("{models}", _model_library())
    lines = [header.rstrip(), ""]
    for title, model, prefix in (("Experiment files (`experiments/*.yaml`)", ExperimentConfig, ""),
                                 ("Topology files (`topologies/*.yaml`)", TopologyConfig, "topology"),
                                 ("Shared-pod job files", SharedPodConfig, "")):
        lines += [f"## {title}", ""]
        lines += _section(model, prefix, {model})
    from pathsim.studies.pathways.config import DeadlockConfig, DispatchConfig, MultiIslandConfig, MultiTenancyConfig

    lines += ["## Pathways runtime experiments (`experiments/pathways_*.yaml`)", "",
              "Each kind is its own schema; `name`, `description`, `chip`, `chips_per_host`, `runtime` and "
              "`overrides` are common to all.", ""]
    for model in (DispatchConfig, MultiTenancyConfig, MultiIslandConfig, DeadlockConfig):
        kind = typing.get_args(model.model_fields["kind"].annotation)[0]
        lines += _section(model, "", {model}, title=f"kind: {kind}")
    lines += ["## Topology overrides", "", "| key | allowed | unit |", "|---|---|---|"]
    lines += [f"| `{k}` | {lo:g} to {hi:g} | {unit} |" for k, (lo, hi, unit) in OVERRIDE_RANGES.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathsim.reference", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/reference.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python -m pathsim.reference", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
