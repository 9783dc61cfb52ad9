"""Where a job's slice sits in a shared pod (pathsim.studies.jobs): the pod's links that carry it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PodSlot:
    """Where a job's single-island slice sits in a shared pod's torus."""

    job: str
    origin: tuple[int, ...]
    pod_shape: tuple[int, ...]
    pod_wraps: tuple[bool, ...]
    ocs: bool

    def physical(self, a: tuple[int, ...], b: tuple[int, ...], d: int, step: int) -> list[tuple]:
        pa = tuple(c + o for c, o in zip(a, self.origin))
        pb = tuple(c + o for c, o in zip(b, self.origin))
        if abs(a[d] - b[d]) == 1:
            return [("pod", pa, pb)]
        if self.ocs:
            return [("ocs", self.job, pa, pb)]
        links, cur = [], pa
        while cur != pb:  # the long way round the pod's ring
            nxt = list(cur)
            nxt[d] = (cur[d] + step) % self.pod_shape[d]
            links.append(("pod", cur, tuple(nxt)))
            cur = tuple(nxt)
        return links
