"""Interpolation between measured points, and nothing beyond them (the caller falls back to the roofline).

Matmuls: inverse-distance weighting (Shepard, power 2) of log(seconds per FLOP) over the nearest measured
shapes in log2(m, k, n, batch) space. Efficiency varies smoothly with each dim's size, so log-space
neighbours are the right ones, and a measured shape returns exactly its measurement.
Memory-bound ops: piecewise-linear interpolation of log(time) against log(bytes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NEIGHBOURS = 8  # 2^3 corners of the (m, k, n) cell around a query, in the usual grid
_EXACT = 1e-9  # log2 distance under which a query is the measured shape


@dataclass(frozen=True)
class ShapeTable:
    """Measured shapes (rows of log2 m, k, n, batch) and their log seconds per FLOP."""

    log_shapes: np.ndarray
    log_s_per_flop: np.ndarray

    @classmethod
    def build(cls, shapes: list[tuple[int, int, int, int]], times_s: list[float]) -> "ShapeTable":
        arr = np.log2(np.asarray(shapes, dtype=float))
        flops = 2.0 * np.prod(np.asarray(shapes, dtype=float), axis=1)
        return cls(log_shapes=arr, log_s_per_flop=np.log(np.asarray(times_s) / flops))

    def covers(self, shape: tuple[int, int, int, int]) -> bool:
        q = np.log2(np.asarray(shape, dtype=float))
        lo, hi = self.log_shapes.min(axis=0), self.log_shapes.max(axis=0)
        return bool(np.all(q >= lo - _EXACT) and np.all(q <= hi + _EXACT))

    def time_s(self, shape: tuple[int, int, int, int]) -> float:
        """Interpolated time; only meaningful where `covers(shape)`."""
        q = np.log2(np.asarray(shape, dtype=float))
        dist = np.linalg.norm(self.log_shapes - q, axis=1)
        nearest = np.argsort(dist, kind="stable")[:NEIGHBOURS]
        if dist[nearest[0]] < _EXACT:
            value = self.log_s_per_flop[nearest[0]]
        else:
            w = 1.0 / dist[nearest] ** 2
            value = float(np.sum(w * self.log_s_per_flop[nearest]) / np.sum(w))
        return 2.0 * math.prod(shape) * math.exp(value)


@dataclass(frozen=True)
class BytesTable:
    """Measured (bytes, time) of one kind of memory-bound op, sorted by bytes."""

    log_bytes: np.ndarray
    log_time_s: np.ndarray

    @classmethod
    def build(cls, nbytes: list[float], times_s: list[float]) -> "BytesTable":
        order = np.argsort(nbytes, kind="stable")
        b = np.log(np.asarray(nbytes, dtype=float)[order])
        t = np.log(np.asarray(times_s, dtype=float)[order])
        # Repeated sizes: keep their mean, so np.interp sees increasing abscissae.
        unique, inverse = np.unique(b, return_inverse=True)
        means = np.bincount(inverse, weights=t) / np.bincount(inverse)
        return cls(log_bytes=unique, log_time_s=means)

    def covers(self, nbytes: float) -> bool:
        if nbytes <= 0:
            return False
        x = math.log(nbytes)
        return self.log_bytes[0] - _EXACT <= x <= self.log_bytes[-1] + _EXACT

    def time_s(self, nbytes: float) -> float:
        return math.exp(float(np.interp(math.log(nbytes), self.log_bytes, self.log_time_s)))
