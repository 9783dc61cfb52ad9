"""Pipeline schedules: the order in which one stage runs forward (F) and backward (B) micro-batches."""

from __future__ import annotations

from typing import Literal

Step = tuple[Literal["F", "B"], int]


def gpipe(micro: int) -> list[Step]:
    """GPipe: every forward, then every backward (in reverse, so the last activations are used first)."""
    return [("F", mb) for mb in range(micro)] + [("B", mb) for mb in reversed(range(micro))]


def one_f_one_b(stage: int, stages: int, micro: int) -> list[Step]:
    """1F1B (PipeDream-flush): warm up with (stages - stage - 1) forwards, then alternate, then drain."""
    warmup = min(stages - stage - 1, micro)
    order: list[Step] = [("F", mb) for mb in range(warmup)]
    next_f, next_b = warmup, 0
    while next_f < micro:
        order.append(("F", next_f))
        next_f += 1
        order.append(("B", next_b))
        next_b += 1
    order += [("B", mb) for mb in range(next_b, micro)]
    return order


def pipeline_order(stage: int, stages: int, micro: int, schedule: str) -> list[Step]:
    return gpipe(micro) if schedule == "gpipe" else one_f_one_b(stage, stages, micro)
