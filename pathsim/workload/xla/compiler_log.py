"""What the TPU compiler says about a program's HBM in its own log (libtpu at INFO level, which the compile
child asks for): the block

    Program hbm requirement 1.94G:
        global           560.5K
        scoped            2.00M
        HLO temp          1.91G (100.0% utilization: Unpadded (1.36G) Padded (1.36G), 28.7% fragmentation (562.71M))
        overlays         22.45M

`HLO temp` is the size of the temporaries' heap, fragmentation included; the program fits when this
requirement and its arguments are within the available HBM. `memory_analysis().temp_size_in_bytes` is that
heap plus the fragmentation a second time (checked on every case of the memory corpus, libtpu 0.0.42.1:
temp - heap = the logged fragmentation to 0.02 MiB), so the heap is the compiler's figure for the
temporaries and the fragmentation is what memory_analysis counts twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}  # XLA prints binary units
_SIZE = r"([0-9.]+)([BKMGT])"
_BLOCK = re.compile(r"Program hbm requirement " + _SIZE + r":\n((?:[ \t]+\S.*\n?)+)")
_TEMP = re.compile(r"HLO temp\s+" + _SIZE + r" \(.*fragmentation \(" + _SIZE + r"\)\)")


def _bytes(number: str, unit: str) -> float:
    return float(number) * _UNITS[unit]


@dataclass(frozen=True)
class HbmRequirement:
    total_bytes: float  # what the program needs in HBM besides its arguments (global, scoped, temp, overlays)
    temp_heap_bytes: float  # the temporaries' heap, fragmentation included
    temp_fragmentation_bytes: float  # the part of the heap no buffer uses at the peak


def hbm_requirement(log_text: str) -> HbmRequirement | None:
    """The last program's HBM requirement in a libtpu log (the step is the last program a compile child
    compiles), or None when the log has none (libtpu logged below INFO, or printed another format)."""
    blocks = _BLOCK.findall(log_text)
    if not blocks:
        return None
    total_number, total_unit, lines = blocks[-1]
    total = _bytes(total_number, total_unit)
    temp = _TEMP.search(lines)
    if temp is None:
        # a program without temporaries has no HLO temp line; one that has the line in another format is
        # not read
        return None if "HLO temp" in lines else HbmRequirement(total, 0.0, 0.0)
    return HbmRequirement(total_bytes=total, temp_heap_bytes=_bytes(*temp.group(1, 2)),
                          temp_fragmentation_bytes=_bytes(*temp.group(3, 4)))
