"""Every valid plan: each way of factoring an island's chips into the ICI mesh axes and the islands into
the DCN axes, times micro-batch counts and remat policies. Shape checks come later, per plan, so that a
plan that cannot work is kept with its reason rather than silently left out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from pathsim.studies.whatif.params import Point


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def factorizations(n: int, k: int) -> Iterator[tuple[int, ...]]:
    """Ordered k-tuples of positive integers whose product is n."""
    if k == 0:
        if n == 1:
            yield ()
        return
    if k == 1:
        yield (n,)
        return
    for d in divisors(n):
        for rest in factorizations(n // d, k - 1):
            yield (d, *rest)


def mesh_axes(total: int, kinds: Sequence[str]) -> Iterator[dict[str, int]]:
    """Axis sizes over `kinds` multiplying to `total`; axes of size 1 are left out."""
    for sizes in factorizations(total, len(kinds)):
        yield {kind: size for kind, size in zip(kinds, sizes) if size > 1}


def all_plans(island_chips: int, islands: int, ici_kinds: Sequence[str], dcn_kinds: Sequence[str],
              microbatches: Sequence[int], remat: Sequence[str]) -> Iterator[Point]:
    """Points overriding plan.ici, plan.dcn, plan.placement (automatic), micro-batches and remat.

    FSDP and pipeline may sit on ICI or on DCN, not both (pathsim.workload.lowering.axis_sizes), so such
    combinations are not plans at all and are not generated."""
    for ici, dcn in itertools.product(list(mesh_axes(island_chips, ici_kinds)), list(mesh_axes(islands, dcn_kinds))):
        if any(kind in ici for kind in dcn if kind != "data"):
            continue
        for mb, policy in itertools.product(microbatches, remat):
            point: tuple[tuple[str, Any], ...] = (
                ("plan.ici", ici), ("plan.dcn", dcn), ("plan.placement", {}),
                ("plan.microbatches", mb), ("training.remat", policy),
            )
            yield point
