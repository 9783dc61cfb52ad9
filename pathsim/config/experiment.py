"""Experiment and topology files: validated with pydantic, refused with one ConfigError naming the field.

An experiment is model + training + plan + runtime + a topology file. Defaults live here and only here.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from pathsim.catalog.models import MODELS, architecture
from pathsim.catalog.dispatch_modes import DISPATCH_ALIASES, DISPATCH_MODE_MEANINGS, STEP_DISPATCH_MODES
from pathsim.catalog.slices import SliceName, is_slice_name, slice_named
from pathsim.errors import ConfigError
from pathsim.catalog.remat import REMAT_NAMES, Placement, TensorName
from pathsim.catalog.xla_flags import DEFAULT as XLA_FLAGS_DEFAULT, FLAG_SETS, check_setting
from pathsim.config.yamlio import read_yaml  # noqa: F401  (re-exported: the one YAML reader)

AXIS_KINDS = ("data", "fsdp", "tensor", "pipeline")
AxisKind = Literal["data", "fsdp", "tensor", "pipeline"]
# Other frameworks' names for the mesh axes, so that a refusal can say which one was meant.
AXIS_SYNONYMS = {"model": "tensor", "mp": "tensor", "tp": "tensor", "dp": "data", "replica": "data",
                 "pp": "pipeline", "stage": "pipeline", "stages": "pipeline", "zero": "fsdp", "sharded": "fsdp"}
# Sizes are bounded so that no product of them overflows a float; no real model comes near these.
DIM_MAX = 2**31
Dim = Annotated[int, Field(gt=0, le=DIM_MAX)]

# What-if overrides of catalog values: (low, high, unit). Outside these a value is a typo, not a what-if
# (a negative or zero bandwidth would act as an infinitely fast one, a tiny one overflows every time).
OVERRIDE_RANGES: dict[str, tuple[float, float, str]] = {
    "ici_link_bytes_per_s": (1e6, 1e15, "B/s, one direction of one ICI link"),
    "dcn_bytes_per_s_per_host": (1e6, 1e15, "B/s, one direction, one host's share of the DCN"),
    "hbm_bytes_per_s": (1e6, 1e16, "B/s of HBM bandwidth per chip"),
    "host_link_bytes_per_s": (1e6, 1e15, "B/s, one direction of one chip's PCIe link to host memory"),
    "peak_bf16_flops_per_s": (1e9, 1e18, "bf16 FLOP/s per chip"),
    "ici_hop_latency_s": (0.0, 1.0, "s per ICI hop"),
}
OverrideKey = Literal["ici_link_bytes_per_s", "dcn_bytes_per_s_per_host", "hbm_bytes_per_s",
                      "peak_bf16_flops_per_s", "ici_hop_latency_s", "host_link_bytes_per_s"]


def check_override_ranges(overrides: dict[str, float]) -> dict[str, float]:
    for key, value in overrides.items():
        low, high, unit = OVERRIDE_RANGES[key]
        if not low <= value <= high:
            raise ConfigError(key, f"{value:g} is outside [{low:g}, {high:g}] ({unit})")
    return overrides


class StrictModel(BaseModel):
    """Every config section: unknown keys refused, no type coercion, no nan or inf, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ModelConfig(StrictModel):
    """A decoder-only transformer. The architecture switches (block, mlp, tied_embeddings) are required:
    each changes the FLOPs and the answer, so none is guessed."""

    name: str = Field("transformer", description="label in reports")
    n_layers: int = Field(gt=0, le=100_000, description="transformer layers")
    d_model: Dim = Field(description="model (residual stream) width")
    n_heads: Dim = Field(description="query heads")
    n_kv_heads: int | None = Field(default=None, gt=0, le=DIM_MAX, description=(
        "key/value heads: omitted = n_heads (multi-head attention); 1 = multi-query (PaLM); "
        "between = grouped-query"))
    head_dim: int | None = Field(default=None, gt=0, le=DIM_MAX,
                                 description="width of one head; omitted = d_model / n_heads")
    d_ff: Dim = Field(description="hidden width of the MLP")
    vocab_size: Dim = Field(description="vocabulary size (embedding and output table rows)")
    seq_len: Dim = Field(description="tokens per training sequence")
    block: Literal["parallel", "serial"] = Field(description=(
        "parallel: attention and MLP read the same layer input and their outputs add (PaLM, GPT-J); "
        "serial: MLP after attention (GPT, LLaMA)"))
    mlp: Literal["swiglu", "gelu", "relu"] = Field(description=(
        "MLP activation; swiglu has a gate and an up projection (3 matrices, PaLM and LLaMA), gelu and relu "
        "one up projection (2 matrices)"))
    tied_embeddings: bool = Field(description=(
        "true: the output layer reuses the input embedding table (PaLM); false: a separate output table "
        "(LLaMA)"))
    attention: Literal["flash", "dot"] = Field("dot", description=(
        "attention kernel: flash computes attention blockwise in fused kernels, as MaxText runs splash "
        "attention (the [T, T] score matrix never reaches HBM, causal masking skips the blocks above the "
        "diagonal; one kernel forward, a dq and a dkv kernel backward, each recomputing the scores; with "
        "program: xla, JAX's Pallas splash kernel, TPU targets only); dot materialises the scores and "
        "probabilities in HBM (PaLM, GPT-3). Library models default to what their source used; a model "
        "written out in full to dot"))

    @model_validator(mode="before")
    @classmethod
    def _library(cls, data: Any) -> Any:
        return resolve_model(data)

    @model_validator(mode="after")
    def _heads(self) -> "ModelConfig":
        kv = self.kv_heads
        if self.n_heads % kv:
            raise ValueError(f"n_kv_heads ({kv}) must divide n_heads ({self.n_heads})")
        if self.head_dim is None and self.d_model % self.n_heads:
            raise ValueError("d_model must be divisible by n_heads when head_dim is not given")
        return self

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads if self.n_kv_heads is not None else self.n_heads

    @property
    def q_head_dim(self) -> int:
        return self.head_dim if self.head_dim is not None else self.d_model // self.n_heads


def _library_entry(name: Any, field: str) -> dict[str, Any]:
    if isinstance(name, str) and name in MODELS:
        return architecture(name)
    close = difflib.get_close_matches(name, list(MODELS), n=1, cutoff=0.5) if isinstance(name, str) else []
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ConfigError(field, f"unknown model {name!r}{hint} (known: {', '.join(MODELS)})")


def resolve_model(value: Any) -> Any:
    """A model of the library (pathsim/catalog/models.py) as the full mapping ModelConfig validates: a name
    (`palm540b`) or a base with fields replaced (`{base: palm540b, n_layers: 4}`). Anything else is
    returned as it is, for pydantic to validate or refuse."""
    if isinstance(value, str):
        return _library_entry(value, "")
    if isinstance(value, dict) and "base" in value:
        overrides = {k: v for k, v in value.items() if k != "base"}
        return {**_library_entry(value["base"], "base"), **overrides}
    return value


ElementBytes = Annotated[int, Field(gt=0, le=8)]


class TrainingConfig(StrictModel):
    """One training step: the batch, number formats, optimizer and rematerialization."""

    global_batch_seqs: Dim = Field(description="sequences per step, over all chips")
    param_bytes: ElementBytes = Field(2, description="bytes per stored weight (2: bf16, as PaLM trained)")
    grad_bytes: ElementBytes = Field(2, description="bytes per gradient element")
    activation_bytes: ElementBytes = Field(2, description="bytes per activation element")
    optimizer: Literal["adafactor", "adam", "sgd"] = Field("adafactor", description=(
        "optimizer state per parameter: adafactor (unfactored, as PaLM: first and second moments) and adam "
        "keep two f32 moments, sgd none"))
    remat: Literal[REMAT_NAMES] = Field("none", description=(  # type: ignore[valid-type]
        "rematerialization: none saves every forward intermediate; full keeps one activation per layer and "
        "recomputes the whole forward in the backward pass; palm is PaLM's policy (paper, appendix B): one "
        "activation per layer kept, 75% of the non-attention and all attention forward FLOPs recomputed "
        "(counted in HFU, not MFU). MaxText's policies by its names (minimal, minimal_with_context, "
        "save_dot_with_context_except_mlp, save_dot_except_mlpwi, save_dot_except_mlp, save_qkv_proj, "
        "save_out_proj, qkv_proj_offloaded, minimal_offloaded): the named matmul outputs are kept on device "
        "(or offloaded to host memory, over the chip's PCIe link), everything else recomputed; custom: "
        "per tensor, from training.remat_custom"))
    remat_custom: dict[TensorName, Placement] | None = Field(None, description=(
        "with remat: custom, where each named tensor of a layer lives for the backward pass: device (kept "
        "in HBM), offload (host memory) or remat (recomputed). Names as MaxText's: decoder_layer_input, "
        "query_proj, key_proj, value_proj, qkv_proj (the three), out_proj, mlpwi, mlpwo, context; a name "
        "left out is recomputed (decoder_layer_input: kept on device)"))

    @model_validator(mode="after")
    def _custom_only_with_custom(self) -> "TrainingConfig":
        if self.remat_custom is not None and self.remat != "custom":
            raise ConfigError("remat_custom", f"is read only with remat: custom (remat is {self.remat})")
        return self


INFER = -1  # MaxText's convention: this mesh axis takes what the others leave


def _inferred(axes: Any) -> list[str]:
    """The axes given as -1 (an int: -1.0 is refused as any float is)."""
    return [k for k, v in axes.items() if type(v) is int and v == INFER] if isinstance(axes, dict) else []


def infer_axes(axes: dict[str, Any], total: int, field: str) -> dict[str, Any]:
    """`axes` with its one -1 replaced by what the other axes leave of `total` (chips per island for
    plan.ici, islands for plan.dcn); a ConfigError naming the axis when they do not divide it. Other bad
    sizes are left for the schema to refuse."""
    unknown = _inferred(axes)
    if len(unknown) > 1:
        raise ConfigError(field, f"only one axis may be inferred (-1), got {unknown}")
    others = [v for k, v in axes.items() if k not in unknown]
    if not unknown or not all(type(v) is int and v > 0 for v in others):
        return axes
    rest = math.prod(others)
    if total % rest:
        raise ConfigError(f"{field}.{unknown[0]}",
                          f"cannot infer: the other axes multiply to {rest}, which does not divide {total}")
    return {**axes, unknown[0]: total // rest}


class PlanConfig(StrictModel):
    """Named mesh axes, MaxText style: `ici` axes live on torus dims, `dcn` axes span islands."""

    ici: dict[AxisKind, int] = Field(default_factory=dict, description=(
        "mesh axes inside each island, name: size; the sizes multiply to the island's chips. tensor: "
        "weights and activations split within a layer; fsdp: batch split, weights, gradients and optimizer "
        "state sharded and all-gathered per layer (ZeRO-3); data: batch split, weights replicated, gradients "
        "all-reduced; pipeline: layers split into stages. One size may be -1: the chips the others leave"))
    dcn: dict[AxisKind, int] = Field(default_factory=dict, description=(
        "mesh axes across islands over the DCN, name: size; the sizes multiply to the number of islands. One "
        "size may be -1: the islands the others leave"))
    placement: dict[AxisKind, Annotated[list[str], Field(max_length=3)]] = Field(default_factory=dict, description=(
        "optional: the torus dims of each ici axis, e.g. {tensor: [x], fsdp: [y, z]}; \"x:4\" takes a "
        "factor of 4 of dim x (the first factor of a dim is contiguous, later ones strided). Each dim at "
        "most once per axis. Omitted axes are placed automatically, tensor innermost"))
    tensor_style: Literal["2d", "megatron"] = Field("2d", description=(
        "2d: PaLM's 2D weight sharding (weights split over tensor and fsdp, activations all-gathered and "
        "reduce-scattered along the tensor axis); megatron: column/row split with an all-reduce per block"))
    microbatches: int = Field(default=1, gt=0, le=100_000, description=(
        "micro-batches per step (pipeline plans; 1 otherwise)"))
    pipeline_schedule: Literal["gpipe", "1f1b"] = Field("gpipe", description=(
        "gpipe: all forwards, then all backwards; 1f1b: one forward one backward, fewer micro-batches in "
        "flight"))

    @model_validator(mode="before")
    @classmethod
    def _infer(cls, data: Any, info: ValidationInfo) -> Any:
        """-1 axes take the topology's chips (ici) or islands (dcn) that the other axes leave."""
        if not isinstance(data, dict):
            return data
        totals = (info.context or {}).get("mesh_totals")
        data = dict(data)
        for section in ("ici", "dcn"):
            axes = data.get(section)
            if not _inferred(axes):
                continue
            if totals is None:  # parsed without its topology (a sweep's base experiment)
                raise ConfigError(section, "-1 (infer the axis) needs the topology: run the experiment file, or "
                                           f"in a sweep give the size and --infer plan.{section}.AXIS")
            data[section] = infer_axes(axes, totals[section], section)
        return data

    @model_validator(mode="after")
    def _sizes(self) -> "PlanConfig":
        for where, axes in (("ici", self.ici), ("dcn", self.dcn)):
            for kind, size in axes.items():
                if not 0 < size <= DIM_MAX:
                    raise ConfigError(f"{where}.{kind}", f"must be a positive axis size, got {size}")
        for kind, dims in self.placement.items():
            if kind not in self.ici:
                raise ConfigError(f"placement.{kind}", "names an axis that plan.ici does not have")
            names = [spec.partition(":")[0] for spec in dims]
            for dim in names:
                if names.count(dim) > 1:
                    raise ConfigError(f"placement.{kind}", f"names dim {dim!r} twice in {dims}; an axis takes "
                                      "one factor of each torus dim (\"x\" or \"x:4\")")
        return self

    def degree(self, kind: str) -> int:
        return self.ici.get(kind, 1) * self.dcn.get(kind, 1)


class RuntimeConfig(StrictModel):
    """How the step is dispatched and overlapped."""

    dispatch: Literal[STEP_DISPATCH_MODES] = Field(  # type: ignore[valid-type]
        "pathways_opbyop", description=(
            "dispatched by the Pathways actors, one of the modes of pathsim/catalog/dispatch_modes.py (docs/pathways.md): "
            + "; ".join(f"{m}: {DISPATCH_MODE_MEANINGS[m]}" for m in STEP_DISPATCH_MODES)
            + ". Earlier spellings are read as " + ", ".join(f"{a} = {m}" for a, m in DISPATCH_ALIASES.items())))

    @field_validator("dispatch", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return DISPATCH_ALIASES.get(value, value) if isinstance(value, str) else value

    overlap_dcn_gradients: bool = Field(False, description=(
        "start the cross-island gradient transfer per layer during the backward pass; false, as PaLM's "
        "program, starts it once the gradients are done"))
    weight_prefetch_layers: int | None = Field(default=None, ge=0, le=100_000, description=(
        "layers whose fsdp weight all-gather may run ahead of their use (0: none); at most n_layers; "
        "default: what XLA's compiled step does on the chip (0 on TPU v4 and v5p, 1 on v5e and v6e: "
        "pathsim/catalog/xla_flags.py)"))


class IslandConfig(StrictModel):
    """One kind of island (pod or slice), `count` times."""

    name: str | None = Field(None, description="label; with count > 1 each gets a number; omitted: island<i>")
    shape: list[Annotated[int, Field(gt=0, le=DIM_MAX)]] = Field(min_length=1, max_length=3, description=(
        "torus dims in chips, x y z (3 for TPU v4/v5p, 2 for v5e/v6e); wraparound follows the chip's rule"))
    count: int = Field(default=1, gt=0, le=1024, description="islands of this shape, joined by the DCN")
    twisted: bool = Field(False, description="a twisted torus (n x n x 2n or n x 2n x 2n shapes only)")


class TopologyConfig(StrictModel):
    """A deployment: islands (pods or slices) of one chip type joined by the DCN."""

    name: str = Field(description="label in reports")
    chip: str = Field(description="a chip of pathsim/catalog/hardware.py: tpu_v4, tpu_v5e, tpu_v5p, tpu_v6e")
    islands: list[IslandConfig] = Field(min_length=1, max_length=1024, description="the pods or slices")
    overrides: dict[OverrideKey, float] = Field(default_factory=dict, description=(
        "what-if replacements of catalog values, reported as overrides; allowed ranges: " + "; ".join(
            f"{k} {lo:g} to {hi:g} {unit}" for k, (lo, hi, unit) in OVERRIDE_RANGES.items())))

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, value: dict[str, float]) -> dict[str, float]:
        return check_override_ranges(value)


class StragglerConfig(StrictModel):
    """A chip, or a whole host, whose compute runs `slowdown` times slower."""

    island: int = Field(default=0, ge=0, le=1024, description="island index, in topology order")
    chip: list[int] | None = Field(None, max_length=3, description="torus coordinate of the chip")
    host: list[int] | None = Field(None, max_length=3, description=(
        "host coordinate: the chip coordinate divided by the host's block (2x2x1 on TPU v4)"))
    slowdown: float = Field(ge=0.01, le=1000, description="compute time multiplier (1.2: 20% slower)")

    @model_validator(mode="after")
    def _one_target(self) -> "StragglerConfig":
        if (self.chip is None) == (self.host is None):
            raise ValueError("give exactly one of chip or host")
        return self


MIN_LINK_FACTOR = 1e-3


class LinkConfig(StrictModel):
    """The ICI link from `chip` to its + neighbour along `dim`, at `factor` of its bandwidth (0: failed)."""

    island: int = Field(default=0, ge=0, le=1024, description="island index, in topology order")
    chip: list[int] = Field(max_length=3, description="torus coordinate of the link's - end")
    dim: Literal["x", "y", "z"] = Field(description="the link runs from chip to its + neighbour along dim")
    factor: float = Field(ge=0, le=1, description=(
        "share of the link's bandwidth left: 0 (failed, traffic detours) or from 0.001 to 1"))

    @field_validator("factor")
    @classmethod
    def _failed_or_degraded(cls, value: float) -> float:
        if 0 < value < MIN_LINK_FACTOR:  # such a link is failed in all but name; its traffic would take ages
            raise ValueError(f"{value:g} is below {MIN_LINK_FACTOR:g}: give 0 for a failed link (traffic detours)")
        return value


class FailureConfig(StrictModel):
    """Failures over a whole training run (goodput), with a checkpoint/restart policy."""

    chip_failures_per_hour: float = Field(default=0.0, ge=0, le=1.0, description="failures per chip per hour")
    host_failures_per_hour: float = Field(default=0.0, ge=0, le=1.0, description="failures per host per hour")
    checkpoint_interval_s: float = Field(gt=0, le=1e9, description="training time between checkpoints, s")
    checkpoint_write_s: float = Field(default=0.0, ge=0, le=1e7, description="time to write a checkpoint, s")
    restart_s: float = Field(default=0.0, ge=0, le=1e7, description="time to restart after a failure, s")
    train_tokens: float = Field(ge=1, le=1e16, description="tokens of the whole run")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="random seed of the simulated run")


class ScenarioConfig(StrictModel):
    """What breaks symmetry or availability: stragglers, degraded or failed links, failures."""

    mode: Literal["auto", "folded", "full"] = Field("auto", description=(
        "folded: one chip per device group; full: every chip, host NIC and directed ICI link; auto: full "
        "when stragglers or links are given"))
    stragglers: list[StragglerConfig] = Field(default_factory=list, max_length=4096,
                                              description="slow chips or hosts")
    links: list[LinkConfig] = Field(default_factory=list, max_length=4096,
                                    description="degraded or failed ICI links")
    failures: FailureConfig | None = Field(None, description="goodput over a training run")

    @property
    def breaks_symmetry(self) -> bool:
        return bool(self.stragglers or self.links)


class CalibrationConfig(StrictModel):
    profile: str = Field(description="a profile written by `pathsim calibrate`, relative to the experiment file")


# The lowering emits about this many ops per layer per micro-batch per device group (PaLM-style layers,
# measured: 15617 ops for 400 layers); the engine simulates some 40k ops/s folded, and full mode simulates
# every chip of a group. The limits keep a run near a minute on a laptop; beyond, pathsim refuses up front.
OPS_PER_LAYER_PASS = 40
MAX_SIMULATED_OPS = 2_000_000
MAX_FULL_CHIP_OPS = 60_000_000


class ExperimentConfig(StrictModel):
    """One training step of a model under a plan on a topology."""

    name: str = Field(description="label in reports")
    description: str = Field("", description="free text")
    topology: str = Field(description=(
        "a topology file, relative to the experiment file, or a Cloud TPU slice name: v5e-256, v5p-1024, v6e-256, "
        "v4-128 (docs/topologies.md lists them); NAMExN is N such slices joined by the DCN, e.g. v5e-256x4"))
    model: ModelConfig = Field(description=(
        "the model: a name of the model library (`palm540b`; `pathsim models` lists them), a library model "
        "with fields replaced (`{base: palm540b, n_layers: 4}`; the name stays the base's unless given), or "
        "every field below"))
    training: TrainingConfig
    plan: PlanConfig
    runtime: RuntimeConfig = RuntimeConfig()
    calibration: CalibrationConfig | None = Field(None, description=(
        "a measured cost profile instead of the spec-sheet roofline"))
    cost_model: Literal["tpu_kernels", "roofline", "compiler"] = Field("tpu_kernels", description=(
        "how a kernel is priced: tpu_kernels (measured TPU kernel figures, the default on TPU chips), "
        "compiler (the compiler's own per-kernel estimates; program: xla only) or roofline (the spec sheet, "
        "kept for comparison); a calibration profile, when named, wins over all"))
    program: Literal["lowered", "xla"] = Field("lowered", description=(
        "which program is simulated: pathsim's own lowering, or what XLA compiles for the target TPU"))
    xla_flags: str | list[str] = Field(XLA_FLAGS_DEFAULT, description=(
        "the XLA/libtpu flags program: xla compiles with: maxtext (the chip's MaxText launch flags, the "
        "default), libtpu (libtpu's own defaults: nothing passed), a named set of pathsim/catalog/xla_flags.py ("
        + ", ".join(FLAG_SETS) + ") or a list of --flag=value strings"))

    @field_validator("xla_flags")
    @classmethod
    def _known_flags(cls, value: str | list[str]) -> str | list[str]:
        try:
            check_setting(value)
        except ConfigError as e:
            raise ValueError(e.message) from None
        return value
    scenario: ScenarioConfig = ScenarioConfig()

    @model_validator(mode="after")
    def _consistent(self) -> "ExperimentConfig":
        if (self.runtime.weight_prefetch_layers or 0) > self.model.n_layers:
            raise ConfigError("runtime.weight_prefetch_layers", f"{self.runtime.weight_prefetch_layers} is more "
                              f"than the model's {self.model.n_layers} layers")
        check_work_size(self, _scenario_mode(self.scenario))
        return self


def _scenario_mode(scenario: ScenarioConfig) -> str:
    if scenario.mode == "auto":
        return "full" if scenario.breaks_symmetry else "folded"
    return scenario.mode


def work_size(exp: ExperimentConfig) -> tuple[int, int]:
    """(ops folded, chip-ops in full mode) the engine would simulate: an estimate made before lowering."""
    plan = exp.plan
    dcn_groups = math.prod(plan.dcn.values()) if plan.dcn else 1
    ops = OPS_PER_LAYER_PASS * exp.model.n_layers * plan.microbatches * dcn_groups
    chips_per_group = (math.prod(plan.ici.values()) if plan.ici else 1) // plan.ici.get("pipeline", 1)
    return ops, ops * chips_per_group


def check_work_size(exp: ExperimentConfig, mode: str) -> None:
    """Refuse, before lowering, a step too large to simulate in about a minute, saying how large it is."""
    plan = exp.plan
    ops, chip_ops = work_size(exp)
    dcn_groups = math.prod(plan.dcn.values()) if plan.dcn else 1
    field = "plan.microbatches" if plan.microbatches > exp.model.n_layers else "model.n_layers"
    size = f"{exp.model.n_layers} layers x {plan.microbatches} micro-batches x {dcn_groups} DCN groups"
    if ops > MAX_SIMULATED_OPS:
        raise ConfigError(field, f"{size} is about {ops:.3g} ops to simulate; the limit is "
                                 f"{MAX_SIMULATED_OPS:.3g}")
    if mode == "full" and chip_ops > MAX_FULL_CHIP_OPS:
        ici = math.prod(plan.ici.values()) if plan.ici else 1
        raise ConfigError("scenario.mode", f"full mode: {size} on {ici} chips per island is about "
                          f"{chip_ops:.3g} chip-ops to simulate; the limit is {MAX_FULL_CHIP_OPS:.3g} "
                          "(fewer layers or chips, or mode folded without stragglers or links)")


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc
                    if not str(part).startswith("function-after") and str(part) != "[key]")


def _unwrap(tp: Any) -> list[Any]:
    """The types a value of annotation `tp` may hold, without Optional/Annotated wrappers."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _models_at(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[type[BaseModel]]:
    """The schema classes a value at `loc` may be validated against; [] when unknown."""
    current = [root] if root is not None else []
    for part in loc:
        nxt = []
        for tp in current:
            origin = typing.get_origin(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
                nxt += _unwrap(tp.model_fields[part].annotation)
            elif origin is list and isinstance(part, int):
                nxt += _unwrap(typing.get_args(tp)[0])
            elif origin is dict:
                nxt += _unwrap(typing.get_args(tp)[1])
        current = nxt
    return [tp for tp in current if isinstance(tp, type) and issubclass(tp, BaseModel)]


def _fields_at(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the mapping at `loc`."""
    return [name for model in _models_at(root, loc) for name in model.model_fields]


def _missing(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """A required key is missing: say which values it takes when they are a fixed set."""
    for model in _models_at(root, loc[:-1]):
        field = model.model_fields.get(str(loc[-1]))
        if field is not None and typing.get_origin(field.annotation) is Literal:
            return f"required (no default), one of: {', '.join(map(str, typing.get_args(field.annotation)))}"
    return "required (no default)"


def did_you_mean(word: str, choices: list[str], synonyms: dict[str, str] | None = None) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    match = (synonyms or {}).get(word.lower()) or (close[0] if close else None)
    return f"; did you mean {match}?" if match else f"; known: {', '.join(choices)}"


def config_error(exc: ValidationError, prefix: str, root: type[BaseModel] | None = None) -> ConfigError:
    """pydantic's first error as one ConfigError naming the dotted field. An unknown key comes first (it
    also makes the key it misspells missing) and names the closest known key of its mapping."""
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = _field_path(err["loc"])
    field = ".".join(p for p in (prefix, loc) if p)
    original = (err.get("ctx") or {}).get("error")
    if isinstance(original, ConfigError):  # raised by a validator that knows its own field
        return ConfigError(".".join(p for p in (field, original.field) if p), original.message)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        key = str(err["loc"][-1])
        msg = "unknown key" + did_you_mean(key, _fields_at(root, err["loc"][:-1]))
    elif err["type"] == "missing":
        msg = _missing(root, err["loc"])
    elif err["type"] == "literal_error" and err["loc"] and err["loc"][-1] == "[key]":
        choices = [c.strip(" '") for c in err["ctx"]["expected"].replace(" or ", ", ").split(",")]
        msg = "unknown name" + did_you_mean(str(err["input"]), choices, AXIS_SYNONYMS)
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return ConfigError(field or prefix or "experiment", msg)


def mesh_totals(topo: TopologyConfig) -> dict[str, int]:
    """What the mesh axes of each network multiply to: chips per island (ici; the first island's, as every
    island runs the same plan) and islands (dcn)."""
    return {"ici": math.prod(topo.islands[0].shape), "dcn": sum(island.count for island in topo.islands)}


def _infers(data: Any) -> bool:
    plan = data.get("plan") if isinstance(data, dict) else None
    return isinstance(plan, dict) and bool(_inferred(plan.get("ici")) or _inferred(plan.get("dcn")))


# The `kind:` of each Pathways runtime experiment (schemas in pathsim.studies.pathways.config, which checks
# that it has one for each); a training experiment has no kind.
PATHWAYS_KINDS: frozenset[str] = frozenset(
    {"pathways_dispatch", "pathways_multitenancy", "pathways_multiisland", "pathways_deadlock"})


def parse_experiment(data: dict[str, Any], topology: TopologyConfig | None = None) -> ExperimentConfig:
    """`topology`, when given, resolves -1 mesh axes (`plan.ici.fsdp: -1`)."""
    if "kind" in data:  # only Pathways runtime experiments have a kind; this one's is not among them
        raise ConfigError("kind", f"{data['kind']!r} is not a Pathways experiment; known: "
                                  f"{', '.join(sorted(PATHWAYS_KINDS))} (a training experiment has no kind)")
    try:
        context = {"mesh_totals": mesh_totals(topology)} if topology is not None else None
        return ExperimentConfig.model_validate(data, context=context)
    except ValidationError as exc:
        raise config_error(exc, "", ExperimentConfig) from None


def parse_topology(data: dict[str, Any]) -> TopologyConfig:
    try:
        return TopologyConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, "topology", TopologyConfig) from None


def resolve_relative(experiment_path: Path, topology: str) -> Path:
    """Paths in an experiment are relative to the experiment file, then to the working directory."""
    candidate = Path(topology)
    if candidate.is_absolute():
        return candidate
    beside = (experiment_path.parent / candidate)
    try:
        return beside if beside.exists() else candidate
    except (OSError, ValueError):  # a NUL or an over-long name: read_yaml refuses it, naming the field
        return candidate


def slice_topology_data(slices: SliceName) -> dict[str, Any]:
    """The topology mapping of a resolved slice name: `slices.slices` islands of its shape."""
    name = slices.name if slices.slices == 1 else f"{slices.name}x{slices.slices}"
    return {"name": name, "chip": slices.chip,
            "islands": [{"name": "slice", "shape": list(slices.shape), "count": slices.slices}]}


def read_topology_data(experiment_path: Path, ref: str, field: str = "topology") -> dict[str, Any]:
    """The topology mapping an experiment's `topology:` names: a file (an existing file wins), else a
    slice name such as v5e-256 or v5e-256x4."""
    if is_slice_name(ref) and not resolve_relative(experiment_path, ref).is_file():
        return slice_topology_data(slice_named(ref, field))
    return read_topology(experiment_path, ref)


def read_topology(experiment_path: Path, topology: str) -> dict[str, Any]:
    """The topology file an experiment names; a missing one is named by its absolute path and by the
    experiment file that names it."""
    path = resolve_relative(experiment_path, topology)
    try:
        missing = not path.exists()
    except (OSError, ValueError):  # a NUL or an over-long name: read_yaml refuses it, naming the field
        missing = False
    if missing:
        beside = (experiment_path.parent / topology).absolute()
        raise ConfigError("topology", f"file {str(beside)!r} does not exist (named {topology!r} in "
                                      f"{str(experiment_path.absolute())!r}; paths are relative to the "
                                      f"experiment file, then to the working directory)")
    return read_yaml(path, "topology")


def load_experiment(path: str | Path) -> tuple[ExperimentConfig, TopologyConfig]:
    path = Path(path)
    data = read_yaml(path, "experiment")
    if _infers(data) and isinstance(data.get("topology"), str):  # -1 axes need the topology first
        topo = parse_topology(read_topology_data(path, data["topology"]))
        return parse_experiment(data, topo), topo
    exp = parse_experiment(data)
    return exp, parse_topology(read_topology_data(path, exp.topology))

