"""A CSV of published training runs --read--> one PublishedRun per row, or the row's error.

The columns are those of pathsim/data/published_runs/published_runs.csv (its README gives their sources and
conventions). A missing or unknown column refuses the whole file; a bad value fails only its row, naming
the row and the column, so that the other rows still run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pathsim.config.experiment import did_you_mean
from pathsim.errors import ConfigError

# pathsim/data/published_runs: package data, present in a clone and in an installed wheel alike.
DEFAULT_RUNS = Path(__file__).resolve().parents[2] / "data" / "published_runs" / "published_runs.csv"

Positive = Field(gt=0, le=2**31)


class PublishedRun(BaseModel):
    """One published run: the model, the plan on its slices, and the throughput its authors published."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # lax: CSV text is coerced

    id: str = Field(min_length=1)
    chip: str
    chips: int | None = Field(None, gt=0)
    slices: int = Field(gt=0, le=1024)
    slice_shape: str = Field(pattern=r"^\d+(x\d+){0,2}$", description="torus dims of one slice, e.g. 16x16")
    n_layers: int = Positive
    d_model: int = Positive
    n_heads: int = Positive
    n_kv_heads: int | None = Field(None, gt=0)
    head_dim: int | None = Field(None, gt=0)
    d_ff: int = Positive
    mlp: str
    block: str
    vocab: int = Positive
    seq_len: int = Positive
    tied_embeddings: bool
    global_batch_seqs: int = Positive
    per_chip_batch: float | None = Field(None, gt=0)
    ici_fsdp: int = Positive
    ici_tensor: int = Field(1, gt=0)
    dcn_data: int = Field(1, gt=0)
    remat_policy: str
    attention: str | None = None
    optimizer: str
    reported_tflops_per_chip: float | None = Field(None, gt=0)
    reported_mfu: float | None = Field(None, gt=0, le=1)
    reported_hfu: float | None = Field(None, gt=0, le=1)
    step_s_derived: float = Field(gt=0, description="the published step time, s")
    source: str = ""

    @property
    def shape(self) -> list[int]:
        return [int(d) for d in self.slice_shape.split("x")]

    @model_validator(mode="after")
    def _consistent(self) -> "PublishedRun":
        per_slice = math.prod(self.shape)
        if self.ici_fsdp * self.ici_tensor != per_slice:
            raise ConfigError("ici_fsdp", f"ici_fsdp x ici_tensor = {self.ici_fsdp} x {self.ici_tensor} is not the "
                                          f"{per_slice} chips of a {self.slice_shape} slice")
        if self.dcn_data != self.slices:
            raise ConfigError("dcn_data", f"{self.dcn_data} is not the number of slices ({self.slices}): one "
                                          "data-parallel replica per slice")
        if self.chips is not None and self.chips != self.slices * per_slice:
            raise ConfigError("chips", f"{self.chips} is not slices x slice chips = {self.slices} x {per_slice}")
        total = self.slices * per_slice
        if self.per_chip_batch is not None and abs(self.per_chip_batch * total - self.global_batch_seqs) > \
                0.01 * self.global_batch_seqs:
            raise ConfigError("per_chip_batch", f"{self.per_chip_batch:g} x {total} chips is not "
                                                f"global_batch_seqs ({self.global_batch_seqs})")
        return self


COLUMNS = tuple(PublishedRun.model_fields)
REQUIRED = tuple(name for name, f in PublishedRun.model_fields.items() if f.is_required())


@dataclass(frozen=True)
class RowError:
    """A row that cannot be run: where it is (1-based data row, as a spreadsheet shows it after the header)
    and which column is wrong."""

    row: int
    id: str
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row} ({self.id}), column {self.column}: {self.message}"


def _row_error(row: int, run_id: str, exc: ValidationError | ConfigError) -> RowError:
    if isinstance(exc, ConfigError):
        return RowError(row, run_id, exc.field, exc.message)
    err = exc.errors()[0]
    original = (err.get("ctx") or {}).get("error")
    if isinstance(original, ConfigError):
        return RowError(row, run_id, original.field, original.message)
    column = ".".join(str(p) for p in err["loc"]) or "row"
    return RowError(row, run_id, column, f"{err['msg']} (got {err.get('input')!r})")


def parse_row(values: dict[str, str], row: int) -> PublishedRun | RowError:
    """One CSV row (text) as a PublishedRun; empty cells are absent values."""
    present = {k: v.strip() for k, v in values.items() if v is not None and str(v).strip() != ""}
    try:
        return PublishedRun.model_validate(present)
    except (ValidationError, ConfigError) as exc:
        return _row_error(row, present.get("id", "?"), exc)


def read_runs(path: str | Path = DEFAULT_RUNS, field: str = "--runs") -> list[PublishedRun | RowError]:
    """Every row of a published-runs CSV, in file order. The file's columns are checked first."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ConfigError(field, f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(field, f"{path}: not a readable CSV ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    columns = [str(c).strip() for c in frame.columns]
    for column in columns:
        if column not in COLUMNS:
            raise ConfigError(field, f"{path.name}: unknown column {column!r}{did_you_mean(column, list(COLUMNS))}")
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ConfigError(field, f"{path.name}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if frame.empty:
        raise ConfigError(field, f"{path.name}: no rows")
    frame.columns = columns
    return [parse_row(values, i + 1) for i, values in enumerate(frame.to_dict(orient="records"))]
