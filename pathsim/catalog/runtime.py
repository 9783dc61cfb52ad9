"""Runtime latencies: documented assumptions, not in reference/ and never fitted to a result.

They are the order of magnitude of a datacenter RPC and of host-side work to launch a compiled program;
`pathsim run` reports the dispatch time they produce, and experiments can override them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeLatencies:
    # One message between hosts over the DCN (client -> scheduler -> executor): a datacenter RPC.
    dcn_message_s: float = 100e-6
    # Host-side work to enqueue one compiled computation on the local devices.
    host_enqueue_s: float = 20e-6
    # Controller-side work per computation per island (allocation, scheduling, coordination).
    controller_work_s: float = 50e-6


RUNTIME = RuntimeLatencies()
