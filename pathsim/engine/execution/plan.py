"""What the engine precomputes about one group's program, once, for every unit that runs it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pathsim.costs.compute import ComputeCostModel
from pathsim.workload.program import ComputeOp, Op


@dataclass(frozen=True)
class GroupPlan:
    """Static facts about one group's program, shared by every unit that runs it.

    A compute op waits only on its communication dependencies: the in-order stream already ran every
    compute op before it. So only compute ops that communication waits on need to announce completion."""

    deps_count: tuple[int, ...]  # dependencies each op waits on (communication only, for compute ops)
    dependents: tuple[tuple[int, ...], ...]
    segments: tuple[tuple[int, ...], ...]  # compute ops simulated as one timed run each
    segment_s: tuple[float, ...]  # each segment's duration at full speed
    announce: tuple[tuple[int, ...], ...]  # per segment: its ops that communication waits on
    durations_s: tuple[float, ...]  # per op (0 for communication)
    is_compute: tuple[bool, ...]
    computation: tuple[str, ...]
    initially_ready: dict[str, tuple[int, ...]]  # per computation: ops with nothing to wait for


def plan_group(ops: Sequence[Op], cost: ComputeCostModel) -> GroupPlan:
    n = len(ops)
    is_compute = tuple(isinstance(op, ComputeOp) for op in ops)
    counted = [[d for d in op.deps if not (is_compute[j] and is_compute[d])] for j, op in enumerate(ops)]
    dependents: list[list[int]] = [[] for _ in range(n)]
    for j, deps in enumerate(counted):
        for d in deps:
            dependents[d].append(j)
    segments: list[list[int]] = []
    open_run = False
    for i, op in enumerate(ops):
        if not is_compute[i]:
            continue
        # A new segment after an op that communication waits on, at one that waits on communication, or
        # at another computation: only there can other events bear on this stream.
        if not open_run or counted[i] or op.computation != ops[segments[-1][-1]].computation:
            segments.append([i])
        else:
            segments[-1].append(i)
        open_run = not dependents[i]
    durations = tuple(cost.op_time_s(op) if is_compute[i] else 0.0 for i, op in enumerate(ops))
    return GroupPlan(
        deps_count=tuple(len(d) for d in counted), dependents=tuple(tuple(d) for d in dependents),
        segments=tuple(tuple(s) for s in segments),
        segment_s=tuple(sum(durations[i] for i in s) for s in segments),
        announce=tuple(tuple(i for i in s if dependents[i]) for s in segments),
        durations_s=durations, is_compute=is_compute, computation=tuple(op.computation for op in ops),
        initially_ready={c: tuple(i for i, op in enumerate(ops) if op.computation == c and not counted[i])
                         for c in {op.computation for op in ops}})
