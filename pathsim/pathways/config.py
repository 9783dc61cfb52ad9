"""Experiment files of the Pathways runtime, one model per `kind`, validated with pydantic; bad input is
one ConfigError naming the field."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from pathsim.catalog.hardware import ChipSpec, chip_spec
from pathsim.catalog.runtime import RUNTIME, RuntimeLatencies
from pathsim.engine.pathways.specs import DispatchMode
from pathsim.errors import ConfigError
from pathsim.experiment import StrictModel, config_error

RuntimeField = Literal[tuple(f.name for f in dataclasses.fields(RuntimeLatencies))]  # type: ignore[misc]
Pos = Annotated[float, Field(gt=0)]
PosInt = Annotated[int, Field(gt=0)]
Shape = Annotated[list[PosInt], Field(min_length=1)]


class _Base(StrictModel):
    name: str
    description: str = ""
    chip: str = "tpu_v4"
    chips_per_host: PosInt | None = None  # None: the chip's (TPU v4: 4, the paper's config A)
    runtime: dict[RuntimeField, Pos] = Field(default_factory=dict)  # overrides of catalog/runtime.py
    # What-if overrides of catalog/hardware.py values, as in topology files (e.g. a faster DCN).
    overrides: dict[Literal["dcn_bytes_per_s_per_host", "ici_link_bytes_per_s", "peak_bf16_flops_per_s",
                            "ici_hop_latency_s"], Pos] = Field(default_factory=dict)

    def chip_spec(self) -> ChipSpec:
        spec = dataclasses.replace(chip_spec(self.chip, "chip"), **self.overrides)
        if self.chips_per_host is not None:
            spec = dataclasses.replace(spec, chips_per_host=self.chips_per_host)
        return spec

    def latencies(self) -> RuntimeLatencies:
        return dataclasses.replace(RUNTIME, **self.runtime)


# --- pathways_dispatch ------------------------------------------------------------------------------
class ThresholdPoint(StrictModel):
    hosts: PosInt
    chips_per_host: PosInt
    paper_s: Pos | None = None  # the paper's figure, printed beside ours


class ThresholdConfig(StrictModel):
    """Smallest computation time at which `pathways` reaches (1 - tolerance) x `baseline` throughput."""

    points: list[ThresholdPoint] = Field(min_length=1)
    baseline: DispatchMode = "jax_opbyop"
    pathways: DispatchMode = "pathways_opbyop"
    tolerance: float = Field(default=0.02, gt=0, lt=1)
    calls: int = Field(default=16, ge=2)


class DispatchConfig(_Base):
    kind: Literal["pathways_dispatch"]
    hosts: list[PosInt] = Field(min_length=1)
    modes: list[DispatchMode] = Field(min_length=1)
    chain_length: PosInt = 128
    calls: int = Field(default=4, ge=2)  # chained / fused calls per run
    opbyop_calls: int = Field(default=32, ge=2)
    threshold: ThresholdConfig | None = None


# --- pathways_multitenancy --------------------------------------------------------------------------
class _Window(StrictModel):
    horizon_s: Pos
    warmup_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _window(self):
        if self.warmup_s >= self.horizon_s:
            raise ValueError("warmup_s must be shorter than horizon_s")
        return self


class ThroughputSweep(_Window):
    clients: list[PosInt] = Field(min_length=1)
    program_times_s: list[Pos] = Field(min_length=1)
    outstanding: PosInt = 1  # each client reads a program's result before its next


class SharesSweep(_Window):
    weights: list[Annotated[list[Pos], Field(min_length=1)]] = Field(min_length=1)
    program_s: Pos
    outstanding: PosInt = 8


class BackpressureSweep(_Window):
    clients: PosInt = 2
    program_s: Pos
    hbm_fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field(min_length=1)  # of one chip's HBM
    outstanding: PosInt = 4


class MultiTenancyConfig(_Base):
    kind: Literal["pathways_multitenancy"]
    island: Shape  # torus shape of the shared island
    client_slice: Shape | None = None  # what every client asks for; None: the whole island
    policy: Literal["fifo", "proportional"] = "fifo"  # of the throughput and back-pressure sweeps
    throughput: ThroughputSweep | None = None
    shares: SharesSweep | None = None
    backpressure: BackpressureSweep | None = None


# --- pathways_multiisland ---------------------------------------------------------------------------
class DenseModel(StrictModel):
    params: Pos
    d_model: PosInt
    seq_len: PosInt
    mfu: float = Field(gt=0, le=1)  # model-FLOPs utilization the stage computations reach (an input)


class Layout(StrictModel):
    name: str
    islands: list[Shape] = Field(min_length=1)
    stage_islands: list[int] | None = None  # island of each stage; None: consecutive, evenly split


class PipelineSweep(StrictModel):
    model: DenseModel
    stages: PosInt
    microbatches: PosInt
    microbatch_seqs: PosInt
    stage_slice: Shape
    schedule: Literal["gpipe", "1f1b"] = "gpipe"  # 1F1B couples stages tightly: DCN latency stalls it
    layouts: list[Layout] = Field(min_length=1)


class DataParallelSweep(StrictModel):
    model: DenseModel
    global_batch_seqs: PosInt
    grad_bytes: PosInt = 2
    one_island: Shape  # the baseline: one island with as many chips as all of `islands`
    island: Shape  # each of the data-parallel islands
    islands: int = Field(default=2, ge=2)


class MultiIslandConfig(_Base):
    kind: Literal["pathways_multiisland"]
    pipeline: PipelineSweep | None = None
    data_parallel: DataParallelSweep | None = None


# --- pathways_deadlock ------------------------------------------------------------------------------
class DeadlockConfig(_Base):
    kind: Literal["pathways_deadlock"]
    hosts: int = Field(ge=2)
    clients: int = Field(ge=2)
    computation_s: Pos
    schedulers: list[Literal["none", "gang"]] = Field(min_length=1)


PathwaysConfig = Union[DispatchConfig, MultiTenancyConfig, MultiIslandConfig, DeadlockConfig]
_MODELS = {m.model_fields["kind"].annotation.__args__[0]: m  # type: ignore[union-attr]
           for m in (DispatchConfig, MultiTenancyConfig, MultiIslandConfig, DeadlockConfig)}
PATHWAYS_KINDS: frozenset[str] = frozenset(_MODELS)


def parse(data: dict[str, Any]) -> PathwaysConfig:
    kind = data.get("kind")
    if kind not in _MODELS:
        raise ConfigError("kind", f"{kind!r} is not a Pathways experiment; known: {', '.join(sorted(_MODELS))}")
    try:
        return TypeAdapter(_MODELS[kind]).validate_python(data)
    except ValidationError as exc:
        raise config_error(exc, "") from None
