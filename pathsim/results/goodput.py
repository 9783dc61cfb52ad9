"""Failures over a training run: goodput (useful training time / wall time) and the time to train N tokens,
in closed form and by simulating the run (pathsim.engine.failures)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from pathsim.config.experiment import FailureConfig
from pathsim.errors import ConfigError
from pathsim.platform.topology import Cluster

# The simulated run takes one event per checkpoint interval and per failure; at about 10 us an event this
# bounds it near a second. Beyond, the closed form alone would be honest, but the run is refused instead.
MAX_RUN_EVENTS = 200_000


@dataclass(frozen=True)
class Goodput:
    failures_per_s: float
    mtbf_s: float
    useful_s: float  # failure-free training time for the requested tokens
    goodput: float  # closed form
    time_to_train_s: float  # closed form
    simulated_goodput: float
    simulated_time_to_train_s: float
    simulated_failures: int

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready: a run without failures has no MTBF (null), never an infinity."""
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


def failure_rate_per_s(cfg: FailureConfig, cluster: Cluster) -> float:
    """Independent chip and host failures: their rates add (any one stops the gang-scheduled job)."""
    return (cfg.chip_failures_per_hour * cluster.chips + cfg.host_failures_per_hour * cluster.hosts) / 3600.0


def expected_interval_s(rate_per_s: float, work_s: float, checkpoint_s: float, restart_s: float) -> float:
    """Expected wall time to commit `work_s` of training followed by a checkpoint, under Poisson failures
    that lose the uncommitted work: (e^(rate (work + checkpoint)) - 1) (1/rate + restart), the classic
    result for exponential failures with restart (restarts themselves do not fail)."""
    if rate_per_s == 0.0:
        return work_s + checkpoint_s
    return math.expm1(rate_per_s * (work_s + checkpoint_s)) * (1.0 / rate_per_s + restart_s)


def closed_form_time_to_train_s(useful_s: float, rate_per_s: float, interval_s: float, checkpoint_s: float,
                                restart_s: float) -> float:
    """Whole intervals, then the remainder, each ending with a checkpoint."""
    full, rest = divmod(useful_s, interval_s)
    total = full * expected_interval_s(rate_per_s, interval_s, checkpoint_s, restart_s)
    if rest > min(1e-9, 1e-12 * useful_s):  # float residue, but never the whole of a short run
        total += expected_interval_s(rate_per_s, rest, checkpoint_s, restart_s)
    return total


def goodput(cfg: FailureConfig, cluster: Cluster, tokens_per_s: float) -> Goodput:
    from pathsim.engine.failures import simulate_run

    rate = failure_rate_per_s(cfg, cluster)
    useful = cfg.train_tokens / tokens_per_s
    check_run_size(cfg, rate, useful)
    wall = closed_form_time_to_train_s(useful, rate, cfg.checkpoint_interval_s, cfg.checkpoint_write_s,
                                       cfg.restart_s)
    run = simulate_run(useful, rate, cfg.checkpoint_interval_s, cfg.checkpoint_write_s, cfg.restart_s, cfg.seed)
    return Goodput(failures_per_s=rate, mtbf_s=math.inf if rate == 0 else 1.0 / rate, useful_s=useful, goodput=useful / wall,
                   time_to_train_s=wall, simulated_goodput=useful / run.wall_s,
                   simulated_time_to_train_s=run.wall_s, simulated_failures=run.failures)


def check_run_size(cfg: FailureConfig, rate_per_s: float, useful_s: float) -> None:
    """Refuse a run whose simulation would not end: too many checkpoint intervals, or failures so frequent
    that an interval almost never completes (expected attempts per interval: e^(rate x interval))."""
    field = "scenario.failures"
    intervals = math.ceil(useful_s / cfg.checkpoint_interval_s)
    if intervals > MAX_RUN_EVENTS:
        raise ConfigError(f"{field}.checkpoint_interval_s", f"{cfg.checkpoint_interval_s:g} s over {useful_s:.3g} "
                          f"s of training is {intervals:.3g} intervals to simulate; the limit is {MAX_RUN_EVENTS}")
    exponent = rate_per_s * (cfg.checkpoint_interval_s + cfg.checkpoint_write_s)
    if exponent > math.log(MAX_RUN_EVENTS) or intervals * math.exp(exponent) > MAX_RUN_EVENTS:
        mtbf = 1.0 / rate_per_s
        raise ConfigError(field, f"a failure every {mtbf:.3g} s against intervals of "
                          f"{cfg.checkpoint_interval_s + cfg.checkpoint_write_s:.3g} s (with the checkpoint): about "
                          f"e^{exponent:.3g} attempts per interval, over {MAX_RUN_EVENTS} events to simulate; the "
                          "run would practically never finish (shorter intervals or lower failure rates)")
