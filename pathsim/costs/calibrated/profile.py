"""A cost profile (`pathsim calibrate`): what one device kind was measured to do, as flat frozen rows, in JSON
or CSV.

Times are medians of repeated runs with the per-call overhead subtracted (see microbench.py).
Collective rows use V of the scaling book's collective closed forms: the full (gathered, or not yet reduced) array.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path

from pathsim.config.yamlio import read_text
from pathsim.errors import ConfigError

FORMAT = "pathsim-calibration/1"
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
MEMORY_KINDS = ("norm", "softmax", "elementwise", "optimizer", "gather")
COLLECTIVES = ("all_gather", "reduce_scatter", "all_reduce")


@dataclass(frozen=True)
class CostProfileMeta:
    backend: str  # "cpu", "gpu", "tpu"
    device_kind: str
    device_count: int
    jax_version: str
    date: str  # ISO 8601, UTC
    warmup: int
    repeats: int
    call_overhead_s: float  # median wall time of an empty jitted call: subtracted from every row, and the
    # host enqueue latency of a measured device
    concurrent_slowdown: float  # a matmul run on all devices at once / on one (CPU devices share cores)
    memory_bytes: float  # device (or host) memory, for the measured chip description
    host_load_1min: float  # the host's load average when measured: other work skews CPU timings


@dataclass(frozen=True)
class MatmulPoint:
    kind: str  # "matmul" or "attention_matmul" (batched, as the lowering's attention shapes)
    dtype: str
    m: int
    k: int
    n: int
    batch: int
    time_s: float

    @property
    def flops(self) -> float:
        return 2.0 * self.batch * self.m * self.k * self.n


@dataclass(frozen=True)
class MemoryPoint:
    kind: str  # one of MEMORY_KINDS
    bytes: float  # bytes read + written, as the lowering counts them for that kind of op
    time_s: float


@dataclass(frozen=True)
class CollectivePoint:
    collective: str
    devices: int  # members of one group; all groups of the mesh run at once
    bytes: float  # V
    time_s: float


@dataclass(frozen=True)
class CostProfile:
    meta: CostProfileMeta
    matmuls: tuple[MatmulPoint, ...]
    memory_ops: tuple[MemoryPoint, ...]
    collectives: tuple[CollectivePoint, ...]


_TABLES = (("matmul", MatmulPoint, "matmuls"), ("memory", MemoryPoint, "memory_ops"),
           ("collective", CollectivePoint, "collectives"))
_CSV_COLUMNS = ("table", "kind", "dtype", "m", "k", "n", "batch", "collective", "devices", "bytes", "time_s")


# --- writing ---------------------------------------------------------------------------------------------
def to_json(profile: CostProfile) -> str:
    doc = {"format": FORMAT, "meta": dataclasses.asdict(profile.meta)}
    for _, _, attr in _TABLES:
        doc[attr] = [dataclasses.asdict(row) for row in getattr(profile, attr)]
    return json.dumps(doc, indent=1)


def to_csv(profile: CostProfile) -> str:
    """One row per measurement; the metadata as leading `# key=value` comment lines."""
    out = io.StringIO()
    out.write(f"# format={FORMAT}\n")
    for key, value in dataclasses.asdict(profile.meta).items():
        out.write(f"# {key}={value}\n")
    writer = csv.DictWriter(out, fieldnames=_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for table, _, attr in _TABLES:
        for row in getattr(profile, attr):
            writer.writerow({"table": table, **dataclasses.asdict(row)})
    return out.getvalue()


# --- reading ---------------------------------------------------------------------------------------------
def _build(cls, values: dict, field: str):
    """A dataclass from a mapping of strings or numbers, converted to the field types."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values or values[f.name] in ("", None):
            raise ConfigError(field, f"missing {f.name!r}")
        raw = values[f.name]
        try:
            kwargs[f.name] = {"int": int, "float": float, "str": str}[f.type](raw)
        except (TypeError, ValueError):
            raise ConfigError(field, f"{f.name}={raw!r} is not a {f.type}") from None
    row = cls(**kwargs)
    if getattr(row, "time_s", 1.0) <= 0.0:
        raise ConfigError(field, f"time_s must be positive, got {row.time_s}")
    return row


def _validate(profile: CostProfile, field: str) -> CostProfile:
    for p in profile.matmuls:
        if p.dtype not in DTYPE_BYTES:
            raise ConfigError(field, f"unknown dtype {p.dtype!r}; known: {', '.join(DTYPE_BYTES)}")
        if min(p.m, p.k, p.n, p.batch) <= 0:
            raise ConfigError(field, f"matmul dims must be positive, got {p}")
    for q in profile.memory_ops:
        if q.kind not in MEMORY_KINDS:
            raise ConfigError(field, f"unknown memory op kind {q.kind!r}; known: {', '.join(MEMORY_KINDS)}")
    return profile


def json_document(text: str, field: str, fmt: str, what: str) -> dict:
    """The JSON object of a file whose `format` key must be `fmt`, or one ConfigError naming `field`."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(field, f"not valid JSON (line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise ConfigError(field, f"not a {fmt} {what} (missing or wrong 'format')")
    return doc


def _meta(values: dict, field: str) -> CostProfileMeta:
    # Profiles written before the field was renamed (the committed calibration/*.json) call it dispatch_s.
    if isinstance(values, dict) and "call_overhead_s" not in values and "dispatch_s" in values:
        values = {**values, "call_overhead_s": values["dispatch_s"]}
    return _build(CostProfileMeta, values, field)


def from_json(text: str, field: str = "calibration.profile") -> CostProfile:
    doc = json_document(text, field, FORMAT, "profile")
    meta = _meta(doc.get("meta") or {}, field)
    tables = {attr: tuple(_build(cls, row, field) for row in doc.get(attr, [])) for _, cls, attr in _TABLES}
    return _validate(CostProfile(meta=meta, **tables), field)


def from_csv(text: str, field: str = "calibration.profile") -> CostProfile:
    lines = text.splitlines()
    meta_values = {}
    for line in lines:
        if line.startswith("# ") and "=" in line:
            key, _, value = line[2:].partition("=")
            meta_values[key.strip()] = value.strip()
    if meta_values.pop("format", None) != FORMAT:
        raise ConfigError(field, f"not a {FORMAT} profile (missing '# format=' line)")
    rows: dict[str, list] = {attr: [] for _, _, attr in _TABLES}
    by_table = {table: (cls, attr) for table, cls, attr in _TABLES}
    for row in csv.DictReader(line for line in lines if not line.startswith("#")):
        if row.get("table") not in by_table:
            raise ConfigError(field, f"unknown table {row.get('table')!r} in a CSV row")
        cls, attr = by_table[row["table"]]
        rows[attr].append(_build(cls, row, field))
    return _validate(CostProfile(meta=_meta(meta_values, field),
                             **{k: tuple(v) for k, v in rows.items()}), field)


def load_cost_profile(path: Path, field: str = "calibration.profile") -> CostProfile:
    if not path.exists():
        raise ConfigError(field, f"file {str(path)!r} does not exist; run `pathsim calibrate --out {path}`")
    text = read_text(path, field)  # a directory, a binary or an unreadable file: one line
    return from_csv(text, field) if path.suffix == ".csv" else from_json(text, field)
