"""A whole training run as a discrete-event simulation: work, checkpoints, Poisson failures, restarts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy


@dataclass(frozen=True)
class RunOutcome:
    wall_s: float
    failures: int


def simulate_run(useful_s: float, failures_per_s: float, interval_s: float, checkpoint_s: float,
                 restart_s: float, seed: int = 0) -> RunOutcome:
    """Train until `useful_s` of work is checkpointed. A failure during an interval (or its checkpoint)
    loses that interval's work and costs a restart; failures arrive as a Poisson process."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    state = {"failures": 0}

    def next_failure_in() -> float:
        return rng.exponential(1.0 / failures_per_s) if failures_per_s > 0 else float("inf")

    def training():
        committed = 0.0
        until_failure = next_failure_in()
        while committed < useful_s - min(1e-9, 1e-12 * useful_s):  # float residue, as the closed form
            chunk = min(interval_s, useful_s - committed)
            needed = chunk + checkpoint_s
            if until_failure >= needed:
                yield env.timeout(needed)
                until_failure -= needed
                committed += chunk
            else:
                yield env.timeout(until_failure)
                state["failures"] += 1
                yield env.timeout(restart_s)
                until_failure = next_failure_in()

    env.process(training())
    env.run()
    return RunOutcome(wall_s=env.now, failures=state["failures"])
