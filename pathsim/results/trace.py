"""Timeline --> Chrome/Perfetto trace JSON: a process per device group (threads: compute, each mesh
axis's collectives), one for the runtime (controller, gang schedulers), one for link-class utilisation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pathsim.engine.timeline import Timeline
from pathsim.results.outputs import write_text_atomic

_US = 1e6


def trace_events(timeline: Timeline) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    pids: dict[str, int] = {}
    tids: dict[tuple[int, str], int] = {}

    def pid_of(process: str) -> int:
        if process not in pids:
            pids[process] = len(pids) + 1
            events.append({"ph": "M", "name": "process_name", "pid": pids[process], "args": {"name": process}})
        return pids[process]

    def tid_of(pid: int, lane: str) -> int:
        if (pid, lane) not in tids:
            tids[(pid, lane)] = len([k for k in tids if k[0] == pid]) + 1
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tids[(pid, lane)],
                           "args": {"name": lane}})
        return tids[(pid, lane)]

    runtime_tracks = ("controller", "scheduler")
    for group in timeline.groups:
        pid_of(f"group {group}")
    for span in timeline.spans:
        process = "runtime" if span.track in runtime_tracks else f"group {span.group}"
        lane = f"{span.group} {span.lane}" if span.track == "scheduler" else span.lane
        pid = pid_of(process)
        events.append({
            "ph": "X", "name": span.name, "cat": span.phase, "pid": pid, "tid": tid_of(pid, lane),
            "ts": span.start_s * _US, "dur": span.duration_s * _US,
            "args": {k: v for k, v in (("flops", span.flops), ("bytes", span.bytes)) if v},
        })
    links = pid_of("links") if timeline.link_samples else None
    for sample in timeline.link_samples:
        events.append({"ph": "C", "name": f"{sample.group} {sample.resource}", "pid": links,
                       "ts": sample.time_s * _US, "args": {"utilization": round(sample.utilization, 4)}})
    return events


def write_trace(timeline: Timeline, path: str | Path, field: str = "--trace") -> Path:
    """Written atomically: a failed write (a full disk) leaves no half-written trace."""
    text = json.dumps({"traceEvents": trace_events(timeline), "displayTimeUnit": "ms"})
    return write_text_atomic(path, text, field)
