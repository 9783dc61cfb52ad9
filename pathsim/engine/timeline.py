"""What ran where and when: flat, frozen rows that go straight into pandas or a Perfetto trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Track = Literal["compute", "ici", "dcn", "host", "controller", "scheduler"]


@dataclass(frozen=True)
class Span:
    group: str  # device group name, or "controller" / an island name for runtime actors
    track: Track
    lane: str  # a thread within the track: "compute", a printed mesh axis ("ici.tensor"), "dispatch", ...
    name: str
    phase: str
    start_s: float
    end_s: float
    flops: float = 0.0
    bytes: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class LinkSample:
    """Utilisation (0..1) of one resource of one group from `time_s` until the next sample."""

    group: str
    resource: str
    time_s: float
    utilization: float


@dataclass(frozen=True)
class DispatchStats:
    """What the Pathways actors spent dispatching the step (pathsim.engine.pathways.training)."""

    mode: str  # the experiment's runtime.dispatch
    hosts: int  # host executors (one per host of every program group)
    client_busy_s: float  # the single client's CPU (0 with multi-controller dispatch)
    scheduler_busy_s: tuple[float, ...]  # per island: each gang scheduler's CPU (0 with multi-controller)
    host_messages: int  # dispatch messages the executors received (0 with multi-controller)
    host_busy_s: float  # every host's CPU spent receiving and enqueuing, summed


@dataclass(frozen=True)
class Timeline:
    spans: tuple[Span, ...]
    link_samples: tuple[LinkSample, ...]
    groups: tuple[str, ...]
    group_chips: tuple[int, ...]
    pipelined: bool
    end_s: float
    events_processed: int
    group_end_s: tuple[float, ...] = ()  # when each program group finished its last op
    dispatch: DispatchStats | None = None


def union_length(intervals: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the (start, end) intervals."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total
