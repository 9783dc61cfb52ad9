"""Experiment and topology files: validated with pydantic, refused with one ConfigError naming the field.

An experiment is model + training + plan + runtime + a topology file. Defaults live here and only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pathsim.errors import ConfigError

AXIS_KINDS = ("data", "fsdp", "tensor", "pipeline")
AxisKind = Literal["data", "fsdp", "tensor", "pipeline"]


class StrictModel(BaseModel):
    """Every config section: unknown keys refused, no type coercion, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ModelConfig(StrictModel):
    """A decoder-only transformer."""

    name: str = "transformer"
    n_layers: int = Field(gt=0)
    d_model: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int | None = Field(default=None, gt=0)  # None: multi-head (= n_heads); 1: multi-query
    head_dim: int | None = Field(default=None, gt=0)  # None: d_model // n_heads
    d_ff: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    seq_len: int = Field(gt=0)
    block: Literal["parallel", "serial"] = "serial"
    mlp: Literal["swiglu", "gelu", "relu"] = "gelu"
    tied_embeddings: bool = True

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


class TrainingConfig(StrictModel):
    global_batch_seqs: int = Field(gt=0)
    param_bytes: int = Field(default=2, gt=0)  # bf16 weights, as PaLM trained
    grad_bytes: int = Field(default=2, gt=0)
    activation_bytes: int = Field(default=2, gt=0)
    optimizer: Literal["adafactor", "adam", "sgd"] = "adafactor"
    remat: Literal["none", "full", "palm"] = "none"


class PlanConfig(StrictModel):
    """Named mesh axes, MaxText style: `ici` axes live on torus dims, `dcn` axes span islands."""

    ici: dict[AxisKind, int] = Field(default_factory=dict)
    dcn: dict[AxisKind, int] = Field(default_factory=dict)
    # Optional: which torus dims each ICI axis uses, e.g. {tensor: [x], fsdp: [y, z]} or {tensor: ["x:4"]}.
    placement: dict[AxisKind, list[str]] = Field(default_factory=dict)
    tensor_style: Literal["2d", "megatron"] = "2d"
    microbatches: int = Field(default=1, gt=0)
    pipeline_schedule: Literal["gpipe", "1f1b"] = "gpipe"

    @model_validator(mode="after")
    def _sizes(self) -> "PlanConfig":
        for where, axes in (("ici", self.ici), ("dcn", self.dcn)):
            for kind, size in axes.items():
                if size <= 0:
                    raise ValueError(f"{where}.{kind} must be a positive axis size, got {size}")
        for kind in self.placement:
            if kind not in self.ici:
                raise ValueError(f"placement.{kind} names an axis that plan.ici does not have")
        return self

    def degree(self, kind: str) -> int:
        return self.ici.get(kind, 1) * self.dcn.get(kind, 1)


class RuntimeConfig(StrictModel):
    dispatch: Literal["pathways_async", "pathways_sequential", "multi_controller"] = "pathways_async"
    # PaLM's Pathways program starts the cross-pod gradient transfer only once the gradients are done.
    overlap_dcn_gradients: bool = False
    weight_prefetch_layers: int = Field(default=1, ge=0)


class IslandConfig(StrictModel):
    name: str | None = None
    shape: list[int] = Field(min_length=1)
    count: int = Field(default=1, gt=0)
    twisted: bool = False  # a twisted torus (n x n x 2n or n x 2n x 2n shapes only)


class TopologyConfig(StrictModel):
    """A deployment: islands (pods or slices) of one chip type joined by the DCN."""

    name: str
    chip: str
    islands: list[IslandConfig] = Field(min_length=1)
    # What-if overrides of catalog values (a slower link, a faster DCN): reported as overrides.
    overrides: dict[Literal["ici_link_bytes_per_s", "dcn_bytes_per_s_per_host", "hbm_bytes_per_s",
                            "peak_bf16_flops_per_s", "ici_hop_latency_s"], float] = Field(default_factory=dict)


class StragglerConfig(StrictModel):
    """A chip, or a whole host, whose compute runs `slowdown` times slower."""

    island: int = Field(default=0, ge=0)
    chip: list[int] | None = None  # torus coordinate
    host: list[int] | None = None  # host coordinate: the chip coordinate divided by the host's block
    slowdown: float = Field(gt=0)

    @model_validator(mode="after")
    def _one_target(self) -> "StragglerConfig":
        if (self.chip is None) == (self.host is None):
            raise ValueError("give exactly one of chip or host")
        return self


class LinkConfig(StrictModel):
    """The ICI link from `chip` to its + neighbour along `dim`, at `factor` of its bandwidth (0: failed)."""

    island: int = Field(default=0, ge=0)
    chip: list[int]
    dim: Literal["x", "y", "z"]
    factor: float = Field(ge=0, le=1)


class FailureConfig(StrictModel):
    """Failures over a whole training run (goodput), with a checkpoint/restart policy."""

    chip_failures_per_hour: float = Field(default=0.0, ge=0)
    host_failures_per_hour: float = Field(default=0.0, ge=0)
    checkpoint_interval_s: float = Field(gt=0)
    checkpoint_write_s: float = Field(default=0.0, ge=0)
    restart_s: float = Field(default=0.0, ge=0)
    train_tokens: float = Field(gt=0)
    seed: int = 0


class ScenarioConfig(StrictModel):
    mode: Literal["auto", "folded", "full"] = "auto"
    stragglers: list[StragglerConfig] = Field(default_factory=list)
    links: list[LinkConfig] = Field(default_factory=list)
    failures: FailureConfig | None = None

    @property
    def breaks_symmetry(self) -> bool:
        return bool(self.stragglers or self.links)


class CalibrationConfig(StrictModel):
    profile: str  # a profile written by `pathsim calibrate`, relative to the experiment file


class ExperimentConfig(StrictModel):
    name: str
    description: str = ""
    topology: str
    model: ModelConfig
    training: TrainingConfig
    plan: PlanConfig
    runtime: RuntimeConfig = RuntimeConfig()
    calibration: CalibrationConfig | None = None
    # How a kernel is priced: "tpu_kernels" (measured TPU kernel figures, the default on TPU chips) or
    # "roofline" (the spec sheet, kept for comparison). A calibration profile, when named, wins over both.
    cost_model: Literal["tpu_kernels", "roofline"] = "tpu_kernels"
    # Which program is simulated: pathsim's own lowering, or what XLA compiles for the target TPU.
    program: Literal["lowered", "xla"] = "lowered"
    scenario: ScenarioConfig = ScenarioConfig()


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith("function-after"))


def config_error(exc: ValidationError, prefix: str) -> ConfigError:
    """pydantic's first error as one ConfigError naming the dotted field."""
    err = exc.errors()[0]
    loc = _field_path(err["loc"])
    field = ".".join(p for p in (prefix, loc) if p)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key (a typo?)"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return ConfigError(field or prefix, msg)


def read_yaml(path: Path, field: str) -> dict[str, Any]:
    """The mapping in a YAML file, or a ConfigError naming `field`."""
    if not path.is_file():
        raise ConfigError(field, f"file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(field, f"{path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(field, f"{path} must hold a mapping of keys to values")
    return data


def parse_experiment(data: dict[str, Any]) -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, "") from None


def parse_topology(data: dict[str, Any]) -> TopologyConfig:
    try:
        return TopologyConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, "topology") from None


def resolve_relative(experiment_path: Path, topology: str) -> Path:
    """Paths in an experiment are relative to the experiment file, then to the working directory."""
    candidate = Path(topology)
    if candidate.is_absolute():
        return candidate
    beside = (experiment_path.parent / candidate)
    return beside if beside.exists() else candidate


def load_experiment(path: str | Path) -> tuple[ExperimentConfig, TopologyConfig]:
    path = Path(path)
    exp = parse_experiment(read_yaml(path, "experiment"))
    topo = parse_topology(read_yaml(resolve_relative(path, exp.topology), "topology"))
    return exp, topo
