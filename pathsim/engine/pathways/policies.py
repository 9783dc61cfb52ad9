"""Gang-scheduling policies: which client's computation the island's scheduler commits next."""

from __future__ import annotations

from typing import Protocol


class SchedulingPolicy(Protocol):
    def arrive(self, client: int, backlogged: list[int]) -> None: ...

    def pick(self, heads: dict[int, int]) -> int: ...

    def charge(self, client: int, device_s: float) -> None: ...


class Fifo:
    """Computations in the order their requests reached the scheduler (the paper's implementation)."""

    def arrive(self, client: int, backlogged: list[int]) -> None:
        pass

    def pick(self, heads: dict[int, int]) -> int:
        """`heads`: client -> arrival number of its oldest pending request."""
        return min(heads, key=heads.__getitem__)

    def charge(self, client: int, device_s: float) -> None:
        pass


class ProportionalShare:
    """Stride scheduling (Waldspurger and Weihl, 1995): each client's pass advances by the device time it
    used divided by its weight; the smallest pass goes next. Backlogged clients then receive device time
    in proportion to their weights, within one computation."""

    def __init__(self, weights: tuple[float, ...]) -> None:
        self.weights = weights
        self.passes = [0.0] * len(weights)

    def arrive(self, client: int, backlogged: list[int]) -> None:
        # A client returning from idle may not bank the time it was away.
        others = [self.passes[c] for c in backlogged if c != client]
        if others:
            self.passes[client] = max(self.passes[client], min(others))

    def pick(self, heads: dict[int, int]) -> int:
        return min(heads, key=lambda c: (self.passes[c], heads[c]))

    def charge(self, client: int, device_s: float) -> None:
        self.passes[client] += device_s / self.weights[client]
