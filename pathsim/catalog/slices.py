"""Cloud TPU slice names (`v5e-256`, `v5p-1024`, `v6e-256`, `v4-128`) and the torus shape of each.

Copied from MaxText's `maxtext/utils/accelerator_to_spec_map.py` (maxtext 0.2.5 on PyPI, Apache-2.0, Google
LLC), the table its launchers and ahead-of-time compiles use; it follows the Cloud TPU docs of each
generation. The number in a name counts TensorCores on v4 and v5p (two per chip: `v5p-1024` is 512 chips)
and chips on v5e and v6e (`v6e-256` is 256 chips). Each row: name -> (shape, wraparound per dim, T/F).
Cloud TPU also calls v5e slices `v5litepod-N`; both spellings are read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from pathsim.errors import ConfigError

# The catalog chip of each generation prefix.
GENERATIONS: Mapping[str, str] = MappingProxyType(
    {"v4": "tpu_v4", "v5p": "tpu_v5p", "v5e": "tpu_v5e", "v6e": "tpu_v6e"})
ALIASES: Mapping[str, str] = MappingProxyType({"v5litepod": "v5e"})

SLICES: Mapping[str, tuple[str, str]] = MappingProxyType({
    # v6e
    "v6e-1": ("1x1", "FF"),
    "v6e-4": ("2x2", "FF"),
    "v6e-8": ("2x4", "FF"),
    "v6e-16": ("4x4", "FF"),
    "v6e-32": ("4x8", "FF"),
    "v6e-64": ("8x8", "FF"),
    "v6e-128": ("8x16", "FT"),
    "v6e-256": ("16x16", "TT"),
    # v5e
    "v5e-1": ("1x1", "FF"),
    "v5e-4": ("2x2", "FF"),
    "v5e-8": ("2x4", "FF"),
    "v5e-16": ("4x4", "FF"),
    "v5e-32": ("4x8", "FF"),
    "v5e-64": ("8x8", "FF"),
    "v5e-128": ("8x16", "FT"),
    "v5e-256": ("16x16", "TT"),
    # v4
    "v4-8": ("2x2x1", "FFF"),
    "v4-16": ("2x2x2", "FFF"),
    "v4-32": ("2x2x4", "FFF"),
    "v4-64": ("2x4x4", "FFF"),
    "v4-128": ("4x4x4", "TTT"),
    "v4-256": ("4x4x8", "TTT"),
    "v4-384": ("4x4x12", "TTT"),
    "v4-512": ("4x8x8", "TTT"),
    "v4-1024": ("8x8x8", "TTT"),
    "v4-1536": ("8x8x12", "TTT"),
    "v4-2048": ("8x8x16", "TTT"),
    "v4-4096": ("8x16x16", "TTT"),
    # v5p
    "v5p-8": ("2x2x1", "FFF"),
    "v5p-16": ("2x2x2", "FFF"),
    "v5p-32": ("2x2x4", "FFF"),
    "v5p-64": ("2x4x4", "FFF"),
    "v5p-128": ("4x4x4", "TTT"),
    "v5p-256": ("4x4x8", "TTT"),
    "v5p-384": ("4x4x12", "TTT"),
    "v5p-512": ("4x8x8", "TTT"),
    "v5p-640": ("4x4x20", "TTT"),
    "v5p-768": ("4x8x12", "TTT"),
    "v5p-896": ("4x4x28", "TTT"),
    "v5p-1024": ("8x8x8", "TTT"),
    "v5p-1152": ("4x12x12", "TTT"),
    "v5p-1280": ("4x8x20", "TTT"),
    "v5p-1408": ("4x4x44", "TTT"),
    "v5p-1536": ("8x8x12", "TTT"),
    "v5p-1664": ("4x4x52", "TTT"),
    "v5p-1792": ("4x8x28", "TTT"),
    "v5p-1920": ("4x12x20", "TTT"),
    "v5p-2048": ("8x8x16", "TTT"),
    "v5p-2176": ("4x4x68", "TTT"),
    "v5p-2304": ("8x12x12", "TTT"),
    "v5p-2432": ("4x4x76", "TTT"),
    "v5p-2560": ("8x8x20", "TTT"),
    "v5p-2688": ("4x12x28", "TTT"),
    "v5p-2816": ("4x8x44", "TTT"),
    "v5p-2944": ("4x4x92", "TTT"),
    "v5p-3072": ("8x12x16", "TTT"),
    "v5p-3200": ("4x20x20", "TTT"),
    "v5p-3328": ("4x8x52", "TTT"),
    "v5p-3456": ("12x12x12", "TTT"),
    "v5p-3584": ("8x8x28", "TTT"),
    "v5p-3712": ("4x4x116", "TTT"),
    "v5p-3840": ("8x12x20", "TTT"),
    "v5p-3968": ("4x4x124", "TTT"),
    "v5p-4096": ("8x16x16", "TTT"),
    "v5p-4224": ("4x12x44", "TTT"),
    "v5p-4352": ("4x8x68", "TTT"),
    "v5p-4480": ("4x20x28", "TTT"),
    "v5p-4608": ("12x12x16", "TTT"),
    "v5p-4736": ("4x4x148", "TTT"),
    "v5p-4864": ("4x8x76", "TTT"),
    "v5p-4992": ("4x12x52", "TTT"),
    "v5p-5120": ("8x16x20", "TTT"),
    "v5p-5248": ("4x4x164", "TTT"),
    "v5p-5376": ("8x12x28", "TTT"),
    "v5p-5504": ("4x4x172", "TTT"),
    "v5p-5632": ("8x8x44", "TTT"),
    "v5p-5760": ("12x12x20", "TTT"),
    "v5p-5888": ("4x8x92", "TTT"),
    "v5p-6016": ("4x4x188", "TTT"),
    "v5p-6144": ("12x16x16", "TTT"),
    "v5p-6272": ("4x28x28", "TTT"),
    "v5p-6400": ("8x20x20", "TTT"),
    "v5p-6528": ("4x12x68", "TTT"),
    "v5p-6656": ("8x8x52", "TTT"),
    "v5p-6784": ("4x4x212", "TTT"),
    "v5p-6912": ("12x12x24", "TTT"),
    "v5p-7040": ("4x20x44", "TTT"),
    "v5p-7168": ("8x16x28", "TTT"),
    "v5p-7296": ("4x12x76", "TTT"),
    "v5p-7424": ("4x8x116", "TTT"),
    "v5p-7552": ("4x4x236", "TTT"),
    "v5p-7680": ("12x16x20", "TTT"),
    "v5p-7808": ("4x4x244", "TTT"),
    "v5p-7936": ("4x8x124", "TTT"),
    "v5p-8064": ("12x12x28", "TTT"),
    "v5p-8192": ("16x16x16", "TTT"),
    "v5p-8320": ("4x20x52", "TTT"),
    "v5p-8448": ("8x12x44", "TTT"),
    "v5p-8704": ("8x8x68", "TTT"),
    "v5p-8832": ("4x12x92", "TTT"),
    "v5p-8960": ("8x20x28", "TTT"),
    "v5p-9216": ("12x16x24", "TTT"),
    "v5p-9472": ("4x8x148", "TTT"),
    "v5p-9600": ("12x20x20", "TTT"),
    "v5p-9728": ("8x8x76", "TTT"),
    "v5p-9856": ("4x28x44", "TTT"),
    "v5p-9984": ("8x12x52", "TTT"),
    "v5p-10240": ("16x16x20", "TTT"),
    "v5p-10368": ("12x12x36", "TTT"),
    "v5p-10496": ("4x8x164", "TTT"),
    "v5p-10752": ("12x16x28", "TTT"),
    "v5p-10880": ("4x20x68", "TTT"),
    "v5p-11008": ("4x8x172", "TTT"),
    "v5p-11136": ("4x12x116", "TTT"),
    "v5p-11264": ("8x16x44", "TTT"),
    "v5p-11520": ("12x20x24", "TTT"),
    "v5p-11648": ("4x28x52", "TTT"),
    "v5p-11776": ("8x8x92", "TTT"),
    "v5p-11904": ("4x12x124", "TTT"),
    "v5p-12032": ("4x8x188", "TTT"),
    "v5p-12160": ("4x20x76", "TTT"),
    "v5p-12288": ("16x16x24", "TTT"),
    "v5p-13824": ("12x24x24", "TTT"),
    "v5p-17920": ("16x20x28", "TTT"),
})

# `v5e-256` or, for several slices joined by the DCN, `v5e-256x4`.
_NAME = re.compile(r"(?P<gen>[a-z0-9]+)-(?P<size>[0-9]+)(?:x(?P<slices>[0-9]+))?")  # ASCII digits only


@dataclass(frozen=True)
class SliceName:
    """A resolved slice name: `slices` identical slices of `shape` chips of `chip`."""

    name: str  # the canonical single-slice name, e.g. v5e-256
    chip: str
    shape: tuple[int, ...]
    wraparound: tuple[bool, ...]  # as the source table gives it
    slices: int = 1

    @property
    def chips_per_slice(self) -> int:
        return math.prod(self.shape)


def is_slice_name(text: str) -> bool:
    """True when `text` reads as a slice name (valid or not) rather than a file path."""
    match = _NAME.fullmatch(text)
    return match is not None and ALIASES.get(match["gen"], match["gen"]) in GENERATIONS


def valid_names(generation: str) -> list[str]:
    return [name for name in SLICES if name.split("-")[0] == generation]


def slice_named(text: str, field: str = "topology", slices: int | None = None) -> SliceName:
    """`v5e-256`, `v5litepod-256` or `v5e-256x4`; a ConfigError naming the valid names otherwise.
    `slices`, when given, is the number of slices (MaxText's num_slices) and the name may not carry one."""
    match = _NAME.fullmatch(text)
    generation = ALIASES.get(match["gen"], match["gen"]) if match else ""
    if generation not in GENERATIONS:
        raise ConfigError(field, f"{text!r} is not a slice name; slice names are GENERATION-SIZE[xSLICES] "
                                 f"with GENERATION one of {', '.join(GENERATIONS)} (e.g. v5e-256, v5p-1024x2)")
    name = f"{generation}-{int(match['size'])}"
    if name not in SLICES:
        raise ConfigError(field, f"no {generation} slice is named {name}; valid: {', '.join(valid_names(generation))}")
    if match["slices"] is not None and slices is not None:
        raise ConfigError(field, f"{text} already gives the number of slices; give it once")
    count = int(match["slices"]) if match["slices"] is not None else (slices if slices is not None else 1)
    if count < 1:
        raise ConfigError(field, f"{text}: the number of slices must be at least 1, got {count}")
    shape, wraps = SLICES[name]
    return SliceName(name=name, chip=GENERATIONS[generation], shape=tuple(int(n) for n in shape.split("x")),
                     wraparound=tuple(flag == "T" for flag in wraps), slices=count)
