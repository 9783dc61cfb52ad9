"""Frozen inputs and outputs of the Pathways engine runs (no simpy here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pathsim.catalog.dispatch_modes import DispatchMode
from pathsim.catalog.latencies import RuntimeLatencies

Policy = Literal["fifo", "proportional"]


@dataclass(frozen=True)
class DispatchSpec:
    """The paper's micro-benchmark: `calls` client calls, each running `per_call` chained computations."""

    mode: DispatchMode
    hosts: int
    computation_s: float  # device time of one computation (all-reduce + add)
    calls: int
    chain_length: int  # computations per call in chained / fused modes
    latencies: RuntimeLatencies


@dataclass(frozen=True)
class DispatchResult:
    computations_per_s: float  # steady state, from the second half of the completions
    computations: int
    end_s: float
    scheduler_busy_s: float


@dataclass(frozen=True)
class ClientSpec:
    weight: float
    program_s: float  # device time of one program
    outstanding: int  # programs in flight before the client waits for a result
    hbm_bytes: float = 0.0  # per chip, held while a program is enqueued or running


@dataclass(frozen=True)
class TenancySpec:
    hosts: int
    hbm_bytes: float  # per chip
    clients: tuple[ClientSpec, ...]
    policy: Policy
    horizon_s: float
    warmup_s: float
    latencies: RuntimeLatencies


@dataclass(frozen=True)
class TenancyResult:
    programs_per_s: float  # aggregate, in the measurement window
    utilization: float  # device busy share in the window
    device_share: tuple[float, ...]  # per client, of the busy device time in the window
    programs: tuple[int, ...]  # per client, completed in the window
    hbm_stalled_s: float


@dataclass(frozen=True)
class DeadlockReport:
    computations: tuple[str, ...]  # the cycle: each waits for the next to leave a device
    devices: tuple[str, ...]  # devices whose queue head is in the cycle
    stuck_computations: int

    def describe(self) -> str:
        return (f"deadlock: {' -> '.join(self.computations)} (each waits for the next) on "
                f"{', '.join(self.devices)}; {self.stuck_computations} computations never ran")


@dataclass(frozen=True)
class DeadlockSpec:
    hosts: int
    clients: int
    computation_s: float
    gang_scheduler: bool
    latencies: RuntimeLatencies


@dataclass(frozen=True)
class DeadlockResult:
    completed: int
    total: int
    end_s: float
    report: DeadlockReport | None
