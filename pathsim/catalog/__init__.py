"""The one catalog of constants: every hardware and runtime number with its source.

Modules: `hardware` (chips, links, hosts, pods from Cloud TPU docs, the TPU v4 paper and the scaling book)
and `runtime` (documented assumptions for the software stack). Nothing outside this package holds a hardware constant.
"""

from pathsim.catalog.hardware import CHIPS, ChipSpec, Sourced, chip_spec

__all__ = ["CHIPS", "ChipSpec", "Sourced", "chip_spec"]
