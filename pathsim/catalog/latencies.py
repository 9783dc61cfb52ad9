"""The Pathways runtime's latencies: documented assumptions, not published figures, and never fitted to a result.

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
    # --- Pathways control plane (pathsim.engine.pathways); chosen before any comparison with the paper ---
    # CPU time one process spends to send or to receive one small RPC (serialize, syscall, completion
    # queue): the order of a gRPC small-message cost, tens of microseconds. It is what makes a single
    # controller's fan-out to H hosts cost O(H) per dispatched unit.
    rpc_cpu_s: float = 20e-6
    # Python-side cost of one JAX-style call (argument flattening, cache lookup, hand-off to C++): JAX
    # documents its per-call dispatch overhead as tens of microseconds. Paid by every multi-controller
    # host per call, and by the Pathways client per call.
    python_call_s: float = 30e-6
    # Device-side fixed cost of running one already-enqueued compiled program (launch, a scalar op):
    # a few microseconds, the order of an accelerator kernel launch.
    device_program_s: float = 5e-6
    # How far ahead of the devices a gang scheduler commits work: the Pathways paper (Barham et al., 2022)
    # says the scheduler implements policy "at a millisecond time scale".
    scheduler_lookahead_s: float = 1e-3


LATENCIES = RuntimeLatencies()  # the defaults; experiments of the Pathways runtime may override them
