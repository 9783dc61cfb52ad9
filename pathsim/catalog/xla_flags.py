"""The XLA/libtpu flags a step is compiled with (`program: xla`): named flag sets with their sources.

Flags change the program XLA emits (which collectives run asynchronously, fused with compute, pipelined),
so they are part of an experiment (`xla_flags:`) and of the compile cache's key. The default is what a
MaxText user launching the same plan on the same chip gets: the `LIBTPU_INIT_ARGS` of MaxText's launch
scripts for that chip. `libtpu` passes nothing: libtpu's own defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pathsim.errors import ConfigError


@dataclass(frozen=True)
class FlagSet:
    name: str
    flags: tuple[str, ...]
    source: str


_MAXTEXT = "MaxText 0.2.5 (the maxtext wheel on PyPI, Apache-2.0), maxtext/configs/tpu/"
_V5E = ("--xla_tpu_enable_data_parallel_all_reduce_opt=true", "--xla_tpu_data_parallel_opt_different_sized_ops=true",
        "--xla_tpu_enable_async_collective_fusion=true", "--xla_tpu_enable_async_collective_fusion_fuse_all_gather=true",
        "--xla_tpu_enable_async_collective_fusion_multiple_steps=true", "--xla_tpu_overlap_compute_collective_tc=true",
        "--xla_enable_async_all_gather=true")

FLAG_SETS: dict[str, FlagSet] = {s.name: s for s in (
    FlagSet("libtpu", (), "nothing passed: libtpu's own defaults"),
    FlagSet("maxtext_v4", ("--xla_enable_async_all_gather=true",),
            _MAXTEXT + "v4/22b.sh and 52b.sh (which also put TPU_MEGACORE=MEGACORE_DENSE, an environment "
            "variable and no compiler flag, in LIBTPU_INIT_ARGS)"),
    FlagSet("maxtext_v5e", _V5E,
            _MAXTEXT + "v5e/16b.sh, 32b.sh, 64b.sh, 128b.sh, llama2_7b.sh, llama2_13b.sh, llama2_70b.sh (the "
            "same seven flags; pathsim/data/published_runs/README.md names them for the published v5e runs)"),
    FlagSet("maxtext_v5p", ("--xla_tpu_enable_async_collective_fusion_fuse_all_gather=true",
                            "--xla_tpu_megacore_fusion_allow_ags=false", "--xla_enable_async_collective_permute=true",
                            "--xla_tpu_enable_ag_backward_pipelining=true",
                            "--xla_tpu_enable_data_parallel_all_reduce_opt=true",
                            "--xla_tpu_data_parallel_opt_different_sized_ops=true",
                            "--xla_tpu_enable_async_collective_fusion=true",
                            "--xla_tpu_enable_async_collective_fusion_multiple_steps=true",
                            "--xla_tpu_overlap_compute_collective_tc=true", "--xla_enable_async_all_gather=true"),
            _MAXTEXT + "v5p/64b.sh, 128b.sh, 256b.sh, 512b.sh, 1024b.sh, llama2_7b.sh, llama2_70b.sh (the same "
            "ten flags)"),
    FlagSet("maxtext_v6e", ("--xla_tpu_scoped_vmem_limit_kib=98304", "--xla_enable_async_all_gather=true",
                            "--xla_tpu_overlap_compute_collective_tc=true",
                            "--xla_tpu_enable_async_collective_fusion_multiple_steps=true",
                            "--xla_tpu_enable_async_collective_fusion=true",
                            "--xla_tpu_enable_async_collective_fusion_fuse_all_gather=true"),
            _MAXTEXT + "v6e/llama2_7b_4096.sh (MaxText's dense-model v6e script; its Gemma and Mixtral scripts "
            "differ in the VMEM limit and layout flags)"),
)}

# The chip's MaxText flag set: what `xla_flags: maxtext` (the default) means on it.
MAXTEXT_BY_CHIP = {"tpu_v4": "maxtext_v4", "tpu_v5e": "maxtext_v5e", "tpu_v5p": "maxtext_v5p",
                   "tpu_v6e": "maxtext_v6e"}
DEFAULT = "maxtext"

# Layers of fsdp weight all-gathers XLA's compiled step runs ahead of the layer that uses them, per chip:
# the lowering's `runtime.weight_prefetch_layers` default. Source: the compiled corpus
# (pathsim/studies/lowering_corpus.py, docs/xla.md), a 2-layer step on 4 chips of each kind compiled with
# libtpu 0.0.42.1, jax 0.10.2. On TPU v4 and v5p each layer's gathers run inside its own iteration of the
# layer loop (v4: exposed ICI 3.18 ms compiled, 3.44 lowered with 0 layers ahead, 2.10 with 1; the same or
# more under libtpu's, MaxText's v5e and v5p flag sets; v5p: 1.91 compiled, 1.94 with 0, 1.12 with 1). On
# v5e and v6e the compiled step hides them as the lowering does with one layer ahead (v5e: 1.85 compiled
# under every flag set, 2.18 with 1, 3.67 with 0; v6e: 1.02 compiled, 1.08 with 1, 1.82 with 0).
COMPILED_LAYER_PREFETCH = {"tpu_v4": 0, "tpu_v5p": 0, "tpu_v5e": 1, "tpu_v6e": 1}
# HBM the TPU compiler lets one program use per chip, GiB: what libtpu 0.0.42.1 (jax 0.10.2) reports as
# "available HBM" when it refuses an oversized program (`python -m pathsim.studies.compiler_hbm` prints it
# again; tests/studies/test_compiler_hbm.py checks it). A compiled step fits when XLA's figure is within it:
# the compiler's own verdict. It is below the chips' HBM (v4: 32 GiB, 1.25 reserved; v5e's "16 GB" is 16 GiB
# to the compiler, 0.25 reserved).
COMPILER_HBM_GIB = {"tpu_v4": 30.75, "tpu_v5e": 15.75, "tpu_v5p": 95.74, "tpu_v6e": 31.25}
_FLAG = re.compile(r"--[A-Za-z0-9_]+(=[^\s=]+)?")


@dataclass(frozen=True)
class CompileFlags:
    """The flags one compile runs with, and the name the report shows for them."""

    name: str  # a FLAG_SETS name, or "custom"
    flags: tuple[str, ...]

    def text(self) -> str:
        return f"{self.name} ({' '.join(self.flags)})" if self.flags else f"{self.name} (none)"


LIBTPU_DEFAULTS = CompileFlags("libtpu", ())  # nothing passed


def check_setting(setting: str | list[str]) -> None:
    """Refuse an unknown set name or a string that is not one `--name[=value]` flag (field xla_flags)."""
    if isinstance(setting, str):
        if setting != DEFAULT and setting not in FLAG_SETS:
            raise ConfigError("xla_flags", f"unknown flag set {setting!r}: give {DEFAULT} (the chip's MaxText "
                              f"flags), one of {', '.join(FLAG_SETS)}, or a list of --flag=value strings")
        return
    for flag in setting:
        if not _FLAG.fullmatch(flag):
            raise ConfigError("xla_flags", f"{flag!r} is not one flag: write --name=value")


def resolve_flags(setting: str | list[str], chip: str) -> CompileFlags:
    check_setting(setting)
    if not isinstance(setting, str):
        return CompileFlags("custom", tuple(setting))
    name = setting
    if setting == DEFAULT:
        if chip not in MAXTEXT_BY_CHIP:
            raise ConfigError("xla_flags", f"MaxText has no launch flags for {chip!r}: name a flag set")
        name = MAXTEXT_BY_CHIP[chip]
    return CompileFlags(name, FLAG_SETS[name].flags)
