"""Link contention as SimGrid does it: each transfer is a flow, each resource a capacity constraint, and
rates are max-min fair (weighted progressive filling), recomputed only when the set of flows changes and
only for the flows connected (through shared resources) to the change."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import simpy

from pathsim.engine.timeline import LinkSample

_EPS_BYTES = 1e-3


@dataclass
class _Flow:
    remaining: float
    usage: dict
    done: simpy.Event
    rate: float = 0.0
    since_s: float = 0.0
    version: int = 0


@dataclass
class Network:
    env: simpy.Environment
    capacity: dict
    record: bool = True
    samples: list[LinkSample] = field(default_factory=list)
    _flows: dict[int, _Flow] = field(default_factory=dict)
    _on: dict = field(default_factory=dict)  # resource -> ids of the flows crossing it
    _ids: itertools.count = field(default_factory=itertools.count)
    _util: dict = field(default_factory=dict)

    def transfer(self, nbytes: float, usage: dict) -> simpy.Event:
        """An event that succeeds when `nbytes` have crossed every resource in `usage`."""
        done = self.env.event()
        if nbytes <= _EPS_BYTES or not usage:
            done.succeed()
            return done
        fid = next(self._ids)
        on = self._on
        for res in usage:
            flows = on.get(res)
            if flows is None:
                if res not in self.capacity:
                    raise KeyError(f"no capacity for resource {res}")
                flows = on[res] = set()
            flows.add(fid)
        self._flows[fid] = _Flow(remaining=nbytes, usage=usage, done=done, since_s=self.env.now)
        self._update(usage.keys())
        return done

    def _component(self, seeds) -> list[int]:
        """Flows connected to the seed resources through shared resources."""
        crossing: set[int] = set()
        for res in seeds:
            flows = self._on.get(res)
            if flows:
                if len(flows) > 1:
                    break
                crossing.update(flows)
        else:
            if not crossing:
                return []
            if len(crossing) == 1:
                (fid,) = crossing
                if all(len(self._on[r]) == 1 for r in self._flows[fid].usage):
                    return [fid]  # one flow alone on every resource it crosses: the common case
        seen_res, seen_flows, stack = set(), set(), list(seeds)
        while stack:
            res = stack.pop()
            if res in seen_res:
                continue
            seen_res.add(res)
            for fid in self._on.get(res, ()):
                if fid not in seen_flows:
                    seen_flows.add(fid)
                    stack.extend(r for r in self._flows[fid].usage if r not in seen_res)
        return sorted(seen_flows)

    def _update(self, seeds: set) -> None:
        now = self.env.now
        ids = self._component(seeds)
        for fid in ids:
            flow = self._flows[fid]
            flow.remaining -= flow.rate * (now - flow.since_s)
            flow.since_s = now
        old = {fid: self._flows[fid].rate for fid in ids}
        self._solve(ids)
        for fid in ids:
            flow = self._flows[fid]
            if flow.rate != old[fid] or flow.version == 0:
                flow.version += 1
                wait = max(0.0, flow.remaining) / flow.rate if flow.rate > 0 else None
                if wait is not None:
                    timer = self.env.timeout(wait)
                    timer.callbacks.append(lambda _e, fid=fid, v=flow.version: self._finish(fid, v))
        if self.record:
            self._sample(set(seeds) | {r for fid in ids for r in self._flows[fid].usage})

    def _solve(self, ids: list[int]) -> None:
        """Weighted progressive filling: raise every unfrozen flow's rate together until a resource
        saturates, freeze the flows crossing it, repeat."""
        if len(ids) == 1:  # alone on its resources: the tightest one sets the rate
            flow = self._flows[ids[0]]
            flow.rate = min(self.capacity[res] / w for res, w in flow.usage.items())
            return
        flows = [self._flows[fid] for fid in ids]
        free = {}
        for flow in flows:
            flow.rate = 0.0
            for res in flow.usage:
                free[res] = self.capacity[res]
        active = flows
        while active:
            load: dict = {}
            for flow in active:
                for res, w in flow.usage.items():
                    load[res] = load.get(res, 0.0) + w
            level = min(free[res] / w for res, w in load.items())
            for flow in active:
                flow.rate += level
                for res, w in flow.usage.items():
                    free[res] -= level * w
            saturated = {res for res in load if free[res] <= 1e-9 * self.capacity[res]}
            active = [f for f in active if not any(res in saturated for res in f.usage)]

    def _finish(self, fid: int, version: int) -> None:
        flow = self._flows.get(fid)
        if flow is None or flow.version != version:
            return  # its rate changed since: a newer timer is pending
        del self._flows[fid]
        for res in flow.usage:
            self._on[res].discard(fid)
        flow.done.succeed()
        self._update(flow.usage.keys())

    def _sample(self, resources: set) -> None:
        now = self.env.now
        for res in resources:
            used = sum(self._flows[f].rate * self._flows[f].usage[res] for f in self._on.get(res, ()))
            util = used / self.capacity[res] if self.capacity[res] > 0 else 0.0
            if abs(util - self._util.get(res, 0.0)) > 1e-9:
                self.samples.append(LinkSample(group=str(res[0]), resource=str(res[1]), time_s=now,
                                               utilization=util))
                self._util[res] = util
