"""The resource manager: hands out virtual slices of a requested mesh shape on islands.

Virtual devices map 1:1 to physical ones. A slice fits an island when its dims, sorted, fit the island's
sorted dims (one box in a box). Shared slices time-share the island's devices through its gang
scheduler; exclusive ones (pipeline stages) get hosts no other exclusive slice holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pathsim.errors import ConfigError


@dataclass(frozen=True)
class VirtualSlice:
    island: int
    shape: tuple[int, ...]
    hosts: tuple[int, ...]  # host indices within the island

    @property
    def chips(self) -> int:
        return math.prod(self.shape)


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


class ResourceManager:
    def __init__(self, islands: tuple[tuple[int, ...], ...], chips_per_host: int) -> None:
        self.islands = islands
        self.chips_per_host = chips_per_host
        self.next_free_host = [0] * len(islands)

    def hosts_in(self, island: int) -> int:
        return math.ceil(math.prod(self.islands[island]) / self.chips_per_host)

    @staticmethod
    def fits(shape: tuple[int, ...], island: tuple[int, ...]) -> bool:
        return len(shape) == len(island) and all(a <= b for a, b in zip(sorted(shape), sorted(island)))

    def allocate(self, shape: tuple[int, ...], field: str, island: int | None = None,
                 exclusive: bool = False) -> VirtualSlice:
        """A slice of `shape` on `island` (or the first island that holds it); ConfigError naming `field`."""
        if any(n <= 0 for n in shape):
            raise ConfigError(field, f"slice dims must be positive, got {_fmt(shape)}")
        if island is not None and not 0 <= island < len(self.islands):
            raise ConfigError(field, f"island {island} does not exist; there are {len(self.islands)} "
                                     f"(0..{len(self.islands) - 1})")
        hosts_needed = math.ceil(math.prod(shape) / self.chips_per_host)
        candidates = [island] if island is not None else range(len(self.islands))
        for i in candidates:
            if not self.fits(shape, self.islands[i]):
                continue
            first = self.next_free_host[i] if exclusive else 0
            if first + hosts_needed > self.hosts_in(i):
                continue
            if exclusive:
                self.next_free_host[i] += hosts_needed
            return VirtualSlice(island=i, shape=shape, hosts=tuple(range(first, first + hosts_needed)))
        where = (f"island {island} ({_fmt(self.islands[island])})" if island is not None
                 else "any island (" + ", ".join(_fmt(s) for s in self.islands) + ")")
        left = " with the hosts left" if exclusive else ""
        raise ConfigError(field, f"slice {_fmt(shape)} ({math.prod(shape)} chips) does not fit {where}{left}")
