"""Experiment files of the Pathways runtime, one model per `kind`, validated with pydantic; bad input is
one ConfigError naming the field."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator

from pathsim.catalog.hardware import CHIPS, ChipSpec, chip_spec
from pathsim.catalog.latencies import LATENCIES, RuntimeLatencies
from pathsim.config.experiment import (PATHWAYS_KINDS, ExperimentConfig, IslandConfig, StrictModel, TopologyConfig,
                                       MAX_SIMULATED_OPS, check_override_ranges, config_error,
                                       parse_experiment, work_size)
from pathsim.mesh.plan import mesh_of
from pathsim.placement.mesh_axes import place
from pathsim.platform.topology import build_cluster
from pathsim.catalog.dispatch_modes import DISPATCH_MODES, DispatchMode
from pathsim.errors import ConfigError

LatencyField = Literal[tuple(f.name for f in dataclasses.fields(RuntimeLatencies))]  # type: ignore[misc]
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
    description: str = Field("", description="free text")
    chip: str = Field("tpu_v4", description="a chip of pathsim/catalog/hardware.py")
    chips_per_host: Annotated[int, Field(gt=0, le=64)] | None = Field(None, description=(
        "chips per host; omitted: the chip's (TPU v4: 4, the paper's config A)"))
    latencies: dict[LatencyField, Annotated[float, Field(ge=1e-9, le=10.0)]] = Field(
        default_factory=dict, description=(
            "overrides of pathsim/catalog/latencies.py, s (read from `runtime:` in earlier files)"))
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

    @model_validator(mode="before")
    @classmethod
    def _earlier_key(cls, data: Any) -> Any:
        """Earlier files named the latency overrides `runtime`, the word of a training experiment's section."""
        if isinstance(data, dict) and "runtime" in data and "latencies" not in data:
            data = {("latencies" if k == "runtime" else k): v for k, v in data.items()}
        return data

    def runtime_latencies(self) -> RuntimeLatencies:
        return dataclasses.replace(LATENCIES, **self.latencies)


# --- pathways_dispatch ------------------------------------------------------------------------------
class ThresholdPoint(StrictModel):
    """One deployment at which the threshold is searched."""

    hosts: Count = Field(description="hosts of the slice")
    chips_per_host: Annotated[int, Field(gt=0, le=64)] = Field(description="chips per host")
    paper_s: Seconds | None = Field(None, description="the paper's figure, printed beside ours, s")


class ThresholdConfig(StrictModel):
    """Smallest computation time at which `pathways` reaches (1 - tolerance) x `baseline` throughput."""

    points: list[ThresholdPoint] = Field(min_length=1, max_length=16, description="deployments searched")
    baseline: DispatchMode = Field("jax_opbyop", description="the mode matched")
    pathways: DispatchMode = Field("pathways_opbyop", description="the mode that must match it")
    tolerance: float = Field(default=0.02, gt=0, lt=1, description="shortfall allowed (0.02: 98% of the baseline)")
    calls: int = Field(default=16, ge=2, le=1024, description="calls per simulated run of the bisection")


def _gangs(mode: str, calls: int, chain_length: int) -> int:
    """Gangs one dispatch run schedules (the engine's unit of work, on every host)."""
    return calls * (chain_length if mode == "pathways_chained" else 1)


class DispatchConfig(_Base):
    """Computations/s against hosts for each dispatch mode (the Pathways paper, section 5)."""

    kind: Literal["pathways_dispatch"] = Field(description="the Pathways paper's dispatch micro-benchmark")
    hosts: list[Count] = Field(min_length=1, max_length=64, description="host counts, each simulated once")
    modes: list[DispatchMode] = Field(min_length=1, max_length=len(DISPATCH_MODES), description=(
        "jax_* are multi-controller JAX, pathways_* the single controller; opbyop: one computation per call; "
        "chained: a chain of computations per call; fused: the chain compiled into one"))
    chain_length: Annotated[int, Field(gt=0, le=10_000)] = Field(128, description="computations per chained call")
    calls: int = Field(default=4, ge=2, le=1024, description="chained / fused calls per run")
    opbyop_calls: int = Field(default=32, ge=2, le=10_000, description="op-by-op calls per run")
    threshold: ThresholdConfig | None = Field(None, description=(
        "the smallest computation time at which Pathways matches the baseline"))

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
    horizon_s: Seconds = Field(description="simulated time of each run, s")
    warmup_s: float = Field(default=0.0, ge=0, description="start of the measurement window, s")

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
    """Aggregate programs/s for each client count and program time."""

    clients: list[Annotated[int, Field(gt=0, le=1024)]] = Field(min_length=1, max_length=64,
                                                                 description="client counts")
    program_times_s: list[Seconds] = Field(min_length=1, max_length=64, description="device time per program, s")
    outstanding: Annotated[int, Field(gt=0, le=1024)] = Field(1, description=(
        "programs a client has in flight (1: it reads each result before its next)"))

    _clients_unique = _no_duplicates("clients", "client count")
    _times_unique = _no_duplicates("program_times_s", "program time")

    def runs(self) -> int:
        return len(self.clients)

    def program_times(self) -> list[float]:
        return self.program_times_s

    def clients_total(self) -> int:
        return sum(self.clients)


class SharesSweep(_Window):
    """Device-time shares under the proportional-share policy."""

    weights: list[Annotated[list[Annotated[float, Field(gt=0, le=1e6)]], Field(min_length=1, max_length=256)]] = (
        Field(min_length=1, max_length=64, description="per run, the clients' proportional-share weights"))
    program_s: Seconds = Field(description="device time per program, s")
    outstanding: Annotated[int, Field(gt=0, le=1024)] = Field(8, description="programs a client has in flight")

    def runs(self) -> int:
        return len(self.weights)

    def clients_total(self) -> int:
        return sum(len(w) for w in self.weights)


class BackpressureSweep(_Window):
    """Programs holding HBM while enqueued: the scheduler stalls when it runs out."""

    clients: Annotated[int, Field(gt=0, le=1024)] = Field(2, description="clients")
    program_s: Seconds = Field(description="device time per program, s")
    hbm_fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field(min_length=1, max_length=64, description=(
        "share of one chip's HBM each program holds while enqueued or running, one run each"))
    outstanding: Annotated[int, Field(gt=0, le=1024)] = Field(4, description="programs a client has in flight")

    _fractions_unique = _no_duplicates("hbm_fractions", "HBM fraction")

    def runs(self) -> int:
        return len(self.hbm_fractions)


class MultiTenancyConfig(_Base):
    """Several clients gang-scheduled on one island."""

    kind: Literal["pathways_multitenancy"] = Field(description="clients sharing one island")
    island: Shape = Field(description="torus shape of the shared island")
    client_slice: Shape | None = Field(None, description="the slice every client asks for; omitted: the island")
    policy: Literal["fifo", "proportional"] = Field("fifo", description=(
        "gang scheduler policy of the throughput and back-pressure sweeps"))
    throughput: ThroughputSweep | None = Field(None, description="aggregate throughput against clients")
    shares: SharesSweep | None = Field(None, description="proportional shares of device time")
    backpressure: BackpressureSweep | None = Field(None, description="HBM back-pressure")

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
class IslandLayout(StrictModel):
    """One deployment of the section's training step: its islands and the plan over them."""

    name: str = Field(description="label")
    islands: list[Shape] = Field(min_length=1, max_length=64, description=(
        "torus shape of each island, joined by the DCN (one shape: the plan runs the same program on each)"))
    plan: dict[str, Any] = Field(description=(
        "the plan, as a training experiment's `plan` (docs/reference.md): ici axes inside each island, dcn "
        "axes across the islands (e.g. dcn.pipeline: stages on different islands, dcn.data: data parallelism)"))


class Comparison(StrictModel):
    """One training step of a model on each layout, simulated as `pathsim run` simulates a training
    experiment (lowered program, Pathways actors, network); throughput against the first layout."""

    model: Any = Field(description="the model, as a training experiment's `model` (a name of the model library)")
    training: dict[str, Any] = Field(description="as a training experiment's `training`")
    runtime: dict[str, Any] = Field(default_factory=dict, description="as a training experiment's `runtime`")
    layouts: list[IslandLayout] = Field(min_length=2, max_length=8, description=(
        "deployments with equal chip counts, compared against the first"))


class MultiIslandConfig(_Base):
    """Training steps spanning islands over the DCN, each against one island with as many chips."""

    kind: Literal["pathways_multiisland"] = Field(description="programs spanning islands over the DCN")
    pipeline: Comparison | None = Field(None, description="a pipeline with stages on different islands")
    data_parallel: Comparison | None = Field(None, description="data parallelism across islands")

    @model_validator(mode="after")
    def _layouts(self) -> "MultiIslandConfig":
        _at_least_one(self, ("pipeline", "data_parallel"))
        if self.latencies:
            raise ConfigError("latencies", "the training step runs on the catalog's latencies "
                                         "(pathsim/catalog/latencies.py); pathways_multiisland takes no overrides")
        if self.chips_per_host is not None:
            raise ConfigError("chips_per_host", "the training step runs on the chip's hosts; "
                                                "pathways_multiisland takes no chips_per_host")
        for name in ("pipeline", "data_parallel"):
            if getattr(self, name) is not None:
                self.experiments(name)
        return self

    def experiments(self, section: str) -> list[tuple[str, ExperimentConfig, TopologyConfig]]:
        """Each layout of `section` as a training experiment and its topology; ConfigError naming the field."""
        comp: Comparison = getattr(self, section)
        built = []
        for k, layout in enumerate(comp.layouts):
            where = f"{section}.layouts.{k}"
            for j, shape in enumerate(layout.islands):
                self.check_shape(shape, f"{where}.islands.{j}")
            topo = TopologyConfig(name=f"{self.name}.{layout.name}", chip=self.chip,
                                  islands=[IslandConfig(shape=list(shape)) for shape in layout.islands],
                                  overrides=dict(self.overrides))
            data = {"name": f"{self.name}.{section}.{layout.name}", "topology": "(inline)", "model": comp.model,
                    "training": comp.training, "plan": layout.plan, "runtime": comp.runtime}
            try:
                exp = parse_experiment(data, topo)
                build_place(exp, topo)
            except ConfigError as err:
                prefix = where if err.field.split(".")[0] in ("plan", "topology", "") else section
                raise ConfigError(".".join(p for p in (prefix, err.field) if p), err.message) from None
            built.append((layout.name, exp, topo))
        ops = sum(work_size(exp)[0] for _, exp, _ in built)
        if ops > MAX_SIMULATED_OPS:  # a comparison may take what one `pathsim run` may
            raise ConfigError(f"{section}.layouts", f"about {ops:.3g} ops to simulate over the layouts; the limit "
                                                    f"is {MAX_SIMULATED_OPS:.3g}")
        chips = [math.prod(topo.islands[0].shape) * len(topo.islands) for _, _, topo in built]
        for k, n in enumerate(chips):
            if n != chips[0]:
                raise ConfigError(f"{section}.layouts.{k}.islands", f"{n} chips, the first layout {chips[0]}: "
                                                                   "compare equal chip counts")
        return built



# --- pathways_deadlock ------------------------------------------------------------------------------
class DeadlockConfig(_Base):
    """Two or more programs whose steps all-reduce over the same hosts."""

    kind: Literal["pathways_deadlock"] = Field(description=(
        "programs that communicate, with and without the gang scheduler; exit status 3 on a deadlock"))
    hosts: int = Field(ge=2, le=4096, description="hosts every program's step all-reduces over")
    clients: int = Field(ge=2, le=64, description="programs")
    computation_s: Seconds = Field(description="device time of one step, s")
    schedulers: list[Literal["none", "gang"]] = Field(min_length=1, max_length=2, description=(
        "none: each program enqueues in its own order; gang: the island's gang scheduler orders them"))

    _schedulers_unique = _no_duplicates("schedulers", "scheduler")

    @model_validator(mode="after")
    def _work(self) -> "DeadlockConfig":
        self.check_work(DEADLOCK_WEIGHT * self.hosts * self.clients * len(self.schedulers), "hosts")
        return self


PathwaysConfig = Union[DispatchConfig, MultiTenancyConfig, MultiIslandConfig, DeadlockConfig]
_MODELS = {m.model_fields["kind"].annotation.__args__[0]: m  # type: ignore[union-attr]
           for m in (DispatchConfig, MultiTenancyConfig, MultiIslandConfig, DeadlockConfig)}
if frozenset(_MODELS) != PATHWAYS_KINDS:  # the kinds the experiment loader refuses with a pointer here
    raise ImportError(f"Pathways kinds {sorted(_MODELS)} differ from pathsim.config.experiment.PATHWAYS_KINDS")


def parse(data: dict[str, Any]) -> PathwaysConfig:
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _MODELS:
        raise ConfigError("kind", f"{kind!r} is not a Pathways experiment; known: {', '.join(sorted(_MODELS))}")
    try:
        return TypeAdapter(_MODELS[kind]).validate_python(data)
    except ValidationError as exc:
        raise config_error(exc, "", _MODELS[kind]) from None


def build_place(exp: ExperimentConfig, topo: TopologyConfig) -> None:
    """Refuse, before anything runs, a plan that does not place on the layout's islands."""
    place(exp.plan, mesh_of(exp.plan), build_cluster(topo))
