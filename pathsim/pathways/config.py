"""Experiment files of the Pathways runtime, one model per `kind`, validated with pydantic; bad input is
one ConfigError naming the field."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator

from pathsim.catalog.hardware import CHIPS, ChipSpec, chip_spec
from pathsim.catalog.runtime import RUNTIME, RuntimeLatencies
from pathsim.engine.pathways.specs import DISPATCH_MODES, DispatchMode
from pathsim.errors import ConfigError
from pathsim.experiment import StrictModel, check_override_ranges, config_error

RuntimeField = Literal[tuple(f.name for f in dataclasses.fields(RuntimeLatencies))]  # type: ignore[misc]
Pos = Annotated[float, Field(gt=0)]
PosInt = Annotated[int, Field(gt=0)]
# Bounds that keep every run to seconds: the paper's benchmarks use at most 512 hosts of 4-8 chips.
Count = Annotated[int, Field(gt=0, le=4096)]
Seconds = Annotated[float, Field(gt=0, le=1e3)]
Shape = Annotated[list[Count], Field(min_length=1, max_length=3)]
# Engine work a run may take, in host-computations (hosts x computations) summed over every simulated run:
# about 200k a second here (the shipped experiments take up to 1.1M), so the limit is some 20 s. A pipeline
# micro-batch on a stage (transfers, DCN, two computations) and a deadlock program on a host weigh more,
# measured against the dispatch benchmark's computations.
MAX_HOST_COMPUTATIONS = 4_000_000
PIPELINE_WEIGHT = 40  # per stage, micro-batch and host
DEADLOCK_WEIGHT = 10  # per client, host and scheduler
# The name is the default output file name (`<name>.csv`): a plain file name, no folders.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _unique(values: list, what: str) -> list:
    dup = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if dup is not None:
        raise ValueError(f"{what} {dup!r} is listed twice")
    return values


def _at_least_one(cfg: Any, sections: tuple[str, ...]) -> None:
    if all(getattr(cfg, name) is None for name in sections):
        raise ConfigError(sections[0], f"nothing to run: give at least one of {', '.join(sections)}")


def _no_duplicates(field: str, what: str) -> Any:
    """A validator refusing a list with a repeated value (results are keyed by these values)."""
    return field_validator(field)(classmethod(lambda cls, values: _unique(values, what)))


class _Base(StrictModel):
    name: str = Field(description="label, and the default output file <name>.csv (letters, digits, _ . -)")
    description: str = ""
    chip: str = Field("tpu_v4", description="a chip of pathsim/catalog/hardware.py")
    chips_per_host: Annotated[int, Field(gt=0, le=64)] | None = Field(None, description=(
        "chips per host; omitted: the chip's (TPU v4: 4, the paper's config A)"))
    runtime: dict[RuntimeField, Annotated[float, Field(ge=1e-9, le=10.0)]] = Field(
        default_factory=dict, description="overrides of pathsim/catalog/runtime.py latencies, s")
    overrides: dict[Literal["dcn_bytes_per_s_per_host", "ici_link_bytes_per_s", "peak_bf16_flops_per_s",
                            "ici_hop_latency_s"], float] = Field(default_factory=dict, description=(
        "what-if replacements of catalog values, with the ranges of topology overrides"))

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        if not SAFE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is the default output file name <name>.csv: use letters, digits, _ . - "
                             "(at most 128, no folders)")
        return value

    @field_validator("chip")
    @classmethod
    def _known_chip(cls, value: str) -> str:
        if value not in CHIPS:
            raise ValueError(f"unknown chip {value!r}; known: {', '.join(sorted(CHIPS))}")
        return value

    @field_validator("overrides")
    @classmethod
    def _override_ranges(cls, value: dict[str, float]) -> dict[str, float]:
        return check_override_ranges(value)

    def check_shape(self, shape: list[int], field: str) -> None:
        chip = self.chip_spec()
        if math.prod(shape) > chip.max_slice_chips:
            raise ConfigError(field, f"{math.prod(shape)} chips exceed the {chip.name} maximum slice of "
                                     f"{chip.max_slice_chips}")

    def check_work(self, host_computations: float, field: str) -> None:
        if host_computations > MAX_HOST_COMPUTATIONS:
            raise ConfigError(field, f"about {host_computations:.3g} host-computations to simulate; the limit is "
                                     f"{MAX_HOST_COMPUTATIONS:.3g}")

    def chip_spec(self) -> ChipSpec:
        spec = dataclasses.replace(chip_spec(self.chip, "chip"), **self.overrides)
        if self.chips_per_host is not None:
            spec = dataclasses.replace(spec, chips_per_host=self.chips_per_host)
        return spec

    def latencies(self) -> RuntimeLatencies:
        return dataclasses.replace(RUNTIME, **self.runtime)


# --- pathways_dispatch ------------------------------------------------------------------------------
class ThresholdPoint(StrictModel):
    hosts: Count
    chips_per_host: Annotated[int, Field(gt=0, le=64)]
    paper_s: Seconds | None = None  # the paper's figure, printed beside ours


class ThresholdConfig(StrictModel):
    """Smallest computation time at which `pathways` reaches (1 - tolerance) x `baseline` throughput."""

    points: list[ThresholdPoint] = Field(min_length=1, max_length=16)
    baseline: DispatchMode = "jax_opbyop"
    pathways: DispatchMode = "pathways_opbyop"
    tolerance: float = Field(default=0.02, gt=0, lt=1)
    calls: int = Field(default=16, ge=2, le=1024)


def _gangs(mode: str, calls: int, chain_length: int) -> int:
    """Gangs one dispatch run schedules (the engine's unit of work, on every host)."""
    return calls * (chain_length if mode == "pathways_chained" else 1)


class DispatchConfig(_Base):
    kind: Literal["pathways_dispatch"]
    hosts: list[Count] = Field(min_length=1, max_length=64)
    modes: list[DispatchMode] = Field(min_length=1, max_length=len(DISPATCH_MODES))
    chain_length: Annotated[int, Field(gt=0, le=10_000)] = 128
    calls: int = Field(default=4, ge=2, le=1024)  # chained / fused calls per run
    opbyop_calls: int = Field(default=32, ge=2, le=10_000)
    threshold: ThresholdConfig | None = None

    _hosts_unique = _no_duplicates("hosts", "host count")
    _modes_unique = _no_duplicates("modes", "mode")

    @model_validator(mode="after")
    def _work(self) -> "DispatchConfig":
        chained = ("pathways_chained", "pathways_fused", "jax_fused")
        work = sum(h * _gangs(m, self.calls if m in chained else self.opbyop_calls, self.chain_length)
                   for h in self.hosts for m in self.modes)
        if self.threshold is not None:  # a bisection of 20 steps, each running both modes
            th = self.threshold
            work += sum(p.hosts * 20 * (_gangs(th.pathways, th.calls, self.chain_length)
                                        + _gangs(th.baseline, th.calls, self.chain_length)) for p in th.points)
        self.check_work(work, "hosts")
        return self


# --- pathways_multitenancy --------------------------------------------------------------------------
class _Window(StrictModel):
    horizon_s: Seconds
    warmup_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _window(self):
        if self.warmup_s >= self.horizon_s:
            raise ValueError("warmup_s must be shorter than horizon_s")
        return self

    def runs(self) -> int:
        return 1

    def program_times(self) -> list[float]:
        return [self.program_s]  # type: ignore[attr-defined]

    def clients_total(self) -> int:
        """Clients over every run of the sweep."""
        return self.clients  # type: ignore[attr-defined]


class ThroughputSweep(_Window):
    clients: list[Annotated[int, Field(gt=0, le=1024)]] = Field(min_length=1, max_length=64)
    program_times_s: list[Seconds] = Field(min_length=1, max_length=64)
    outstanding: Annotated[int, Field(gt=0, le=1024)] = 1  # each client reads a program's result before its next

    _clients_unique = _no_duplicates("clients", "client count")
    _times_unique = _no_duplicates("program_times_s", "program time")

    def runs(self) -> int:
        return len(self.clients)

    def program_times(self) -> list[float]:
        return self.program_times_s

    def clients_total(self) -> int:
        return sum(self.clients)


class SharesSweep(_Window):
    weights: list[Annotated[list[Annotated[float, Field(gt=0, le=1e6)]], Field(min_length=1, max_length=256)]] = (
        Field(min_length=1, max_length=64))
    program_s: Seconds
    outstanding: Annotated[int, Field(gt=0, le=1024)] = 8

    def runs(self) -> int:
        return len(self.weights)

    def clients_total(self) -> int:
        return sum(len(w) for w in self.weights)


class BackpressureSweep(_Window):
    clients: Annotated[int, Field(gt=0, le=1024)] = 2
    program_s: Seconds
    hbm_fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field(min_length=1, max_length=64)  # of one chip's HBM
    outstanding: Annotated[int, Field(gt=0, le=1024)] = 4

    _fractions_unique = _no_duplicates("hbm_fractions", "HBM fraction")

    def runs(self) -> int:
        return len(self.hbm_fractions)


class MultiTenancyConfig(_Base):
    kind: Literal["pathways_multitenancy"]
    island: Shape  # torus shape of the shared island
    client_slice: Shape | None = None  # what every client asks for; None: the whole island
    policy: Literal["fifo", "proportional"] = "fifo"  # of the throughput and back-pressure sweeps
    throughput: ThroughputSweep | None = None
    shares: SharesSweep | None = None
    backpressure: BackpressureSweep | None = None

    @model_validator(mode="after")
    def _work(self) -> "MultiTenancyConfig":
        _at_least_one(self, ("throughput", "shares", "backpressure"))
        self.check_shape(self.island, "island")
        hosts = math.ceil(math.prod(self.client_slice or self.island) / self.chip_spec().chips_per_host)
        for name in ("throughput", "shares", "backpressure"):
            sweep = getattr(self, name)
            if sweep is not None:  # at most one program per program time, plus every client's backlog
                backlog = sweep.clients_total() * sweep.outstanding * hosts
                self.check_work(sum(sweep.runs() * hosts * sweep.horizon_s / t + backlog
                                    for t in sweep.program_times()), name)
        return self


# --- pathways_multiisland ---------------------------------------------------------------------------
class DenseModel(StrictModel):
    params: Annotated[float, Field(gt=0, le=1e15)]
    d_model: Annotated[int, Field(gt=0, le=2**31)]
    seq_len: Annotated[int, Field(gt=0, le=2**31)]
    mfu: float = Field(gt=0, le=1)  # model-FLOPs utilization the stage computations reach (an input)


class Layout(StrictModel):
    name: str
    islands: list[Shape] = Field(min_length=1, max_length=64)
    stage_islands: list[Annotated[int, Field(ge=0, le=63)]] | None = None  # None: consecutive, evenly split


class PipelineSweep(StrictModel):
    model: DenseModel
    stages: Annotated[int, Field(gt=0, le=1024)]
    microbatches: Annotated[int, Field(gt=0, le=100_000)]
    microbatch_seqs: Annotated[int, Field(gt=0, le=2**31)]
    stage_slice: Shape
    schedule: Literal["gpipe", "1f1b"] = "gpipe"  # 1F1B couples stages tightly: DCN latency stalls it
    layouts: list[Layout] = Field(min_length=1, max_length=16)


class DataParallelSweep(StrictModel):
    model: DenseModel
    global_batch_seqs: Annotated[int, Field(gt=0, le=2**31)]
    grad_bytes: Annotated[int, Field(gt=0, le=8)] = 2
    one_island: Shape  # the baseline: one island with as many chips as all of `islands`
    island: Shape  # each of the data-parallel islands
    islands: int = Field(default=2, ge=2, le=1024)


class MultiIslandConfig(_Base):
    kind: Literal["pathways_multiisland"]
    pipeline: PipelineSweep | None = None
    data_parallel: DataParallelSweep | None = None

    @model_validator(mode="after")
    def _work(self) -> "MultiIslandConfig":
        _at_least_one(self, ("pipeline", "data_parallel"))
        if (p := self.pipeline) is not None:
            hosts = math.ceil(math.prod(p.stage_slice) / self.chip_spec().chips_per_host)
            self.check_work(PIPELINE_WEIGHT * len(p.layouts) * p.stages * p.microbatches * hosts, "pipeline")
        return self


# --- pathways_deadlock ------------------------------------------------------------------------------
class DeadlockConfig(_Base):
    kind: Literal["pathways_deadlock"]
    hosts: int = Field(ge=2, le=4096)
    clients: int = Field(ge=2, le=64)
    computation_s: Seconds
    schedulers: list[Literal["none", "gang"]] = Field(min_length=1, max_length=2)

    _schedulers_unique = _no_duplicates("schedulers", "scheduler")

    @model_validator(mode="after")
    def _work(self) -> "DeadlockConfig":
        self.check_work(DEADLOCK_WEIGHT * self.hosts * self.clients * len(self.schedulers), "hosts")
        return self


PathwaysConfig = Union[DispatchConfig, MultiTenancyConfig, MultiIslandConfig, DeadlockConfig]
_MODELS = {m.model_fields["kind"].annotation.__args__[0]: m  # type: ignore[union-attr]
           for m in (DispatchConfig, MultiTenancyConfig, MultiIslandConfig, DeadlockConfig)}
PATHWAYS_KINDS: frozenset[str] = frozenset(_MODELS)


def parse(data: dict[str, Any]) -> PathwaysConfig:
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _MODELS:
        raise ConfigError("kind", f"{kind!r} is not a Pathways experiment; known: {', '.join(sorted(_MODELS))}")
    try:
        return TypeAdapter(_MODELS[kind]).validate_python(data)
    except ValidationError as exc:
        raise config_error(exc, "", _MODELS[kind]) from None
