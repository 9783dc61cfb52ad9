"""Link contention as SimGrid does it: each transfer is a flow, each resource a capacity constraint, and
rates are max-min fair (weighted progressive filling), recomputed only when the set of flows changes."""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from pathsim.timeline import LinkSample

Resource = tuple[str, str]  # (group, resource name), e.g. ("pod0", "ici.x")
_EPS_BYTES = 1e-3


@dataclass
class _Flow:
    remaining: float
    usage: dict[Resource, float]
    done: simpy.Event
    rate: float = 0.0


@dataclass
class Network:
    env: simpy.Environment
    capacity: dict[Resource, float]
    record: bool = True
    samples: list[LinkSample] = field(default_factory=list)
    _flows: list[_Flow] = field(default_factory=list)
    _last_s: float = 0.0
    _version: int = 0
    _util: dict[Resource, float] = field(default_factory=dict)

    def transfer(self, nbytes: float, usage: dict[Resource, float]) -> simpy.Event:
        """An event that succeeds when `nbytes` have crossed every resource in `usage`."""
        done = self.env.event()
        if nbytes <= _EPS_BYTES or not usage:
            done.succeed()
            return done
        for res in usage:
            if res not in self.capacity:
                raise KeyError(f"no capacity for resource {res}")
        self._advance()
        self._flows.append(_Flow(remaining=nbytes, usage=usage, done=done))
        self._reschedule()
        return done

    def _advance(self) -> None:
        dt = self.env.now - self._last_s
        if dt > 0:
            for flow in self._flows:
                flow.remaining -= flow.rate * dt
        self._last_s = self.env.now

    def _solve_rates(self) -> None:
        """Weighted progressive filling: raise every unfrozen flow's rate together until a resource
        saturates, freeze the flows crossing it, repeat."""
        free = {res: cap for res, cap in self.capacity.items()}
        active = list(self._flows)
        for flow in active:
            flow.rate = 0.0
        while active:
            load: dict[Resource, float] = {}
            for flow in active:
                for res, w in flow.usage.items():
                    load[res] = load.get(res, 0.0) + w
            level, bottleneck = min((free[res] / w, res) for res, w in load.items())
            still = []
            for flow in active:
                flow.rate += level
                for res, w in flow.usage.items():
                    free[res] -= level * w
            for flow in active:
                if bottleneck in flow.usage:
                    continue
                if any(free[res] <= 1e-9 * self.capacity[res] for res in flow.usage):
                    continue
                still.append(flow)
            active = still

    def _reschedule(self) -> None:
        finished = [f for f in self._flows if f.remaining <= _EPS_BYTES]
        self._flows = [f for f in self._flows if f.remaining > _EPS_BYTES]
        for flow in finished:
            flow.done.succeed()
        self._solve_rates()
        if self.record:
            self._sample()
        self._version += 1
        if self._flows:
            wait = min(f.remaining / f.rate for f in self._flows)
            self.env.process(self._wake(self._version, wait))

    def _wake(self, version: int, wait_s: float):
        yield self.env.timeout(wait_s)
        if version != self._version:
            return  # the flow set changed since: a newer wake-up is pending
        self._advance()
        for flow in self._flows:
            if flow.remaining <= flow.rate * 1e-12 + _EPS_BYTES:
                flow.remaining = 0.0
        self._reschedule()

    def _sample(self) -> None:
        used: dict[Resource, float] = {}
        for flow in self._flows:
            for res, w in flow.usage.items():
                used[res] = used.get(res, 0.0) + flow.rate * w
        for res in set(used) | set(self._util):
            util = used.get(res, 0.0) / self.capacity[res]
            if abs(util - self._util.get(res, 0.0)) > 1e-9:
                self.samples.append(LinkSample(group=res[0], resource=res[1], time_s=self.env.now,
                                               utilization=util))
            if util > 0:
                self._util[res] = util
            else:
                self._util.pop(res, None)
