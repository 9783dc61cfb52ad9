"""On-disk cache of compiled steps: the HLO text and what the compiler reported, keyed by everything that
changes the program (model, training, plan, target topology, jax and libtpu versions)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

FORMAT = 4  # bump when the step or what is stored changes (2: key/value heads split over tensor, padded
# vocabulary; 3: f32 optimizer moments for bf16 parameters; 4: the heap's fragmentation from the compiler's log)


def cache_dir() -> Path:
    root = os.environ.get("PATHSIM_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "pathsim") / "xla"


def cache_key(parts: dict) -> str:
    blob = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def load(key: str) -> tuple[str, dict] | None:
    base = cache_dir() / key
    try:
        meta = json.loads((base / "meta.json").read_text())
        with gzip.open(base / "hlo.txt.gz", "rt") as f:
            return f.read(), meta
    except (OSError, ValueError, EOFError):
        return None


def store(key: str, hlo_text: str, meta: dict) -> None:
    base = cache_dir() / key
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / "hlo.txt.gz.tmp"
    with gzip.open(tmp, "wt") as f:
        f.write(hlo_text)
    tmp.replace(base / "hlo.txt.gz")
    (base / "meta.json").write_text(json.dumps(meta, indent=1))  # written last: marks the entry complete
